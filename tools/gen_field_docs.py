"""Write docs/fields.md from the live schema (the msgspec Structs that validate requests).

.venv/bin/python tools/gen_field_docs.py          # rewrite docs/fields.md
.venv/bin/python tools/gen_field_docs.py --check  # exit 1 when the committed page is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lead2inbound.web.resources.guide import field_reference as render

OUT = Path(__file__).resolve().parent.parent / "docs" / "fields.md"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    text = render()
    if args.check:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is stale: run tools/gen_field_docs.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
