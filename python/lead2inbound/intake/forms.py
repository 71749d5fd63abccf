"""Web-form bodies and flat names into the same shape as a JSON lead.

Bracket names nest: `consent[consent_timestamp]=...` becomes {"consent": {"consent_timestamp":
...}}; `consent[sellers][]=A&consent[sellers][]=B` (or `[0]`, `[1]`) becomes a list. Empty values
are dropped, as Zapier and most form tools send empty strings for fields the user left blank.

Flat names (what Zapier's Webhooks action, CSV headers and simple CRMs send) are mapped by
`unflatten`, for JSON and form bodies alike (docs/lead-sources.md, "Flat names"):

1. a top-level field name (`phone`, `consent`, ...) stays as it is;
2. `<object>__<name>` (Zapier's double-underscore "unflatten" convention) nests one level:
   `consent__consent_timestamp`, `attribution__utm_source`, `custom_fields__plan`;
3. a bare consent or attribution field name (`consent_timestamp`, `utm_source`, `gclid`, ...)
   goes into its block (the names are unique across the blocks and the top level);
4. anything else stays where it is, so an unknown top-level name is still a 422 naming it.

`unflatten` also returns the name each value was sent under, so an error points at it
(`param: "consent_timestamp"` for a flat name, `consent[consent_timestamp]` for a bracket one).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from lead2inbound.contract.problems import ProblemError
from lead2inbound.contract.schemas import Attribution, Consent, LeadIn

_NAME = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")
MAX_DEPTH = 4
MAX_FIELDS = 1000
MAX_LIST_INDEX = 1000

TOP_FIELDS = frozenset(f.encode_name for f in msgspec.structs.fields(LeadIn))
NESTED_OBJECTS = frozenset({"consent", "attribution", "custom_fields"})
FLAT_NAMES: dict[str, str] = {
    **{f.encode_name: "consent" for f in msgspec.structs.fields(Consent)},
    **{f.encode_name: "attribution" for f in msgspec.structs.fields(Attribution)},
}
assert not (FLAT_NAMES.keys() & TOP_FIELDS), "flat names must not shadow top-level fields"

# (path in the normalized lead) -> the name the poster sent
WireNames = dict[tuple[str, ...], str]


def parse_form(body: bytes, charset: str = "utf-8") -> tuple[dict[str, Any], WireNames]:
    """A form body into (nested data, wire names). 400 for bodies no reader could mean."""
    try:
        text = body.decode(charset)
    except (LookupError, UnicodeDecodeError) as exc:
        raise ProblemError("bad_request", f"The form body is not valid {charset}: {exc}.") from None
    try:
        pairs = parse_qsl(
            text,
            keep_blank_values=False,
            strict_parsing=False,
            encoding=charset,
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProblemError("bad_request", f"The form body could not be parsed: {exc}.") from None
    out: dict[str, Any] = {}
    names: WireNames = {}
    for name, value in pairs:
        m = _NAME.match(name)
        if not m:
            raise ProblemError("bad_request", f"Malformed form field name {name!r}.")
        path = [m.group(1), *_PART.findall(m.group(2))]
        if len(path) > MAX_DEPTH:
            raise ProblemError("bad_request", f"Form field {name!r} is nested too deeply.")
        _assign(out, path, value, name, names)
    return out, names


def _assign(
    target: dict[str, Any], path: list[str], value: str, name: str, names: WireNames
) -> None:
    node: Any = target
    where: list[str] = []
    for i, part in enumerate(path):
        last = i == len(path) - 1
        nxt = None if last else path[i + 1]
        if isinstance(node, list):
            if part != "" and not part.isdigit():
                raise ProblemError("bad_request", f"Form field {name!r} mixes lists and objects.")
            index = len(node) if part == "" else int(part)
            if index > MAX_LIST_INDEX or index > len(node):
                raise ProblemError("bad_request", f"Form field {name!r}: list index out of order.")
            where.append(str(index))
            if last:
                if index < len(node):
                    raise ProblemError("bad_request", f"Form field {name!r} is sent twice.")
                node.append(value)
                names[tuple(where)] = name
                return
            if index == len(node):
                node.append([] if nxt == "" or (nxt or "").isdigit() else {})
            node = node[index]
            continue
        if not isinstance(node, dict):
            raise ProblemError("bad_request", f"Form field {name!r} conflicts with another field.")
        where.append(part)
        if last:
            if part in node:
                raise ProblemError("bad_request", f"Form field {name!r} is sent twice.")
            node[part] = value
            names[tuple(where)] = name
            return
        child = node.get(part)
        if child is None:
            child = [] if nxt == "" or (nxt or "").isdigit() else {}
            node[part] = child
        node = child


def unflatten(data: Any, names: WireNames | None = None) -> tuple[Any, WireNames]:
    """Map flat names into their blocks (rules in the module doc). Returns (data, wire names)."""
    names = dict(names or {})
    if not isinstance(data, dict):
        return data, names
    if all(key in TOP_FIELDS for key in data):
        return data, names
    out: dict[str, Any] = {}
    moved: list[tuple[str, str, Any]] = []
    for key, value in data.items():
        if key in TOP_FIELDS:
            out[key] = value
            continue
        block, sep, inner = key.partition("__")
        if sep and block in NESTED_OBJECTS and inner:
            moved.append((block, inner, value))
        elif key in FLAT_NAMES:
            moved.append((FLAT_NAMES[key], key, value))
        else:
            out[key] = value
            continue
        _rename(names, (key,), (moved[-1][0], moved[-1][1]))
    for block, inner, value in moved:
        target = out.get(block)
        if target is None:
            target = out[block] = {}
        if not isinstance(target, dict):
            raise ProblemError(
                "bad_request", f"'{block}' is sent both as a value and as flat '{inner}' names."
            )
        if inner in target:
            raise ProblemError("bad_request", f"'{block}.{inner}' is sent twice.")
        target[inner] = value
    return out, names


def _rename(names: WireNames, old: tuple[str, ...], new: tuple[str, ...]) -> None:
    """Wire names of everything under `old` move to under `new` (a flat list `sellers[0]`...)."""
    for path in [p for p in names if p[: len(old)] == old]:
        names[new + path[len(old) :]] = names.pop(path)
    names.setdefault(new, old[0])
