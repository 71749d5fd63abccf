"""The README's configuration table lists every setting the service reads."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from lead2inbound.ops.config import Config

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_setting_is_in_the_readme_table():
    missing = [
        f"L2I_{f.name.upper()}"
        for f in dataclasses.fields(Config)
        if f"`L2I_{f.name.upper()}`" not in README
    ]
    assert missing == [], f"document these in the README's configuration table: {missing}"
