"""The committed phone metadata must equal a fresh generation from the installed oracle."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import phonenumbers

from lead2inbound import _core

ROOT = Path(__file__).resolve().parent.parent


def test_phone_meta_is_fresh() -> None:
    """A `phonenumbers` bump that changes metadata fails here: run `make phone-meta`."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_phone_metadata.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_generated_from_pinned_oracle() -> None:
    meta = (ROOT / "rust-core" / "src" / "phone_meta.rs").read_text(encoding="utf-8")
    assert f'PHONENUMBERS_VERSION: &str = "{phonenumbers.__version__}"' in meta
    assert _core.normalize("+1 650 253 0000").e164 == "+16502530000"
