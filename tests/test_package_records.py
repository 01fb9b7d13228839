"""The validation boundary's parsers on the shapes real packages use
(press.package, press.grammar): what they accept must stay accepted."""

from __future__ import annotations

import pytest

from press import grammar
from press.errors import InvalidInputError
from press.package import parse_core_metadata_name, parse_entry_points_txt, parse_index, parse_link


def test_core_metadata_name_with_windows_line_ends():
    # defaults' win-64 packages carry METADATA with CRLF line ends.
    assert parse_core_metadata_name(b"Metadata-Version: 2.1\r\nName: Brotli\r\nVersion: 1.0.9\r\n\r\nName: x", "p", "f") == "Brotli"
    assert parse_core_metadata_name(b"Metadata-Version: 2.1\nVersion: 1\n", "p", "f") is None


def test_entry_points_with_extras_and_spaces():
    # jinja2's entry_points.txt: [babel.extractors] jinja2 = jinja2.ext:babel_extract[i18n]
    points = parse_entry_points_txt("[babel.extractors]\njinja2 = jinja2.ext:babel_extract[i18n]\n"
                                    "[console_scripts]\nfoo=foo.cli : main\n", "p", "f")
    assert [(p.group, p.name, p.value) for p in points] == [
        ("babel.extractors", "jinja2", "jinja2.ext:babel_extract[i18n]"), ("console_scripts", "foo", "foo.cli : main")]


def test_link_json_entry_points():
    points = parse_link({"noarch": {"type": "python", "entry_points": ["pip3 = pip._internal.cli.main:main"]}}, "p")
    assert [(p.name, p.value) for p in points] == [("pip3", "pip._internal.cli.main:main")]


@pytest.mark.parametrize("doc,field", [
    ({"name": "Bad Name", "version": "1"}, "info/index.json: name"),
    ({"name": "ok", "version": "1-2"}, "info/index.json: version"),
    ({"name": "ok", "version": "1", "build": "py/../x"}, "info/index.json: build"),
    ({"name": "ok", "version": "1", "build_number": True}, "info/index.json: build_number"),
    ({"name": "ok", "version": "1", "noarch": "java"}, "info/index.json: noarch"),
    ({"name": "ok", "version": "1", "depends": ["python >=>3"]}, "info/index.json: depends"),
])
def test_index_fields_are_checked(doc, field):
    with pytest.raises(InvalidInputError) as caught:
        parse_index(doc, "pkg")
    assert caught.value.field == field and str(caught.value).startswith(("pkg: ", "ok: ", "ok-1-"))


def test_real_index_shape_is_accepted():
    identity = parse_index({"name": "libgcc", "version": "14.2.0", "build": "h77fa898_1", "build_number": 1,
                            "subdir": "linux-64", "depends": ["_libgcc_mutex 0.1 conda_forge", "_openmp_mutex >=4.5"],
                            "constrains": ["libgomp 14.2.0 h77fa898_1"], "license": "GPL-3.0-only WITH GCC-exception-3.1",
                            "timestamp": 1729027000000, "arch": "x86_64", "platform": "linux"}, "libgcc")
    assert identity.label == "libgcc-14.2.0-h77fa898_1" and identity.noarch is None


@pytest.mark.parametrize("path", ["a/../b", "/abs", "C:x", "a//b", "a/./b", "a\\b", "a\nb", "a\0b", "",
                                  "lib/x\u202egp.so", "a\u2066b"])
def test_relative_path_grammar_refuses(path):
    with pytest.raises(ValueError):
        grammar.relative_path(path)


def test_deeply_nested_upstream_marker_is_dropped_not_a_crash():
    from press.package import parse_core_metadata

    data = (b"Metadata-Version: 2.1\nName: x\nVersion: 1\nRequires-Dist: a; " + b"(" * 5000 + b'extra == "x"'
            + b")" * 5000 + b"\n\n")
    _, upstream = parse_core_metadata(data, "p", "f")
    assert upstream.requires_dist == () and upstream.dropped == ("requires_dist: a marker nested too deeply",)
