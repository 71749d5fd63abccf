"""Fake TCPA Litigator List API (reference §1, §5): HTTP Basic auth; `POST /scrub/phone/`
(form: `phone_number`, `type` as a JSON array string) and `GET /scrub/phone/{type}/{phone}`;
answers in the vendor's shapes (§1.6 a/b); 401 `rest_forbidden` for bad credentials."""

from __future__ import annotations

import base64
import json

from .base import FakeProvider, Request

USERNAME = "tcpa_AbCdE12345"
PASSWORD = "Qw3r Ty12 Ab34 Cd56 Ef78 Gh90"  # the documented shape: six groups of four


class TcpaFake(FakeProvider):
    def __init__(self, port: int | None = None, *, legacy_clean: bool = False):
        super().__init__(port)
        # phone (10 digits) -> the lists it is on: "tcpa", "dnc_complainers", "dnc_state", ...
        self.lists: dict[str, list[str]] = {}
        self.legacy_clean = legacy_clean

    def _authorized(self, req: Request) -> bool:
        header = req.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return (user, password) == (USERNAME, PASSWORD)

    def answer(self, req: Request) -> tuple[int, str, str]:
        if not self._authorized(req):
            body = {
                "code": "rest_forbidden",
                "message": "Sorry, you are not allowed to do that.",
                "data": {"status": 401},
            }
            return 401, "application/json", json.dumps(body)
        if req.method == "POST" and req.path == "/scrub/phone/":
            phone = req.form.get("phone_number", "")
            try:
                types = json.loads(req.form.get("type", '["tcpa"]'))
            except ValueError:
                types = [req.form.get("type", "tcpa")]
        elif req.method == "GET" and req.path.startswith("/scrub/phone/"):
            parts = req.path.strip("/").split("/")
            if len(parts) < 4:
                return 404, "application/json", json.dumps({"error": "Not found"})
            types, phone = [parts[2]], parts[3]
        else:
            return 404, "application/json", json.dumps({"error": "Not found"})
        if not (phone.isdigit() and len(phone) == 10):
            return 400, "application/json", json.dumps({"error": "Invalid phone number"})
        types = types if isinstance(types, list) else [types]
        matched = [
            name
            for name in self.lists.get(phone, [])
            if "all" in types or name in types or (name.startswith("dnc") and "dnc" in types)
        ]
        if not matched:
            if self.legacy_clean:
                body = {"clean": {phone: {"phone_number": phone}}}
                return 200, "application/json", json.dumps(body)
            body = {"results": {"phone_number": phone, "clean": 1}}
            return 200, "application/json", json.dumps(body)
        status = "TCPA" if "tcpa" in matched else "DNC Complainers"
        body = {
            "results": {
                "first_name": "",
                "middle_name": "",
                "last_name": "",
                "case_title": "",
                "multiple_cases": "",
                "phone_type": "",
                "status_array": matched,
                "phone_status": "",
                "clean": 0,
                "is_bad_number": True,
                "phone_number": phone,
                "created_at": "",
                "updated_at": "",
                "status": status,
            }
        }
        return 200, "application/json", json.dumps(body)
