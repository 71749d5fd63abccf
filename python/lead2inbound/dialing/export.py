"""Leads as export files: CSV whose header the CSV import reads back, or NDJSON.

The CSV holds the poster's fields under the names `POST /v1/leads/import` maps (intake/
csvimport.py): top-level fields, the consent and attribution fields by their bare names,
`sellers` joined with `;`, and one `custom_fields__<name>` column per custom field name found
in the exported leads. The phone column is the phone as posted (the import normalizes it the
same way, extension included). So an export imports into another org as is. The service's own
fields (ids, status, checks, dates) are in the NDJSON export, one stored lead per line, as
`GET /v1/leads/{id}` shows it.

Both are produced a chunk of rows at a time from a server-side cursor: memory stays constant
whatever the number of leads.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec

from lead2inbound.contract.schemas import Attribution, Consent
from lead2inbound.dialing.leads import lead_json

TOP = (
    "source", "external_id", "first_name", "last_name", "email", "state", "postal_code",
    "city", "address",
)  # fmt: skip
CONSENT_FIELDS = tuple(f.encode_name for f in msgspec.structs.fields(Consent))
ATTRIBUTION_FIELDS = tuple(f.encode_name for f in msgspec.structs.fields(Attribution))
CUSTOM_PREFIX = "custom_fields__"
_encode = msgspec.json.Encoder().encode


def csv_header(custom_names: Iterable[str]) -> list[str]:
    return [
        "phone",
        *TOP,
        *CONSENT_FIELDS,
        *ATTRIBUTION_FIELDS,
        *(CUSTOM_PREFIX + name for name in custom_names),
    ]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value)


def csv_row(row: dict[str, Any], custom_names: list[str]) -> list[str]:
    consent = row.get("consent") or {}
    attribution = row.get("attribution") or {}
    custom = row.get("custom_fields") or {}
    return [
        row.get("phone_raw") or row.get("phone") or "",
        *(_cell(row.get(name)) for name in TOP),
        *(_cell(consent.get(name)) for name in CONSENT_FIELDS),
        *(_cell(attribution.get(name)) for name in ATTRIBUTION_FIELDS),
        *(_cell(custom.get(name)) for name in custom_names),
    ]


class CsvChunks:
    """CSV text a chunk at a time (the header first)."""

    def __init__(self, custom_names: list[str]):
        self.custom_names = custom_names
        self._buf = io.StringIO()
        self._writer = csv.writer(self._buf, lineterminator="\r\n")

    def _take(self) -> bytes:
        out = self._buf.getvalue().encode("utf-8")
        self._buf.seek(0)
        self._buf.truncate()
        return out

    def header(self) -> bytes:
        self._writer.writerow(csv_header(self.custom_names))
        return self._take()

    def rows(self, rows: list[dict[str, Any]]) -> bytes:
        self._writer.writerows(csv_row(r, self.custom_names) for r in rows)
        return self._take()


def ndjson_rows(rows: list[dict[str, Any]], now: datetime, enforce: bool) -> bytes:
    return b"".join(_encode(lead_json(r, now, enforce)) + b"\n" for r in rows)
