"""The binary wheel: built by maturin, installed into a fresh virtual environment with no Rust
toolchain on the PATH, then `l2i migrate` and `l2i serve` from that environment against the test
Postgres and Redis, and a lead posted to it.

The wheel comes from `maturin build --release` (what `make wheel` runs; a no-op rebuild takes a
second when `make build` compiled the same profile). Its dependencies are installed offline from
`target/wheelhouse/`, filled once with `pip download` from the package index (the ordinary client)
and reused afterwards.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.support import free_port
from tests.support.stack import PEPPER, auth, fetch, lead, make_org

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WHEELHOUSE = ROOT / "target" / "wheelhouse"


def build_wheel() -> Path:
    out = ROOT / "target" / "wheels"
    subprocess.run(
        [str(BIN / "maturin"), "build", "--release", "--quiet", "--out", str(out)],
        cwd=ROOT,
        check=True,
        timeout=1800,
        env={**os.environ, "PYO3_PYTHON": sys.executable},
    )
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    wheels = sorted(out.glob(f"lead2inbound-*-{tag}-*.whl"), key=lambda p: p.stat().st_mtime)
    assert wheels, f"maturin built no {tag} wheel in {out}"
    return wheels[-1]


def requirements_of(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        lines = zf.read(meta).decode().splitlines()
    return [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("Requires-Dist:")]


def fill_wheelhouse(wheel: Path) -> None:
    reqs = [r for r in requirements_of(wheel) if "extra ==" not in r]
    marker = WHEELHOUSE / (".reqs-" + hashlib.sha256("\n".join(reqs).encode()).hexdigest()[:16])
    if marker.exists():
        return
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            str(BIN / "pip"),
            "download",
            "--quiet",
            "--only-binary=:all:",
            "--dest",
            str(WHEELHOUSE),
            *reqs,
        ],
        check=True,
        timeout=900,
    )
    marker.touch()


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
def wheel_venv(tmp_path_factory):
    wheel = build_wheel()
    fill_wheelhouse(wheel)
    venv = tmp_path_factory.mktemp("wheel") / "venv"
    path = no_rust_path()
    env = {"PATH": path, "HOME": str(venv.parent), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    assert shutil.which("cargo", path=path) is None and shutil.which("rustc", path=path) is None
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env, timeout=120)
    started = time.monotonic()
    subprocess.run(
        [
            str(venv / "bin" / "pip"),
            "install",
            "--quiet",
            "--no-index",
            "--find-links",
            str(WHEELHOUSE),
            str(wheel),
        ],
        check=True,
        env=env,
        timeout=600,
        cwd=venv.parent,
    )
    print(f"\nwheel: {wheel.name} installed in {time.monotonic() - started:.1f}s")
    return venv, env


def test_wheel_serves_without_a_rust_toolchain(wheel_venv, pg_server, redis_url, tmp_path):
    venv, base_env = wheel_venv
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
    # the installed package is the wheel's, not the source tree's
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import lead2inbound._core as c; print(c.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.strip()
    assert where.startswith(str(venv)), where
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
