"""The binary wheel: one abi3 manylinux wheel (what `make wheel` builds), installed into a fresh
virtual environment of every CPython >= 3.11 found on the machine, with no Rust toolchain on the
PATH; then `l2i migrate` and `l2i serve` from each environment against the test Postgres and
Redis, and a lead posted to it.

CPythons are looked for as python3.11 ... python3.14 on the PATH, in /usr/bin and /usr/local/bin,
and in pyenv's versions folder; each distinct interpreter (by its real executable) gets a venv.
Each venv's dependencies are installed offline from `target/wheelhouse/cpXY/`, filled once by
that CPython's own pip (tools/wheelhouse.py) and reused afterwards. The test prints the wheel's
size, and per CPython the install time and the import times of the native core and of the CLI.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support import free_port
from tests.support.stack import PEPPER, auth, fetch, lead, make_org

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WHEEL_NAME = re.compile(r"lead2inbound-[^-]+-cp311-abi3-manylinux[0-9a-z_.]*_x86_64\.whl")
PROBE = (
    "import os, platform, sys; print(sys.implementation.name, platform.python_version(), "
    "os.path.realpath(sys.executable))"
)


def find_cpythons() -> list[tuple[str, str]]:
    """(version, executable) of every distinct CPython >= 3.11 here, oldest first."""
    candidates: list[str] = []
    for minor in range(11, 15):
        name = f"python3.{minor}"
        candidates += [shutil.which(name) or "", f"/usr/bin/{name}", f"/usr/local/bin/{name}"]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += [str(p) for p in sorted(pyenv.glob("3.*/bin/python3"))]
    found: dict[str, tuple[str, str]] = {}
    for exe in candidates:
        if not exe or not os.access(exe, os.X_OK):
            continue
        try:
            out = subprocess.run(
                [exe, "-c", PROBE], capture_output=True, text=True, timeout=30, check=True
            ).stdout.split()
        except (subprocess.SubprocessError, OSError):
            continue  # e.g. a pyenv shim for a version not selected
        impl, version, real = out
        if impl == "cpython" and tuple(map(int, version.split(".")[:2])) >= (3, 11):
            found.setdefault(real, (version, exe))
    return sorted(found.values(), key=lambda v: tuple(map(int, v[0].split("."))))


CPYTHONS = find_cpythons()


def no_rust_path() -> str:
    """The PATH minus every directory holding cargo or rustc (and minus the project venv)."""
    keep = []
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if not d or Path(d).resolve() == BIN.resolve():
            continue
        if (Path(d) / "cargo").exists() or (Path(d) / "rustc").exists():
            continue
        keep.append(d)
    return os.pathsep.join(keep)


@pytest.fixture(scope="module")
def wheel() -> Path:
    started = time.monotonic()
    subprocess.run(["make", "--no-print-directory", "wheel"], cwd=ROOT, check=True, timeout=1800)
    wheels = list((ROOT / "target" / "wheels").glob("lead2inbound-*.whl"))
    assert len(wheels) == 1, wheels
    built = wheels[0]
    assert WHEEL_NAME.fullmatch(built.name), built.name
    print(f"\nwheel: {built.name}, {built.stat().st_size / 1e6:.2f} MB "
          f"(make wheel: {time.monotonic() - started:.1f}s)")  # fmt: skip
    return built


def test_wheel_is_manylinux_for_the_stable_abi(wheel):
    """auditwheel (the PyPA's checker) agrees with the tag maturin gave."""
    auditwheel = shutil.which("auditwheel", path=str(BIN))
    if auditwheel is None:
        pytest.skip("auditwheel is not installed (the dev extras install it)")
    shown = subprocess.run(
        [auditwheel, "show", str(wheel)], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    text = " ".join(shown.split())
    assert 'consistent with the following platform tag: "manylinux_2_17_x86_64"' in text, shown
    versions = {tuple(map(int, v.split("."))) for v in re.findall(r"GLIBC_(\d+\.\d+)", text)}
    assert versions and max(versions) <= (2, 17), sorted(versions)


def test_cpythons_were_found():
    print("\nCPythons: " + ", ".join(f"{v} ({exe})" for v, exe in CPYTHONS))
    assert CPYTHONS and CPYTHONS[0][0].startswith("3.11"), CPYTHONS


def import_seconds(python: str, module: str, env: dict[str, str], cwd: Path) -> float:
    """Median over 5 fresh processes of the time `import module` takes (after interpreter
    start-up), in seconds."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    runs = [
        float(
            subprocess.run(
                [python, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=cwd
            ).stdout
        )
        for _ in range(5)
    ]
    return statistics.median(runs)


@pytest.mark.parametrize(
    ("version", "python"), CPYTHONS, ids=[f"cpython{v}-{i}" for i, (v, _) in enumerate(CPYTHONS)]
)
def test_wheel_serves_without_a_rust_toolchain(
    wheel, version, python, pg_server, redis_url, tmp_path
):
    venv = tmp_path / "venv"
    path = no_rust_path()
    base_env = {"PATH": path, "HOME": str(tmp_path), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    assert shutil.which("cargo", path=path) is None and shutil.which("rustc", path=path) is None
    subprocess.run([python, "-m", "venv", str(venv)], check=True, env=base_env, timeout=120)
    py = str(venv / "bin" / "python")
    wheelhouse = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "wheelhouse.py"), "--python", py, str(wheel)],
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    ).stdout.strip()
    started = time.monotonic()
    subprocess.run(
        [py, "-m", "pip", "install", "--quiet", "--no-index", "--find-links", wheelhouse, wheel],
        check=True,
        env=base_env,
        timeout=600,
        cwd=tmp_path,
    )
    installed = time.monotonic() - started
    url = pg_server.create_database()  # empty: the wheel's own `l2i migrate` builds the schema
    env = {
        **base_env,
        "L2I_DATABASE_URL": url,
        "L2I_REDIS_URL": redis_url,
        "L2I_KEY_PEPPER": PEPPER,
        "L2I_WORKERS": "1",
        "L2I_LOG_LEVEL": "info",
    }
    l2i = str(venv / "bin" / "l2i")
    # the installed package is the wheel's (abi3 .so), not the source tree's
    where = subprocess.run(
        [py, "-c", "import lead2inbound._core as c; print(c.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.strip()
    assert where.startswith(str(venv)) and where.endswith("_core.abi3.so"), where
    core_s = import_seconds(py, "lead2inbound._core", env, tmp_path)
    cli_s = import_seconds(py, "lead2inbound.cli", env, tmp_path)
    print(
        f"\nCPython {version}: installed in {installed:.1f}s; import lead2inbound._core "
        f"{core_s * 1000:.1f} ms, lead2inbound.cli {cli_s * 1000:.0f} ms (median of 5)"
    )
    migrated = subprocess.run(
        [l2i, "migrate"], env=env, capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert migrated.returncode == 0 and "applied 0001_init" in migrated.stderr, migrated.stderr
    key = make_org(url).key()
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [l2i, "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        resp = httpx.post(
            f"http://127.0.0.1:{port}/v1/leads", json=lead("5125559400"), headers=auth(key)
        )
        assert resp.status_code == 201, resp.text
        big = lead("5125559401", source="x" * 900_000)  # a body far past Granian's 64 KB buffer
        resp = httpx.post(
            f"http://127.0.0.1:{port}/v1/leads", json=big, headers=auth(key), timeout=30
        )
        assert resp.status_code == 422, resp.text  # reaches validation (source too long)
    finally:
        proc.terminate()
        proc.wait(30)
    assert proc.returncode == 0, log.read_text()[-2000:]
    assert fetch(url, "SELECT count(*) FROM leads") == [(1,)]
    pg_server.drop_database(url.rsplit("/", 1)[1])
