"""Resource limits on what one artifact or channel may make press do.

Every limit is data: a name, the environment variable that overrides it, a
default and what it bounds. :func:`limit` reads the value in force;
:func:`exceeded` builds the :class:`~press.errors.LimitError` that names
the limit and how to raise it. docs/safety.md lists them with their reasons.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import LimitError


@dataclass(frozen=True)
class Limit:
    """One bound: ``env`` overrides ``default`` (an integer count or byte
    size); ``what`` says what is counted, for messages."""

    env: str
    default: int
    what: str


#: name -> limit. Defaults are far above what real conda packages need (the
#: largest sample artifact has 5,000 members and a 1 MB paths.json) and low
#: enough that one conversion stays within 1 GB of memory.
LIMITS = {
    "unpacked_size": Limit("PRESS_MAX_UNPACKED_SIZE", 16 << 30,
                           "bytes unpacked from one artifact, links counted at their targets' size"),
    "download_size": Limit("PRESS_MAX_DOWNLOAD_SIZE", 8 << 30,
                           "bytes downloaded for one artifact whose record declares no size"),
    "members": Limit("PRESS_MAX_MEMBERS", 200_000, "archive members in one artifact"),
    "header_bytes": Limit("PRESS_MAX_HEADER_BYTES", 6 << 10,
                          "bytes of tar headers (PAX, GNU long names) before one archive member"),
    "metadata_size": Limit("PRESS_MAX_METADATA_SIZE", 32 << 20,
                           "bytes of one metadata file read into memory (info/*.json, recipe, dist-info)"),
    "text_size": Limit("PRESS_MAX_TEXT_SIZE", 1 << 20,
                       "bytes of a recipe YAML, entry_points.txt, core-metadata header block (slow parsers) or a "
                       ".pc file copied for pkg-config (before and after its rewrite)"),
    "shell_script_size": Limit("PRESS_MAX_SHELL_SCRIPT_SIZE", 256 << 10,
                               "bytes of one shell script parsed to rewrite its prefix placeholder (a larger "
                               "one is left as it is)"),
    "shell_scripts": Limit("PRESS_MAX_SHELL_SCRIPTS", 200,
                           "shell scripts of one wheel parsed to rewrite their prefix placeholder (the rest are left "
                           "as they are)"),
    "shell_parser_memory": Limit("PRESS_MAX_SHELL_PARSER_MEMORY", 256 << 20,
                                 "bytes of data memory (where setrlimit exists) the shell parser (shfmt) and "
                                 "sh -n may use on one script; an eighth of it bounds their output"),
    "entry_points": Limit("PRESS_MAX_ENTRY_POINTS", 20_000, "lines in one entry_points.txt"),
    "dist_infos": Limit("PRESS_MAX_DIST_INFOS", 1000, "*.dist-info/*.egg-info directories in one package"),
    "paths": Limit("PRESS_MAX_PATHS", 200_000, "entries in info/paths.json or info/files"),
    "binary_size": Limit("PRESS_MAX_BINARY_SIZE", 384 << 20,
                         "bytes in one ELF, Mach-O or PE file (LIEF holds a binary in memory about twice over)"),
    "link_hops": Limit("PRESS_MAX_LINK_HOPS", 40, "symlinks followed to resolve one path"),
    "yaml_aliases": Limit("PRESS_MAX_YAML_ALIASES", 100, "YAML aliases in one recipe or lock file"),
    # Lock files (press --file, press/lockfile.py): conda-lock.yml and pixi.lock
    # take 400 to 500 bytes per package and platform (tests/data/locks/).
    "lock_size": Limit("PRESS_MAX_LOCK_SIZE", 64 << 20, "bytes of one lock file (--file)"),
    "lock_entries": Limit("PRESS_MAX_LOCK_ENTRIES", 100_000, "package entries in one lock file (--file)"),
    "json_depth": Limit("PRESS_MAX_JSON_DEPTH", 32, "nesting depth of a metadata JSON document"),
    # Decompression (press/artifact.py): the sample's largest ratio is 31:1
    # (a 33 kB .tar.bz2 of JSON) and every sample artifact has one zstd frame
    # per component or one bzip2 stream.
    "expansion_ratio": Limit("PRESS_MAX_EXPANSION_RATIO", 1000,
                             "bytes unpacked per byte of the compressed artifact (expansion ratio; 1 MiB more "
                             "is allowed)"),
    "frames": Limit("PRESS_MAX_FRAMES", 10_000,
                    "zstd frames (skippable ones included) or bzip2 streams in one artifact"),
    "idle_input": Limit("PRESS_MAX_IDLE_INPUT", 16 << 20,
                        "compressed bytes read in a row without decompressed output"),
    "run_seconds": Limit("PRESS_MAX_RUN_SECONDS", 120,
                         "seconds one validation step that runs package code (an install, an import test, "
                         "loading the vendored libraries) may take"),
    "run_memory": Limit("PRESS_MAX_RUN_MEMORY", 8 << 30,
                        "bytes of data memory (RLIMIT_DATA) of each process of a validation step"),
    "run_disk": Limit("PRESS_MAX_RUN_DISK", 16 << 30,
                      "bytes of disk one validation step may fill on the file system of its scratch directory"),
    "wheel_member_size": Limit("PRESS_MAX_WHEEL_MEMBER_SIZE", 4 << 30,
                               "bytes one member of a wheel read back inflates to"),
    "compression_ratio": Limit("PRESS_MAX_COMPRESSION_RATIO", 200,
                               "times its compressed size one wheel member over 1 MiB inflates to"),
    "sbom_size": Limit("PRESS_MAX_SBOM_SIZE", 32 << 20, "bytes of the SBOM of a wheel read back"),
    "json_containers": Limit("PRESS_MAX_JSON_CONTAINERS", 1_000_000,
                             "objects and arrays in one JSON document read from a wheel"),
    # packaging's parse_email looks up every distinct header name among all
    # header fields (quadratic: 30,000 distinct names took 72 s); real METADATA
    # has at most a few hundred fields under about 20 names.
    "metadata_fields": Limit("PRESS_MAX_METADATA_FIELDS", 50_000,
                             "header fields in one core-metadata file (METADATA, PKG-INFO)"),
    "metadata_field_names": Limit("PRESS_MAX_METADATA_FIELD_NAMES", 100,
                                  "distinct header field names in one core-metadata file"),
}


def limit(name: str) -> int:
    """The value in force for limit ``name``: its environment variable when
    set to a non-negative integer, else the default. Raises ``KeyError`` for
    an unknown name."""
    spec = LIMITS[name]
    value = os.environ.get(spec.env, "").strip()
    return int(value) if value.isdigit() else spec.default


def exceeded(name: str, *, package: str | None, field: str | None = None, found: str = "") -> LimitError:
    """The error for input beyond limit ``name``: ``more than N <what>``
    (plus ``found`` when given), naming the variable that raises it."""
    spec = LIMITS[name]
    detail = f" ({found})" if found else ""
    return LimitError(f"more than {limit(name)} {spec.what}{detail}; press's limit, set {spec.env} to raise it",
                      package=package, field=field)
