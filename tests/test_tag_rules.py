"""The rules by which press's platform tag may differ from auditwheel's
(docs/metadata.md, Tags), each proved at run time in a real venv: what the
dynamic loader does when the system's copy of a library was loaded first."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CONDA_FORGE, HOTFIX, make_venv, run_in, run_press, uv_install

SYSTEM_LIBSTDCXX = Path("/usr/lib/x86_64-linux-gnu/libstdc++.so.6")
CF = ["-c", str(CONDA_FORGE), "--subdir", "linux-64", "--python", "3.12", "--no-validate", "-q"]

pytestmark = pytest.mark.skipif(not SYSTEM_LIBSTDCXX.is_file() or sys.platform != "linux",
                                reason="needs a glibc x86_64 system with its own libstdc++")


def _show(wheel: Path, cache: Path) -> dict:
    return json.loads(run_press("show", "--json", str(wheel), cache=cache, check=True).stdout)["wheels"][0]


def _load(library: str) -> str:
    """Code loading ``library`` the system's way (ctypes, RTLD_LOCAL as Python loads extensions)."""
    return f"import ctypes; ctypes.CDLL({library!r})"


def _auditwheel(wheel: Path) -> str:
    """auditwheel show's tag for ``wheel`` (the real tool)."""
    out = subprocess.run([sys.executable, "-m", "auditwheel", "show", str(wheel)], capture_output=True, text=True).stdout
    return out.split('"')[1]


#: Run in the venv: ``first`` (e.g. :func:`_load`), then ``then``; print the libstdc++/libffi files
#: mapped into the process.
def _thin_2_17(out: Path, spec: str, pattern: str, cache_dir: Path) -> tuple[Path, dict]:
    """Convert ``spec`` thin into ``out``; its wheel (``pattern``) and show's view of it,
    which must hold with no problem and say manylinux_2_17."""
    run_press(*CF, "-w", str(out), spec, cache=cache_dir, check=True)
    (wheel,) = out.glob(pattern)
    view = _show(wheel, cache_dir)
    assert view["platform_tag"]["ok"] and not view["problems"], view["problems"]
    assert view["tags"][-1].endswith("manylinux_2_17_x86_64")
    return wheel, view


PROBE = """
{first}
{then}
maps = {{l.split()[-1] for l in open('/proc/self/maps') if 'libstdc++' in l or 'libffi' in l}}
print(sorted(maps))
"""


@pytest.mark.slow
def test_vendored_runtime_serves_its_versions_after_the_system_copy(tmp_path, cache_dir, py312):
    """vendored-own-name: fat libmambapy vendors conda-forge's libstdc++ under a hashed name and
    needs GLIBCXX_3.4.30 from it; auditwheel says manylinux_2_35, press 2_17. With the system's
    libstdc++ loaded first, the extension still imports, both copies are mapped, and the new
    versions bind to the vendored copy (LD_DEBUG=bindings)."""
    out = tmp_path / "w"
    run_press(*CF, "--fatten", "--repodata-patch", str(HOTFIX), "-w", str(out), "libmambapy", cache=cache_dir,
              check=True)
    (wheel,) = out.glob("libmambapy-*.whl")
    view = _show(wheel, cache_dir)
    assert view["platform_tag"]["ok"] and not view["problems"]
    aw = view["auditwheel"]
    assert aw["tag"] == _auditwheel(wheel) == "manylinux_2_35_x86_64" and aw["safe"] and not aw["agrees"]
    assert aw["reasons"][0].startswith("vendored-own-name: ") and "libstdc++-" in aw["reasons"][0]
    python = make_venv(py312, tmp_path / "venv")
    uv_install(python, "--find-links", str(out), "libmambapy")
    log = tmp_path / "ld"
    code = PROBE.format(first=_load(str(SYSTEM_LIBSTDCXX)), then="import libmambapy; libmambapy.Context()")
    result = subprocess.run([str(python), "-c", code], capture_output=True, text=True, cwd=tmp_path,
                            env={"LD_DEBUG": "bindings", "LD_DEBUG_OUTPUT": str(log), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    mapped = eval(result.stdout.strip().splitlines()[-1])
    assert str(SYSTEM_LIBSTDCXX.resolve()) in mapped or str(SYSTEM_LIBSTDCXX) in mapped
    assert any("libmambapy.libs/" in m and "/libstdc++-" in m for m in mapped), mapped
    bindings = "".join(p.read_text(errors="replace") for p in tmp_path.glob("ld.*"))
    new = [line for line in bindings.splitlines() if "[GLIBCXX_3.4.30]" in line and "libmamba" in line.split(" to ")[0]]
    assert new and all("libmambapy.libs/lib/libstdc++-" in line.split(" to ")[1] for line in new), new[:3]


@pytest.mark.slow
def test_thin_runtime_goes_by_its_own_name_after_the_system_copy(tmp_path, cache_dir, py312):
    """Why a thin wheel need not count the C++ runtime's symbol versions: the
    conda-forge-libstdcxx wheel ships libstdc++ under a name of its own
    (press.relocate.common.thin_own_name), which fmt loads. With the system's
    libstdc++.so.6 loaded first in the same process, loading fmt still maps the
    wheel's copy (a same-SONAME copy would have been reused instead), so press
    tags fmt by glibc alone (manylinux_2_17) where auditwheel, checking the wheel
    alone, takes the runtime for a system library; show says why that is safe."""
    out = tmp_path / "w"
    wheel, view = _thin_2_17(out, "fmt", "conda_forge_fmt-*.whl", cache_dir)
    assert view["auditwheel"]["safe"] and not view["auditwheel"]["agrees"], view["auditwheel"]
    (libfmt,) = [b for b in view["dependencies"] if b.endswith("/libfmt.so.11")]  # not one a process holds
    (runtime,) = [n for n in view["dependencies"][libfmt] if n.startswith("libstdc++")]
    assert runtime != "libstdc++.so.6" and view["dependencies"][libfmt][runtime].startswith("conda-forge-libstdcxx: ")
    python = make_venv(py312, tmp_path / "venv")
    uv_install(python, "--find-links", str(out), "conda-forge-fmt")
    site = run_in(python, "import sysconfig; print(sysconfig.get_paths()['platlib'])", tmp_path).strip()
    load = f"ctypes.CDLL({str(Path(site) / libfmt)!r})"
    alone = eval(run_in(python, PROBE.format(first=_load("libc.so.6"), then=load), tmp_path).strip())
    assert any("conda_forge_libstdcxx.libs" in m for m in alone)  # on its own, the wheel's copy is used
    after = eval(run_in(python, PROBE.format(first=_load(str(SYSTEM_LIBSTDCXX)), then=load), tmp_path).strip())
    assert any("conda_forge_libstdcxx.libs" in m for m in after), after  # and after the system's: both are mapped
    assert any(m.startswith("/usr/lib") for m in after), after


@pytest.mark.slow
def test_dependency_wheel_library_loads_after_the_system_copy(tmp_path, cache_dir, py312):
    """dependency-wheel: thin cffi loads libffi from the conda-forge-libffi wheel it requires,
    under the name of its own that wheel gives it; auditwheel, checking the wheel alone, says
    linux_x86_64. Installed from the wheel directory, cffi works with and without the system's
    libffi loaded first (CPython's _ctypes loads it), and uses the wheel's copy both times;
    show names the wheel that serves the library, confirmed beside it."""
    out = tmp_path / "w"
    wheel, view = _thin_2_17(out, "cffi", "cffi-*.whl", cache_dir)
    aw = view["auditwheel"]
    assert aw["tag"] == _auditwheel(wheel) == "linux_x86_64" and aw["safe"] and not aw["agrees"]
    assert aw["reasons"][0].startswith("dependency-wheel: ") and "not confirmed" not in aw["reasons"][0]
    extension = "_cffi_backend.cpython-312-x86_64-linux-gnu.so"
    (libffi,) = [n for n in view["dependencies"][extension] if n.startswith("libffi")]
    assert re.fullmatch(r"libffi-[0-9a-f]{8}\.so\.8", libffi), libffi
    assert view["dependencies"][extension][libffi] == f"conda-forge-libffi: conda_forge_libffi.libs/lib/{libffi}"
    rule = view["rules"][extension][libffi]
    assert "requires directly" in rule and f"{libffi} is in conda_forge_libffi-" in rule
    python = make_venv(py312, tmp_path / "venv")
    uv_install(python, "--find-links", str(out), "cffi")
    use = ("import cffi; ffi = cffi.FFI(); f = ffi.callback('int(int)', lambda x: x + 1); assert f(41) == 42")
    alone = eval(run_in(python, PROBE.format(first="", then=use), tmp_path).strip())
    assert any("conda_forge_libffi.libs" in m for m in alone), alone
    if Path("/usr/lib/x86_64-linux-gnu/libffi.so.8").is_file():  # CPython's _ctypes loads it
        after = eval(run_in(python, PROBE.format(first="import ctypes", then=use), tmp_path).strip())
        assert any("conda_forge_libffi.libs" in m for m in after), after  # its own name: not replaced
