"""Fake DNC.com scrub API (reference §2, §5): `loginId` header (also query/form);
`GET`/`POST /app/main/rpc/scrub` with `phoneList` (`|ID` echoed into `Reserved`), `version=5`,
`output=json|csv`; the 17-field string objects of §2.3; more than 10 numbers on GET or 10,000 on
POST, or a malformed number: 400 (all or nothing); a bad loginId: 401."""

from __future__ import annotations

import json

from .base import FakeProvider, Request

LOGIN_ID = "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0U1v2"  # 44 characters, as Genesys says

FIELDS = (
    "Phone",
    "ResultCode",
    "Reserved",
    "Reason",
    "RegionAbbrev",
    "Country",
    "Locale",
    "CarrierInfo",
    "NewReassignedAreaCode",
    "TZCode",
    "CallingWindow",
    "UTCOffset",
    "DoNotCallToday",
    "CallingTimeRestrictions",
    "EBRType",
    "IsWirelessOrVoIP",
    "LineType",
)


class DncScrubFake(FakeProvider):
    def __init__(self, port: int | None = None):
        super().__init__(port)
        # phone -> (ResultCode, Reason); anything else is C (clean)
        self.codes: dict[str, tuple[str, str]] = {}

    def _entry(self, phone: str, reserved: str) -> dict[str, str]:
        code, reason = self.codes.get(phone, ("C", ";;;"))
        wireless = code in "WGHLFVY"
        return {
            "Phone": phone,
            "ResultCode": code,
            "Reserved": reserved,
            "Reason": reason,
            "RegionAbbrev": "TX",
            "Country": "US",
            "Locale": "Austin",
            "CarrierInfo": '9740;RBOC;"AT&T Texas:AT&T Texas"',
            "NewReassignedAreaCode": "",
            "TZCode": "5",
            "CallingWindow": "" if code == "D" else "9:00-21:00;9:00-21:00;12:00-21:00",
            "UTCOffset": "-300",
            "DoNotCallToday": "0",
            "CallingTimeRestrictions": "4",
            "EBRType": "",
            "IsWirelessOrVoIP": "1" if wireless else "0",
            "LineType": "Wireless" if wireless else "AllOther",
        }

    def answer(self, req: Request) -> tuple[int, str, str]:
        if req.path.rstrip("/") != "/app/main/rpc/scrub":
            return 404, "text/plain", "Not Found"
        params = dict(req.query)
        if req.method == "POST":
            if req.headers.get("Content-Type", "").startswith("application/json"):
                params.update({k: str(v) for k, v in json.loads(req.body or b"{}").items()})
            else:
                params.update(req.form)
        login = req.headers.get("loginId") or params.get("loginId")
        if login != LOGIN_ID:
            return 401, "text/plain", "Unauthorized: invalid loginId"
        items = [p for p in params.get("phoneList", "").split(",") if p]
        limit = 10 if req.method == "GET" else 10_000
        if not items or len(items) > limit:
            return 400, "text/plain", f"phoneList must hold 1 to {limit} numbers"
        entries = []
        for item in items:
            phone, _, reserved = item.partition("|")
            if not (phone.isdigit() and len(phone) == 10) and params.get("ignoreInvalid") != "1":
                return 400, "text/plain", f"Malformed phone number: {phone}"
            entries.append(self._entry(phone, reserved))
        if params.get("output", "csv").lower() == "csv":
            lines = [
                ",".join(f'"{e[f]}"' if "," in e[f] else e[f] for f in FIELDS) for e in entries
            ]
            return 200, "text/csv", "\n".join(lines)
        return 200, "application/json", json.dumps(entries)
