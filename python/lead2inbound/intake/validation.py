"""Turning request bodies into `LeadIn`, naming every bad field when that fails.

The fast path decodes bytes straight into the Struct with a pre-built decoder. Only when that
fails does the slow path decode to plain data and check field by field, so a 422 lists every
bad field (msgspec itself stops at the first one).
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from lead2inbound._core import InvalidPhone, normalize
from lead2inbound.contract.problems import _param, error, validation
from lead2inbound.contract.regions import state_code
from lead2inbound.contract.schemas import ErrorItem, LeadIn
from lead2inbound.contract.wire import decode_json
from lead2inbound.intake.forms import WireNames, unflatten

_json_lead = msgspec.json.Decoder(LeadIn)
_AT = re.compile(r"^(.*?)(?: - at `\$(.*)`)?$", re.S)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PATH_PART = re.compile(r"\.([A-Za-z0-9_]+)|\[(\d+)\]|\[(['\"])(.*?)\3\]")


def _split_msgspec(msg: str) -> tuple[str, list[str]]:
    """'Expected `str`, got `int` - at `$.a[0]`' -> ('Expected `str`, got `int`', ['a', '0'])."""
    m = _AT.match(msg)
    if not m:
        return msg, []
    text, where = m.group(1), m.group(2) or ""
    parts = [g1 or g2 or g4 for g1, g2, _, g4 in _PATH_PART.findall(where)]
    return text, parts


def _struct_of(tp: Any) -> type[msgspec.Struct] | None:
    """The Struct inside `T | None`, if the field is one."""
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return tp
    if typing.get_origin(tp) is typing.Annotated:
        return _struct_of(typing.get_args(tp)[0])
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            found = _struct_of(arg)
            if found is not None:
                return found
    return None


def _dict_of(tp: Any) -> tuple[Any, Any] | None:
    """(key type, value type) of the dict inside `Annotated[dict[K, V], ...] | None`."""
    if typing.get_origin(tp) is typing.Annotated:
        return _dict_of(typing.get_args(tp)[0])
    if typing.get_origin(tp) is dict:
        key, value = typing.get_args(tp)
        return key, value
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            found = _dict_of(arg)
            if found is not None:
                return found
    return None


def _collect_mapping(
    data: dict[Any, Any],
    whole: Any,
    kv: tuple[Any, Any],
    path: list[str],
    strict: bool,
    out: list[ErrorItem],
) -> None:
    """A dict field (custom_fields): name each bad entry, not just `$[...]`."""
    before = len(out)
    for key, value in data.items():
        here = [*path, str(key)]
        for part, tp in ((key, kv[0]), (value, kv[1])):
            try:
                msgspec.convert(part, tp, strict=strict)
            except msgspec.ValidationError as exc:
                text, _ = _split_msgspec(str(exc))
                what = "key" if part is key else "value"
                out.append(error(here, "invalid", f"{what}: {text}"))
                break
    if len(out) == before:
        try:
            msgspec.convert(data, whole, strict=strict)
        except msgspec.ValidationError as exc:
            text, _ = _split_msgspec(str(exc))
            out.append(error(path, "invalid", text))


def _collect(
    data: Any, struct: type[msgspec.Struct], path: list[str], strict: bool, out: list[ErrorItem]
) -> None:
    """Check `data` against `struct` field by field, appending one error per bad field."""
    if not isinstance(data, dict):
        where = path or ["(body)"]
        out.append(error(where, "invalid", "must be an object"))
        return
    fields = {f.encode_name: f for f in msgspec.structs.fields(struct)}
    for key, value in data.items():
        here = [*path, str(key)]
        field = fields.get(key)
        if field is None:
            out.append(error(here, "unknown_field", f"unknown field '{key}'"))
            continue
        inner = _struct_of(field.type)
        if inner is not None and isinstance(value, dict):
            _collect(value, inner, here, strict, out)
            continue
        mapping = _dict_of(field.type)
        if mapping is not None and isinstance(value, dict):
            _collect_mapping(value, field.type, mapping, here, strict, out)
            continue
        try:
            converted = msgspec.convert(value, field.type, strict=strict)
        except msgspec.ValidationError as exc:
            text, sub = _split_msgspec(str(exc))
            out.append(error([*here, *sub], "invalid", text))
            continue
        check = FIELD_CHECKS.get(key) if not path else None
        problem = check(converted) if check is not None and converted is not None else None
        if problem is not None:
            out.append(error(here, problem[0], problem[1]))
    for name, field in fields.items():
        if field.required and name not in data:
            out.append(error([*path, name], "missing_field", "is required"))


def _check_state(value: str) -> tuple[str, str] | None:
    if state_code(value) is not None:
        return None
    return "invalid", "must be a US state or territory or a Canadian province (code or name)"


def _check_email(value: str) -> tuple[str, str] | None:
    if value == "" or _EMAIL.match(value):
        return None
    return "invalid", "is not an email address"


def _check_phone(value: str | int) -> tuple[str, str] | None:
    try:
        normalize(str(value))
    except InvalidPhone as exc:
        return "invalid_phone", phone_detail(exc)
    return None


def phone_detail(exc: InvalidPhone) -> str:
    return f"is not a possible phone number ({exc.reason.replace('_', ' ')})"


# Checks msgspec's types cannot express, per top-level field.
FIELD_CHECKS: dict[str, Callable[[Any], tuple[str, str] | None]] = {
    "state": _check_state,
    "email": _check_email,
    "phone": _check_phone,
}


def semantic_errors(lead: LeadIn, skip: frozenset[str] = frozenset()) -> list[ErrorItem]:
    """Run FIELD_CHECKS on a decoded lead (fields in `skip` were checked by the caller)."""
    out: list[ErrorItem] = []
    for name, check in FIELD_CHECKS.items():
        value = getattr(lead, name)
        if name in skip or value is None:
            continue
        problem = check(value)
        if problem is not None:
            out.append(error([name], problem[0], problem[1]))
    return out


def lead_from_json(body: bytes) -> LeadIn:
    return parse_json_lead(body)[0]


def parse_json_lead(body: bytes) -> tuple[LeadIn, WireNames]:
    """Decode a JSON body. 400 when it is not JSON, 422 naming every bad field.

    Flat names (`consent_timestamp`, `attribution__utm_source`) fail the fast path, which knows
    only the nested shape; the slow path maps them (forms.unflatten) and tries again.
    """
    try:
        return decode_json(body, _json_lead), {}
    except msgspec.ValidationError:
        pass
    return parse_lead(decode_json(body), strict=True)


def lead_from_data(data: Any, *, strict: bool, names: WireNames | None = None) -> LeadIn:
    return parse_lead(data, strict=strict, names=names)[0]


def parse_lead(
    data: Any, *, strict: bool, names: WireNames | None = None
) -> tuple[LeadIn, WireNames]:
    """A lead from already-parsed data: JSON values (strict) or form/CSV strings (not strict).

    `names` maps paths to the names the poster sent (forms); flat names are mapped here. Returns
    the lead and the wire names (for errors found later, in the pipeline).
    """
    data, names = unflatten(data, names)
    try:
        return msgspec.convert(data, LeadIn, strict=strict), names
    except msgspec.ValidationError:
        return _slow_path(data, strict=strict, names=names), names


def lead_from_mapping(data: Mapping[str, Any], *, strict: bool) -> LeadIn:
    """Kept for callers of the first version: `lead_from_data` without wire names."""
    return lead_from_data(dict(data), strict=strict)


def canonical(data: Any) -> bytes:
    """The canonical JSON of parsed request data (sorted keys): what idempotency fingerprints."""
    return _canonical.encode(data)


_canonical = msgspec.json.Encoder(order="sorted")


def wire_param(path: list[str], names: WireNames) -> str:
    """The name the poster sent for `path`: the longest sent prefix, then bracket parts."""
    for cut in range(len(path), 0, -1):
        sent = names.get(tuple(path[:cut]))
        if sent is not None:
            return sent + "".join(f"[{p}]" for p in path[cut:])
    return _param(path)


def _path_of(pointer: str) -> list[str]:
    rest = pointer[2:] if pointer.startswith("#/") else pointer
    return [p.replace("~1", "/").replace("~0", "~") for p in rest.split("/")] if rest else []


def with_wire_names(errors: list[ErrorItem], names: WireNames) -> list[ErrorItem]:
    if not names:
        return errors
    for item in errors:
        item.param = wire_param(_path_of(item.pointer), names)
    return errors


def _slow_path(data: Any, *, strict: bool, names: WireNames | None = None) -> LeadIn:
    errors: list[ErrorItem] = []
    _collect(data, LeadIn, [], strict, errors)
    if not errors:  # pragma: no cover - defensive: the fast path and the collector disagree
        errors.append(error(["(body)"], "invalid", "the body does not match the lead schema"))
    raise validation(with_wire_names(errors, names or {}))
