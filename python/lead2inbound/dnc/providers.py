"""DNC provider adapters: one interface, one adapter per provider (docs/dnc.md).

An adapter answers `scrub(e164) -> ScrubResult` with `clear`, `dnc_hit` or `litigator_hit` and
the provider's raw answer, or raises `ProviderUnavailable` (network error, timeout, an HTTP error,
an answer it does not understand). It never guesses: anything unexpected is "unavailable", and the
gate fails closed on that.

HTTP client: `httpx.AsyncClient` (async, connection pooling per adapter, per-request timeouts,
well kept; already what the tests speak HTTP with, so no second client library in the tree).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx

Outcome = Literal["clear", "dnc_hit", "litigator_hit"]
PROVIDERS = ("tcpa-litigator-list", "dncscrub", "registry")
RAW_LIMIT = 16_384  # evidence is capped; a provider's answer for one number is far smaller


class ProviderUnavailable(Exception):
    """The provider gave no usable answer; the lead waits for a re-scrub."""

    def __init__(self, detail: str, raw: str = ""):
        super().__init__(detail)
        self.detail = detail
        self.raw = raw[:RAW_LIMIT]


@dataclass(frozen=True, slots=True)
class ScrubResult:
    outcome: Outcome
    raw: str
    checked_at: datetime
    provider: str

    def evidence(self) -> str:
        return json.dumps(
            {
                "provider": self.provider,
                "outcome": self.outcome,
                "checked_at": self.checked_at.isoformat(),
                "raw": self.raw[:RAW_LIMIT],
            }
        )


class DncProvider(Protocol):
    name: str

    async def scrub(self, e164: str) -> ScrubResult: ...

    async def aclose(self) -> None: ...


def nanp_national(e164: str) -> str | None:
    """The 10-digit NANP number of `+1NXXNXXXXXX`; None for any other country."""
    if e164.startswith("+1") and len(e164) == 12 and e164[2:].isdigit():
        return e164[2:]
    return None


def _now() -> datetime:
    return datetime.now(UTC)


def _outside_nanp(name: str, e164: str) -> ScrubResult:
    # US DNC lists and litigator lists only hold NANP numbers: anything else is on none of them.
    return ScrubResult(
        "clear", json.dumps({"not_scrubbed": "outside NANP", "phone": e164}), _now(), name
    )


class _HttpProvider:
    name = ""

    def __init__(self, client: httpx.AsyncClient):
        self._client = client

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            resp = await self._client.send(request)
        except httpx.TimeoutException:
            raise ProviderUnavailable("timeout") from None
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"{type(exc).__name__}") from None
        if resp.status_code != 200:
            raise ProviderUnavailable(f"HTTP {resp.status_code}", resp.text)
        return resp


# --- TCPA Litigator List ----------------------------------------------------------------------

_LITIGATOR_MARKS = ("tcpa", "troll", "litigat")


def tcpa_outcome(body: Any, phone: str) -> Outcome:
    """Map a `/scrub/phone/` answer (reference §1.6) to an outcome, or raise."""
    if not isinstance(body, dict):
        raise ProviderUnavailable("unexpected answer: not a JSON object")
    if "error" in body or body.get("status") == "error" or "code" in body:
        raise ProviderUnavailable(f"provider error: {body.get('error') or body.get('code')!s}")
    results = body.get("results")
    if isinstance(results, dict):
        clean = _flag(results.get("clean"))
        if clean is True:
            return "clear"
        if clean is False:
            return _tcpa_hit(results.get("status_array"), results.get("status"))
        raise ProviderUnavailable("unexpected answer: results.clean is neither 1 nor 0")
    match = body.get("match")
    if isinstance(match, dict) and phone in match:
        entry = match[phone] if isinstance(match[phone], dict) else {}
        return _tcpa_hit(entry.get("status_array"), entry.get("status") or entry.get("type"))
    clean_map = body.get("clean")
    if isinstance(clean_map, dict) and phone in clean_map:
        return "clear"
    raise ProviderUnavailable("unexpected answer: no results, match or clean entry")


def _flag(value: Any) -> bool | None:
    if value in (1, "1", True, "true"):
        return True
    if value in (0, "0", False, "false"):
        return False
    return None


def _tcpa_hit(statuses: Any, status: Any) -> Outcome:
    marks = [str(s).lower() for s in statuses] if isinstance(statuses, list) else []
    if isinstance(status, str):
        marks.append(status.lower())
    if any(m in s for s in marks for m in _LITIGATOR_MARKS):
        return "litigator_hit"
    return "dnc_hit"  # a match on any DNC list (complainers, state, federal, or unnamed)


class TcpaLitigatorList(_HttpProvider):
    name = "tcpa-litigator-list"
    default_url = "https://api.tcpalitigatorlist.com"

    def __init__(
        self,
        *,
        username: str,
        password: str,
        base_url: str | None,
        timeout_s: float,
        types: list[str] | None = None,
    ):
        super().__init__(
            httpx.AsyncClient(
                base_url=base_url or self.default_url,
                auth=httpx.BasicAuth(username, password),
                timeout=timeout_s,
            )
        )
        self._types = json.dumps(types or ["tcpa", "dnc"])

    async def scrub(self, e164: str) -> ScrubResult:
        phone = nanp_national(e164)
        if phone is None:
            return _outside_nanp(self.name, e164)
        request = self._client.build_request(
            "POST", "/scrub/phone/", data={"phone_number": phone, "type": self._types}
        )
        resp = await self._send(request)
        try:
            body = resp.json()
        except ValueError:
            raise ProviderUnavailable("unexpected answer: not JSON", resp.text) from None
        try:
            outcome = tcpa_outcome(body, phone)
        except ProviderUnavailable as exc:
            raise ProviderUnavailable(exc.detail, resp.text) from None
        return ScrubResult(outcome, resp.text, _now(), self.name)


# --- DNC.com (DNCScrub) -----------------------------------------------------------------------

# ResultCode letters (reference §2.4). Codes not listed (M "malformed", anything new) are not
# understood: the scrub is "unavailable" and the lead waits rather than be dialed on a guess.
DNCSCRUB_CLEAR = frozenset("CXWGHEOYRIST")
DNCSCRUB_BLOCKED = frozenset("DPBLFV")


def dncscrub_outcome(body: Any, phone: str) -> Outcome:
    if not isinstance(body, list):
        raise ProviderUnavailable("unexpected answer: not a JSON array")
    entries = [e for e in body if isinstance(e, dict) and str(e.get("Phone", "")) == phone]
    if len(entries) != 1:
        raise ProviderUnavailable("unexpected answer: no single entry for the number")
    entry = entries[0]
    code = str(entry.get("ResultCode", "")).strip().upper()
    reason = str(entry.get("Reason", "")).lower()
    if code in DNCSCRUB_BLOCKED:
        return "litigator_hit" if "litigator" in reason else "dnc_hit"
    if code in DNCSCRUB_CLEAR:
        return "clear"
    raise ProviderUnavailable(f"unexpected answer: ResultCode {code!r}")


class DncScrub(_HttpProvider):
    name = "dncscrub"
    default_url = "https://www.dncscrub.com"

    def __init__(
        self,
        *,
        login_id: str,
        base_url: str | None,
        timeout_s: float,
        project_id: str | None = None,
        campaign_id: str | None = None,
    ):
        super().__init__(
            httpx.AsyncClient(
                base_url=base_url or self.default_url,
                headers={"loginId": login_id},
                timeout=timeout_s,
            )
        )
        self._extra = {k: v for k, v in (("projId", project_id), ("campaignId", campaign_id)) if v}

    async def scrub(self, e164: str) -> ScrubResult:
        phone = nanp_national(e164)
        if phone is None:
            return _outside_nanp(self.name, e164)
        params = {"phoneList": phone, "version": "5", "output": "json", **self._extra}
        resp = await self._send(
            self._client.build_request("GET", "/app/main/rpc/scrub", params=params)
        )
        try:
            body = resp.json()
        except ValueError:
            raise ProviderUnavailable("unexpected answer: not JSON", resp.text) from None
        try:
            outcome = dncscrub_outcome(body, phone)
        except ProviderUnavailable as exc:
            raise ProviderUnavailable(exc.detail, resp.text) from None
        return ScrubResult(outcome, resp.text, _now(), self.name)


# --- the FTC registry download, imported with `l2i dnc import` --------------------------------


class RegistryList:
    """The org's imported registry file, memory-mapped (shared page cache across workers) and
    reopened when an import replaced it (checked at most once a second)."""

    name = "registry"

    def __init__(self, path: Path):
        self.path = path
        self._reg: Any = None
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0

    def _current(self) -> Any:
        from lead2inbound._core import Registry

        now = time.monotonic()
        if self._reg is None or now - self._checked >= 1.0:
            self._checked = now
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                self._reg, self._stamp = None, None
                raise ProviderUnavailable(f"no registry imported yet ({self.path.name})") from None
            stamp = (st.st_ino, st.st_mtime_ns)
            if stamp != self._stamp:
                try:
                    self._reg = Registry(str(self.path))
                except (OSError, ValueError) as exc:
                    raise ProviderUnavailable(f"registry file unreadable: {exc}") from None
                self._stamp = stamp
        return self._reg

    async def scrub(self, e164: str) -> ScrubResult:
        reg = self._current()
        hit = reg.contains(e164)
        mtime = datetime.fromtimestamp((self._stamp or (0, 0))[1] / 1e9, UTC)
        raw = json.dumps(
            {
                "list": "FTC National DNC Registry",
                "phone": e164,
                "match": hit,
                "numbers": len(reg),
                "imported_at": mtime.isoformat(),
            }
        )
        return ScrubResult("dnc_hit" if hit else "clear", raw, _now(), self.name)

    async def aclose(self) -> None:
        self._reg = None


def build_provider(
    provider: str,
    *,
    credentials: dict[str, str],
    base_url: str | None,
    timeout_s: float,
    options: dict[str, Any],
    registry_path: Path,
) -> DncProvider:
    if provider == "tcpa-litigator-list":
        return TcpaLitigatorList(
            username=credentials["username"],
            password=credentials["password"],
            base_url=base_url,
            timeout_s=timeout_s,
            types=options.get("types"),
        )
    if provider == "dncscrub":
        return DncScrub(
            login_id=credentials["login_id"],
            base_url=base_url,
            timeout_s=timeout_s,
            project_id=options.get("project_id"),
            campaign_id=options.get("campaign_id"),
        )
    if provider == "registry":
        return RegistryList(Path(options["path"]) if options.get("path") else registry_path)
    raise ValueError(f"unknown DNC provider {provider!r}")
