"""Check that a change leaves press's output byte-identical: convert the same
inputs with a git ref of press and with this working tree, and compare every
wheel byte for byte.

Run: python bench/compare_output.py [--ref HEAD] [--channel ../shared/channels/conda-forge]

Inputs: every linux-64 and noarch artifact of the channel converted thin for
CPython 3.12 (one wheel each), plus fat libmambapy, cffi and zstandard (the
wheels that vendor, relocate and rewrite the most). The ref is checked out
with ``git worktree`` into a temporary directory and run with the same
interpreter (``PYTHONPATH`` points at it); both runs use one warm cache.
Prints the number of wheels compared and each one that differs; exits 1 when
any differs or exists on one side only.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOTFIX = ROOT / "tests" / "data" / "conda-forge-hotfix-libzlib.json"


def convert(source: Path, channel: Path, out: Path, cache: Path) -> None:
    """Run ``python -m press`` from ``source`` (a press checkout) into ``out``."""
    env = dict(os.environ, PYTHONPATH=str(source))
    common = ["--subdir", "linux-64", "--python", "3.12", "--no-validate", "-q", "--cache-dir", str(cache),
              "--repodata-patch", str(HOTFIX)]
    artifacts = sorted(str(p) for sub in ("linux-64", "noarch") for p in (channel / sub).iterdir()
                       if p.name.endswith((".conda", ".tar.bz2")))
    # cwd outside any checkout: `python -m` puts the working directory before PYTHONPATH on sys.path,
    # so run from the repository it would import this tree's press for the ref too.
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "press", *common, "-w", str(out / "thin"), *artifacts], check=True,
                   env=env, stdout=subprocess.DEVNULL, cwd=out)
    subprocess.run([sys.executable, "-m", "press", *common, "-c", str(channel), "--fatten", "-w", str(out / "fat"),
                    "libmambapy", "cffi", "zstandard"], check=True, env=env, stdout=subprocess.DEVNULL, cwd=out)


def digests(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*.whl"))}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ref", default="HEAD", help="git ref to compare with (default: HEAD, the last commit)")
    parser.add_argument("--channel", type=Path, default=(ROOT / ".." / "shared" / "channels" / "conda-forge").resolve())
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="press-compare-") as tmp:
        work = Path(tmp)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(work / "ref"), args.ref],
                       check=True)
        try:
            cache = work / "cache"
            convert(work / "ref", args.channel, work / "before", cache)
            convert(ROOT, args.channel, work / "after", cache)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(work / "ref")], check=False)
        before, after = digests(work / "before"), digests(work / "after")
    differ = sorted(n for n in set(before) | set(after) if before.get(n) != after.get(n))
    print(f"{len(after)} wheels compared against {args.ref}: {len(differ)} differ")
    for name in differ:
        side = "only before" if name not in after else "only after" if name not in before else "bytes differ"
        print(f"  {name}: {side}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
