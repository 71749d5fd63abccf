"""Web-form bodies (`application/x-www-form-urlencoded`) into the same shape as a JSON lead.

Bracket names nest: `consent[consent_timestamp]=...` becomes {"consent": {"consent_timestamp":
...}}; `consent[sellers][]=A&consent[sellers][]=B` (or `[0]`, `[1]`) becomes a list. Empty values
are dropped, as Zapier and most form tools send empty strings for fields the user left blank.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from .problems import ProblemError

_NAME = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")
MAX_DEPTH = 4
MAX_FIELDS = 1000


def parse_form(body: bytes, charset: str = "utf-8") -> dict[str, Any]:
    try:
        text = body.decode(charset)
    except (LookupError, UnicodeDecodeError) as exc:
        raise ProblemError("bad_request", f"The form body is not valid {charset}: {exc}.") from None
    try:
        pairs = parse_qsl(
            text, keep_blank_values=False, strict_parsing=False, max_num_fields=MAX_FIELDS
        )
    except ValueError as exc:
        raise ProblemError("bad_request", f"The form body could not be parsed: {exc}.") from None
    out: dict[str, Any] = {}
    for name, value in pairs:
        m = _NAME.match(name)
        if not m:
            raise ProblemError("bad_request", f"Malformed form field name {name!r}.")
        path = [m.group(1), *_PART.findall(m.group(2))]
        if len(path) > MAX_DEPTH:
            raise ProblemError("bad_request", f"Form field {name!r} is nested too deeply.")
        _assign(out, path, value, name)
    return out


def _assign(target: dict[str, Any], path: list[str], value: str, name: str) -> None:
    node: Any = target
    for i, part in enumerate(path):
        last = i == len(path) - 1
        nxt = None if last else path[i + 1]
        if isinstance(node, list):
            if part not in ("", str(len(node))) and not part.isdigit():
                raise ProblemError("bad_request", f"Form field {name!r} mixes lists and objects.")
            if last:
                node.append(value)
                return
            node.append([] if nxt == "" or (nxt or "").isdigit() else {})
            node = node[-1]
            continue
        if not isinstance(node, dict):
            raise ProblemError("bad_request", f"Form field {name!r} conflicts with another field.")
        if last:
            if part in node:
                raise ProblemError("bad_request", f"Form field {name!r} is sent twice.")
            node[part] = value
            return
        child = node.get(part)
        if child is None:
            child = [] if nxt == "" or (nxt or "").isdigit() else {}
            node[part] = child
        node = child
