"""What every request body and parameter passes before anything reaches Postgres (docs/security.md).

- `decode_json`: the one JSON decode of the service. A bad document is a 400 (never a 500, also
  for invalid UTF-8 inside a string or nesting that would exhaust the interpreter's stack), and a
  document nested deeper than `MAX_DEPTH` is refused, so the code that walks a decoded document
  (mappings, fingerprints, the NUL check) never recurses without bound.
- `nul_errors` / `refuse_nul`: Postgres text and jsonb cannot hold NUL (U+0000); every text that
  is stored is checked here first and a NUL is a 422 naming the field.
- `check_url`: a URL the service stores and later sends somewhere (a redirect, a request):
  absolute http(s), no control characters, at most `MAX_URL_LENGTH` characters.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import msgspec

from lead2inbound.contract.problems import ProblemError, error, validation

MAX_DEPTH = 64
MAX_URL_LENGTH = 2000
_any = msgspec.json.Decoder()
_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f]")  # controls, space and C1 (Unicode Cc)
NUL_DETAIL = "must not contain NUL characters"


def too_deep(what: str = "The body") -> ProblemError:
    return ProblemError(
        "bad_request", f"{what} is not valid JSON: it is nested deeper than {MAX_DEPTH} levels."
    )


def _bad_json(what: str, exc: BaseException) -> ProblemError:
    if isinstance(exc, RecursionError):
        return too_deep(what)
    if isinstance(exc, UnicodeDecodeError):
        return ProblemError("bad_request", f"{what} is not valid UTF-8 JSON: {exc.reason}.")
    return ProblemError("bad_request", f"{what} is not valid JSON: {exc}.")


def deeper_than(doc: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether a decoded document nests arrays/objects (or Structs) deeper than `limit`.

    Iterative, and it visits only what was decoded (bounded by the body's size): a few
    microseconds for a lead, about 0.1 s for a 16 MB batch of a million fields."""
    containers = (dict, list, tuple, msgspec.Struct)
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, msgspec.Struct):
            children = [getattr(item, name) for name in item.__struct_fields__]
        else:
            children = item
        stack.extend((c, depth + 1) for c in children if isinstance(c, containers))
    return False


def decode_json(raw: bytes, decoder: Any = None, *, what: str = "The body") -> Any:
    """Decode JSON with `decoder` (a `msgspec.json.Decoder`, default: any value), bounded in
    depth; 400 problems for anything that is not a JSON document. msgspec's
    `ValidationError` (a typed decoder's field errors) passes through for the caller to name."""
    try:
        doc = (decoder or _any).decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        if isinstance(exc, msgspec.ValidationError):
            raise
        raise _bad_json(what, exc) from None
    # fewer brackets than the bound cannot nest deeper: the common case costs two counts
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and deeper_than(doc):
        raise too_deep(what)
    return doc


def nul_errors(value: Any, path: list[str] | None = None, *, hint: bytes | None = None) -> list:
    """An `ErrorItem` for every string (value or key) in `value` that holds a NUL.

    `hint`: the JSON text `value` came from; a text without `\\u0000` holds no NUL and the walk
    is skipped (a decoded JSON string can hold a NUL only by that escape)."""
    if hint is not None and b"\\u0000" not in hint:
        return []
    out: list = []
    stack: list[tuple[Any, list[str]]] = [(value, list(path or []))]
    while stack:  # iterative: the depth of `value` costs no stack
        item, where = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                out.append(error(where or ["body"], "invalid", NUL_DETAIL))
        elif isinstance(item, msgspec.Struct):
            for f in msgspec.structs.fields(item):
                stack.append((getattr(item, f.name), [*where, f.encode_name]))
        elif isinstance(item, dict):
            for key, sub in item.items():
                if isinstance(key, str) and "\x00" in key:
                    out.append(error([*where, key.replace("\x00", "\\u0000")], "invalid",
                                     "field names " + NUL_DETAIL))  # fmt: skip
                else:
                    stack.append((sub, [*where, str(key)]))
        elif isinstance(item, (list, tuple)):
            stack.extend((sub, [*where, str(i)]) for i, sub in enumerate(item))
    out.reverse()
    return out


def refuse_nul(value: Any, path: list[str] | None = None, *, hint: bytes | None = None) -> None:
    """422 naming every field of `value` that holds a NUL (see `nul_errors`)."""
    errors = nul_errors(value, path, hint=hint)
    if errors:
        raise validation(errors)


def check_url(raw: Any, field: str, *, max_length: int = MAX_URL_LENGTH) -> str:
    """A stored URL: absolute http(s) with a host, no control characters or spaces, at most
    `max_length` characters. Returns it without surrounding spaces; `ValueError` otherwise
    (its message names `field`); callers turn it into their own 422."""
    if not isinstance(raw, str):
        raise ValueError(f"{field} must be a string")
    text = raw.strip(" ")  # not str.strip(): it would drop a trailing NEL (U+0085) unseen
    if len(text) > max_length:
        raise ValueError(f"{field} must be at most {max_length} characters")
    if _CONTROL.search(text):
        raise ValueError(f"{field} must not contain control characters or spaces")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{field} must be an absolute http(s) URL")
    return text
