"""RFC 9457 problem answers: every error the service gives is one of these.

A `ProblemError` carries what the client sees; the app's error handler serializes it with the
request id. Nothing else (no stack trace, no SQL) ever reaches a client.
"""

from __future__ import annotations

from collections.abc import Iterable

from lead2inbound.contract.schemas import ErrorItem

PROBLEM_BASE = "https://lead2inbound.dev/problems/"

# code -> (status, title). One table, so the docs and the OpenAPI document list the same set.
PROBLEMS: dict[str, tuple[int, str]] = {
    "bad_request": (400, "Request body could not be parsed"),
    "unauthorized": (401, "Authentication failed"),
    "forbidden": (403, "API key lacks the required scope"),
    "not_found": (404, "Not found"),
    "method_not_allowed": (405, "Method not allowed"),
    "not_leased": (409, "Lead is not leased to you"),
    "lead_locked": (409, "The lead cannot be changed in its current state"),
    "precondition_failed": (412, "The lead has changed since it was read"),
    "request_timeout": (408, "Request body not received in time"),
    "idempotency_in_flight": (409, "A request with this Idempotency-Key is still in flight"),
    "nothing_to_replay": (409, "The delivery has no body to replay"),
    "payload_too_large": (413, "Request body too large"),
    "unsupported_media_type": (415, "Unsupported content type"),
    "validation_error": (422, "Request failed validation"),
    "invalid_phone": (422, "Phone number is not a possible number"),
    "idempotency_key_reused": (422, "Idempotency-Key reused with a different request"),
    "rate_limited": (429, "Rate limit exceeded"),
    "header_too_large": (431, "Request header fields too large"),
    "service_unavailable": (503, "A backing store is unavailable"),
}


class ProblemError(Exception):
    """An error answer. `headers` are added to the response (e.g. Retry-After)."""

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        errors: Iterable[ErrorItem] | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        super().__init__(detail)
        self.status, self.title = PROBLEMS[code]
        self.code = code
        self.detail = detail
        self.errors = list(errors) if errors is not None else None
        self.headers = list(headers)

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.code.replace("_", "-")


def unauthorized() -> ProblemError:
    # One generic body for every authentication failure: nothing tells a prober which part failed.
    return ProblemError(
        "unauthorized",
        "A valid API key is required: 'Authorization: Bearer <key>' or HTTP Basic with the key "
        "as the user name.",
        headers=[("WWW-Authenticate", 'Bearer realm="lead2inbound"')],
    )


def forbidden(scope: str) -> ProblemError:
    return ProblemError("forbidden", f"This endpoint needs an API key with the '{scope}' scope.")


def not_found(what: str = "resource") -> ProblemError:
    return ProblemError("not_found", f"No such {what}.")


def unavailable(what: str, retry_after: int = 1) -> ProblemError:
    return ProblemError(
        "service_unavailable",
        f"{what} is unavailable; nothing was stored. Retry after {retry_after} s.",
        headers=[("Retry-After", str(retry_after))],
    )


def _param(path: list[str]) -> str:
    """The bracket name a form poster would send: consent[consent_timestamp]."""
    return path[0] + "".join(f"[{p}]" for p in path[1:]) if path else ""


def _pointer(path: list[str]) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in path)


def error(path: list[str], code: str, detail: str) -> ErrorItem:
    return ErrorItem(pointer=_pointer(path), param=_param(path), code=code, detail=detail)


# An error answer lists at most this many fields (the count says how many more there were), each
# name cut to `MAX_NAME_CHARS`: a body of 50,000 unknown names must not become a 5 MB answer.
MAX_LISTED_ERRORS = 20
MAX_NAME_CHARS = 100


def _cut(text: str, limit: int = MAX_NAME_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bounded(errors: list[ErrorItem]) -> list[ErrorItem]:
    """The first `MAX_LISTED_ERRORS` errors, each field name cut to a bounded length."""
    out = []
    for e in errors[:MAX_LISTED_ERRORS]:
        if len(e.param) > MAX_NAME_CHARS or len(e.pointer) > 2 * MAX_NAME_CHARS:
            e = ErrorItem(pointer=_cut(e.pointer, 2 * MAX_NAME_CHARS), param=_cut(e.param),
                          code=e.code, detail=_cut(e.detail, 2 * MAX_NAME_CHARS))  # fmt: skip
        out.append(e)
    return out


def validation(errors: list[ErrorItem]) -> ProblemError:
    """The 422 for `errors`; lists at most `MAX_LISTED_ERRORS` (docs/errors.md) and says how
    many more there were."""
    only_phone = bool(errors) and all(e.code == "invalid_phone" for e in errors)
    code = "invalid_phone" if only_phone else "validation_error"
    count = len(errors)
    listed = bounded(errors)
    names = ", ".join(dict.fromkeys(e.param for e in listed))
    more = count - len(listed)
    tail = f" and {more} more" if more else ""
    detail = f"{count} field{'s are' if count != 1 else ' is'} invalid: {names}{tail}."
    return ProblemError(code, detail, errors=listed)
