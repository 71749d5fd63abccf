"""Liberal on what a vendor cannot fix, strict on what matters (docs/lead-sources.md, "What a
source's lead may leave out").

A vendor cannot resend a lead differently, so a lead from a source is never refused over an
optional field: a value that does not validate (a state that is no state, an email that is no
email, a text too long, a wrong type) is taken out of its field, kept in `custom_fields` as
`invalid__<field path>` (e.g. `invalid__state`, `invalid__consent.ip_address`) and reported in
the answer's and the preview's `warnings`. Only the phone refuses the lead: missing or
impossible, it is the same 422 as `POST /v1/leads`.
"""

from __future__ import annotations

from typing import Any

from lead2inbound.contract.problems import ProblemError, validation
from lead2inbound.contract.schemas import MAX_CUSTOM_FIELDS, ErrorItem, LeadIn
from lead2inbound.intake.forms import WireNames
from lead2inbound.intake.validation import parse_lead, semantic_errors, with_wire_names
from lead2inbound.sources.mapping import as_text

PREFIX = "invalid__"
_MAX_PASSES = 4  # each pass sets aside every value named wrong; nested ones may need another
_STRICT = frozenset({"phone", "source"})


def _path(pointer: str) -> list[str]:
    rest = pointer[2:] if pointer.startswith("#/") else pointer.lstrip("#")
    return [p.replace("~1", "/").replace("~0", "~") for p in rest.split("/")] if rest else []


def lenient_lead(
    data: dict[str, Any], names: WireNames, warnings: list[str]
) -> tuple[LeadIn, WireNames]:
    """The lead a source's mapped `data` makes, setting aside (in place, with a warning each)
    every optional value that does not validate; ProblemError (422) only for the phone."""
    for _ in range(_MAX_PASSES):
        try:
            lead, wire = parse_lead(data, strict=False, names=names)
            errors = with_wire_names(semantic_errors(lead, skip=frozenset({"phone"})), wire)
        except ProblemError as exc:
            if not exc.errors:
                raise
            errors, wire = exc.errors, names
        if not errors:
            return lead, wire
        strict = [e for e in errors if (_path(e.pointer) or [""])[0] in _STRICT]
        if strict:
            raise validation(strict)
        # An error may name a value an earlier one of this pass already set aside (a key too
        # long for its pointer to be kept whole sets aside its whole block): the next pass
        # parses again; only a pass that sets nothing aside refuses.
        if not [e for e in errors if _set_aside(data, e, warnings)]:
            raise validation(errors)  # pragma: no cover - an error at no path of the data
    return parse_lead(data, strict=False, names=names)  # pragma: no cover


def _parent(data: dict[str, Any], path: list[str]) -> Any:
    node: Any = data
    for step in path:
        if not isinstance(node, dict) or step not in node:
            return None
        node = node[step]
    return node


def _set_aside(data: dict[str, Any], item: ErrorItem, warnings: list[str]) -> bool:
    """Take the value `item` names out of `data` into custom_fields; False when it is not there.
    A bad item inside a list (`consent.sellers[0]`) sets aside the whole list: the nearest
    object member on the path."""
    full = _path(item.pointer)
    for cut in range(len(full), 0, -1):
        node = _parent(data, full[: cut - 1])
        if isinstance(node, dict) and full[cut - 1] in node:
            path = full[:cut]
            break
    else:
        return False
    value = node.pop(path[-1])
    if not node and len(path) > 1:
        _drop_empty(data, path[:-1])
    name = (PREFIX + ".".join(path))[:40]
    custom = data.get("custom_fields")
    where = item.param or ".".join(path)
    if path[0] == "custom_fields" or (not isinstance(custom, dict) and custom is not None):
        warnings.append(f"{where} {item.detail}: left out")
        return True
    if custom is None:
        custom = data["custom_fields"] = {}
    if len(custom) >= MAX_CUSTOM_FIELDS:
        warnings.append(f"{where} {item.detail}: left out (custom_fields is full)")
        return True
    kept = value if isinstance(value, (bool, int, float)) else as_text(value)[:500]
    custom[name] = kept
    warnings.append(f"{where} {item.detail}: left out, kept in custom_fields.{name}")
    return True


def _drop_empty(data: dict[str, Any], path: list[str]) -> None:
    node: Any = data
    for step in path[:-1]:
        node = node[step]
    if node.get(path[-1]) == {}:
        del node[path[-1]]
