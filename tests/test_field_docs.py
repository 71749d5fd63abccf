"""docs/fields.md is generated from the schema; the committed page must be current."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_field_reference_is_current():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import gen_field_docs
    finally:
        sys.path.pop(0)
    assert gen_field_docs.OUT.read_text() == gen_field_docs.render(), (
        "docs/fields.md is stale: run .venv/bin/python tools/gen_field_docs.py"
    )
