"""A source's body and mapping into the lead's shape (docs/lead-sources.md, "Mappings").

A body is first decoded into a *document*: JSON as it is; a form (urlencoded or multipart) as a
flat object of field names (a repeated name becomes a list); `form_json` as that form with one
field (Unbounce's `data.json`) replaced by the JSON it holds. A mapping then takes values out of
the document, one rule per lead field:

- `"/a/b/0"`: a JSON Pointer (RFC 6901) into the document; `"email"` (no leading slash): the
  top-level field of that name (a form's field name).
- `{"path": P, "as": "datetime"|"string"|"digits", "when": RULE}`: the value at `P`, converted;
  with `when`, only if that rule yields a value that is not empty, false or "0".
- `{"first": [RULE, ...]}`: the first rule that yields a non-empty value.
- `{"split_name": RULE, "part": "first"|"last"}`: a full name cut at its first space.
- `{"join": [RULE, ...], "sep": " "}`: the non-empty values joined.
- `{"find": P, "where": {Q: value}, "get": R}`: in the list at `P`, the first item whose `Q` is
  `value`, then `R` inside it (Typeform's answers, Facebook's `field_data`). A where value may
  be `{"contains": text}` (in any case) or another rule, whose value is looked up first.
- `{"const": value}`: a fixed value.

A value that is a list of one item is that item (Unbounce and Facebook send every answer as a
list); empty strings are absent. The lead paths are the lead's own names: `phone`, `first_name`,
`consent.consent_timestamp`, `attribution.utm_source`, `custom_fields.plan`, ...

Whatever the mapping does not use goes to `custom_fields` (option `unmapped`: `custom_fields`,
the default, or `drop`), taken from the subtree at option `unmapped_from` (default: the whole
document), skipping pointers in option `ignore` (`*` matches one step), within the bounds
`POST /v1/leads` has (50 fields, names of 1-40 characters, values of at most 500): what does not
fit is left out and reported as a warning, never a 422.

`apply` returns the lead data, the wire names (lead path -> the source path its value came from,
so a 422 names the source's field: `param: "/properties/phone/value"`) and the warnings.
"""

from __future__ import annotations

import email.parser
import email.policy
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from lead2inbound.contract.problems import ProblemError
from lead2inbound.contract.schemas import MAX_CUSTOM_FIELDS, Attribution, Consent, LeadIn
from lead2inbound.contract.wire import decode_json
from lead2inbound.intake.forms import MAX_FIELDS, WireNames

FORMATS = ("json", "form", "multipart", "form_json", "facebook")
_SCALAR_TOP = frozenset(
    f.encode_name
    for f in msgspec.structs.fields(LeadIn)
    if f.encode_name not in ("consent", "attribution", "custom_fields")
)
_BLOCKS: dict[str, frozenset[str]] = {
    "consent": frozenset(f.encode_name for f in msgspec.structs.fields(Consent)),
    "attribution": frozenset(f.encode_name for f in msgspec.structs.fields(Attribution)),
}
_CUSTOM_KEY = re.compile(r"^[^\x00]{1,40}$")
_BAD_ESCAPE = re.compile(r"~(?![01])")  # RFC 6901: "~" only as "~0" or "~1"
MAX_PATH = 1000
MAX_RULE_DEPTH = 6
MAX_RULES = 100


class MappingError(ValueError):
    """A mapping that cannot be used: (lead path, what is wrong)."""

    def __init__(self, where: str, detail: str):
        super().__init__(f"{where}: {detail}")
        self.where = where
        self.detail = detail


# --- decoding bodies -----------------------------------------------------------------------


def decode(body: bytes, content_type: str, fmt: str, json_field: str | None = None) -> Any:
    """The body as a document for `apply`; 400 when it cannot be read, 415 for another type."""
    main, params = _media(content_type)
    charset = params.get("charset", "utf-8")
    if fmt in ("json", "facebook"):
        if main != "application/json" and not main.endswith("+json"):
            raise _unsupported(main, "application/json")
        doc = _decode_json(body, "The body")
        if not isinstance(doc, dict):
            raise ProblemError("bad_request", "The body must be a JSON object.")
        return doc
    if fmt in ("form", "form_json"):
        if main == "multipart/form-data":
            doc = _multipart(body, content_type)
        elif main == "application/x-www-form-urlencoded":
            doc = _form(body, charset)
        else:
            raise _unsupported(main, "application/x-www-form-urlencoded")
        if fmt == "form_json":
            name = json_field or "data.json"
            raw = doc.get(name)
            if isinstance(raw, list):
                raw = raw[0] if raw else None
            if raw:
                doc[name] = _decode_json(str(raw).encode(), f"the form field {name!r}")
        return doc
    if fmt == "multipart":
        if main != "multipart/form-data":
            raise _unsupported(main, "multipart/form-data")
        return _multipart(body, content_type)
    raise ProblemError("bad_request", f"Unknown source format {fmt!r}.")  # pragma: no cover


def _media(content_type: str) -> tuple[str, dict[str, str]]:
    main, *rest = (content_type or "").split(";")
    params = {}
    for p in rest:
        k, _, v = p.strip().partition("=")
        if k:
            params[k.strip().lower()] = v.strip().strip('"')
    return main.strip().lower(), params


def _unsupported(kind: str, accepted: str) -> ProblemError:
    return ProblemError(
        "unsupported_media_type",
        f"This source receives {accepted}" + (f", not {kind}." if kind else "; none was given."),
    )


def _decode_json(raw: bytes, what: str) -> Any:
    return decode_json(raw, what=what)


def _add(doc: dict[str, Any], name: str, value: str) -> None:
    if name in doc:
        prev = doc[name]
        doc[name] = [*prev, value] if isinstance(prev, list) else [prev, value]
    else:
        doc[name] = value


def _form(body: bytes, charset: str) -> dict[str, Any]:
    try:
        text = body.decode(charset)
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            encoding=charset,
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except (LookupError, UnicodeDecodeError, ValueError) as exc:
        raise ProblemError("bad_request", f"The form body could not be parsed: {exc}.") from None
    doc: dict[str, Any] = {}
    for name, value in pairs:
        _add(doc, name, value)
    return doc


def _multipart(body: bytes, content_type: str) -> dict[str, Any]:
    """multipart/form-data's text fields (files are not leads: left out)."""
    if "boundary=" not in content_type:
        raise ProblemError("bad_request", "A multipart body needs a boundary parameter.")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not msg.is_multipart():
        raise ProblemError("bad_request", "The multipart body could not be parsed.")
    doc: dict[str, Any] = {}
    for count, part in enumerate(msg.iter_parts()):
        if count >= MAX_FIELDS:
            raise ProblemError("bad_request", f"A multipart body may hold {MAX_FIELDS} fields.")
        name = part.get_param("name", header="content-disposition")
        if not name or part.get_filename():
            continue
        payload = part.get_payload(decode=True) or b""
        charset = part.get_content_charset() or "utf-8"
        try:
            _add(doc, str(name), payload.decode(charset))
        except (LookupError, UnicodeDecodeError):
            raise ProblemError("bad_request", f"Multipart field {name!r} is not text.") from None
    return doc


# --- checking a mapping ---------------------------------------------------------------------


def check_target(target: str) -> None:
    if target == "source":
        raise MappingError(target, "a source's leads carry its name as their source")
    parts = target.split(".")
    if len(parts) == 1 and parts[0] in _SCALAR_TOP:
        return
    if len(parts) == 2 and parts[0] in _BLOCKS and parts[1] in _BLOCKS[parts[0]]:
        return
    if len(parts) >= 2 and parts[0] == "custom_fields":
        name = target[len("custom_fields.") :]
        if _CUSTOM_KEY.match(name):
            return
        raise MappingError(target, "a custom field's name must be 1 to 40 characters")
    raise MappingError(
        target,
        "not a lead field (use phone, first_name, ..., consent.<field>, attribution.<field> "
        "or custom_fields.<name>)",
    )


def check_path(path: str, where: str) -> None:
    """A pointer ("/a/b") or a top-level name ("email"): not empty, at most MAX_PATH characters,
    no NUL, and a pointer's "~" only in RFC 6901's escapes."""
    if not path:
        raise MappingError(where, "an empty path")
    if len(path) > MAX_PATH or "\x00" in path:
        raise MappingError(where, f"a path is 1 to {MAX_PATH} characters, without NUL")
    if path.startswith("/") and _BAD_ESCAPE.search(path):
        raise MappingError(where, f"{path[:80]!r} is not a JSON Pointer: ~ must be ~0 or ~1")


def check_rule(rule: Any, where: str, depth: int = 0) -> None:
    if depth > MAX_RULE_DEPTH:
        raise MappingError(where, "rules are nested too deeply")
    if isinstance(rule, str):
        check_path(rule, where)
        return
    if not isinstance(rule, dict):
        raise MappingError(where, "a rule is a path (string) or an object")
    kinds = {"path", "first", "split_name", "join", "find", "const"} & rule.keys()
    if len(kinds) != 1:
        raise MappingError(
            where, "a rule has exactly one of path, first, split_name, join, find, const"
        )
    kind = kinds.pop()
    allowed = {
        "path": {"path", "as", "when"},
        "first": {"first", "as"},
        "split_name": {"split_name", "part"},
        "join": {"join", "sep", "as"},
        "find": {"find", "where", "get", "as", "when"},
        "const": {"const"},
    }[kind]
    extra = set(rule) - allowed
    if extra:
        raise MappingError(where, f"unknown key(s) {', '.join(sorted(extra))} in a {kind} rule")
    if rule.get("as") not in (None, "datetime", "string", "digits"):
        raise MappingError(where, "as must be datetime, string or digits")
    if "when" in rule:
        check_rule(rule["when"], where, depth + 1)
    if kind == "path":
        check_rule(rule["path"], where, depth + 1)
        if not isinstance(rule["path"], str):
            raise MappingError(where, "path must be a string")
    elif kind in ("first", "join"):
        items = rule[kind]
        if not isinstance(items, list) or not items or len(items) > 20:
            raise MappingError(where, f"{kind} takes a list of 1 to 20 rules")
        for item in items:
            check_rule(item, where, depth + 1)
        if not isinstance(rule.get("sep", " "), str):
            raise MappingError(where, "sep must be a string")
    elif kind == "split_name":
        check_rule(rule["split_name"], where, depth + 1)
        if rule.get("part") not in ("first", "last"):
            raise MappingError(where, "split_name needs part: first or last")
    elif kind == "find":
        if not isinstance(rule["find"], str) or not rule["find"]:
            raise MappingError(where, "find must be a path to a list")
        check_path(rule["find"], where)
        cond = rule.get("where")
        if not isinstance(cond, dict) or not cond or not all(isinstance(k, str) for k in cond):
            raise MappingError(where, "find needs where: {path: value}")
        for path in cond:
            check_path(path, where)
        for want in cond.values():
            if isinstance(want, dict) and "contains" in want:
                _check_contains(want, where)
            elif isinstance(want, dict):
                check_rule(want, where, depth + 1)
            elif not isinstance(want, (str, int, float, bool)) or want is None:
                raise MappingError(where, "a where value is a value, {contains: text} or a rule")
        if not isinstance(rule.get("get", ""), str):
            raise MappingError(where, "get must be a path")
        if rule.get("get"):
            check_path(rule["get"], where)
    elif kind == "const" and not isinstance(rule["const"], (str, int, float, bool, list)):
        raise MappingError(where, "const must be a string, number, boolean or list")


def _check_contains(want: dict[str, Any], where: str) -> None:
    text = want.get("contains")
    if set(want) != {"contains"} or not isinstance(text, str) or not 1 <= len(text.strip()) <= 200:
        raise MappingError(where, "contains takes a text of 1 to 200 characters")


def check_mapping(mapping: Any) -> None:
    """Raise MappingError for a mapping `apply` could not use."""
    if not isinstance(mapping, dict) or not mapping:
        raise MappingError("mapping", "an object of lead field -> rule, with at least one rule")
    if len(mapping) > MAX_RULES:
        raise MappingError("mapping", f"at most {MAX_RULES} rules")
    if "phone" not in mapping:
        raise MappingError("phone", "a mapping must say where the phone is")
    for target, rule in mapping.items():
        check_target(target)
        check_rule(rule, target)


def check_options(options: Any) -> None:
    if not isinstance(options, dict):
        raise MappingError("options", "must be an object")
    if "graph_url" in options:  # once a tenant's choice: a request to any address (SSRF)
        raise MappingError(
            "options.graph_url",
            "the Graph API address is the operator's setting (L2I_FACEBOOK_GRAPH_URL), "
            "not a source option",
        )
    known = {
        "unmapped",
        "unmapped_from",
        "unmapped_key",
        "unmapped_value",
        "ignore",
        "body_secret_at",
    }
    extra = set(options) - known
    if extra:
        raise MappingError("options", f"unknown option(s): {', '.join(sorted(extra))}")
    if options.get("unmapped", "custom_fields") not in ("custom_fields", "drop"):
        raise MappingError("options.unmapped", "custom_fields or drop")
    for name in ("unmapped_from", "unmapped_key", "unmapped_value", "body_secret_at"):
        if not isinstance(options.get(name, ""), str):
            raise MappingError(f"options.{name}", "must be a string")
    ignore = options.get("ignore", [])
    if not isinstance(ignore, list) or not all(isinstance(p, str) for p in ignore):
        raise MappingError("options.ignore", "must be a list of paths")


# --- applying a mapping ---------------------------------------------------------------------

_MISSING = object()


def _steps(path: str) -> list[str]:
    if not path.startswith("/"):
        return [path]
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def resolve(doc: Any, path: str) -> Any:
    """The value at `path` (pointer or top-level name), or _MISSING."""
    node = doc
    for step in _steps(path) if path != "/" else []:
        if isinstance(node, dict):
            if step not in node:
                return _MISSING
            node = node[step]
        elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        else:
            return _MISSING
    return node


def _unwrap(value: Any) -> Any:
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, str):
        value = value.strip()
        return value if value else _MISSING
    if value is None or value == []:
        return _MISSING
    return value


def _truthy(value: Any) -> bool:
    if value is _MISSING or value is False:
        return False
    return not (isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off"))


@dataclass
class _Run:
    doc: Any
    used: set[tuple[str, ...]] = field(default_factory=set)
    missing: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _eval(rule: Any, run: _Run) -> tuple[Any, str | None]:
    """(value or _MISSING, the source path it came from)."""
    if isinstance(rule, str):
        run.used.add(tuple(_steps(rule)))
        value = _unwrap(resolve(run.doc, rule))
        if value is _MISSING:
            run.missing.append(rule)
        return value, rule
    if "when" in rule:
        cond, _ = _eval(rule["when"], run)
        if not _truthy(cond):
            return _MISSING, None
    if "const" in rule:
        return rule["const"], None
    if "path" in rule:
        value, where = _eval(rule["path"], run)
    elif "first" in rule:
        value, where, tried = _MISSING, None, []
        for item in rule["first"]:
            value, where = _eval(item, run)
            if value is not _MISSING:
                break
            tried.append(where)
        else:
            where = next((w for w in tried if w), None)
    elif "split_name" in rule:
        value, where = _eval(rule["split_name"], run)
        if value is not _MISSING:
            first, _, last = str(value).strip().partition(" ")
            value = _unwrap(first if rule["part"] == "first" else last)
    elif "join" in rule:
        parts, where = [], None
        for item in rule["join"]:
            got, src = _eval(item, run)
            if got is not _MISSING:
                parts.append(str(got))
                where = where or src
        value = _unwrap(rule.get("sep", " ").join(parts)) if parts else _MISSING
    else:  # find
        value, where = _find(rule, run)
    if value is not _MISSING and rule.get("as"):
        value, problem = _convert(value, rule["as"])
        if problem:
            run.warnings.append(f"{where or 'a value'} {problem}")
    return value, where


def _find(rule: dict[str, Any], run: _Run) -> tuple[Any, str | None]:
    items = resolve(run.doc, rule["find"])
    if not isinstance(items, list):
        run.missing.append(rule["find"])
        return _MISSING, rule["find"]
    base = _steps(rule["find"])
    conds = [(k, _condition(v, run)) for k, v in rule["where"].items()]
    for i, item in enumerate(items):
        if all(test(_unwrap(resolve(item, k))) for k, test in conds):
            get = rule.get("get") or ""
            run.used.add(tuple([*base, str(i)]))
            value = _unwrap(resolve(item, get) if get else item)
            where = "/" + "/".join([*base, str(i)]) + (get if get.startswith("/") else "")
            if value is _MISSING:
                run.missing.append(where)
            return value, where
    desc = ", ".join(f"{k} = {v!r}" for k, v in rule["where"].items())
    run.missing.append(f"{rule['find']}[{desc}]")
    return _MISSING, rule["find"]


def _condition(want: Any, run: _Run) -> Any:
    """What a `where` value tests: equality with a value; `{"contains": text}`, the text in it
    in any case (not a regular expression: a tenant's pattern must not be able to stall a
    worker); or another rule's value, looked up first (Typeform: the answer whose field id is
    the id of the question titled "First name")."""
    if isinstance(want, dict) and "contains" in want:
        needle = " ".join(str(want["contains"]).split()).casefold()
        return lambda got: (
            got is not _MISSING and needle in " ".join(as_text(got).split()).casefold()
        )
    if isinstance(want, dict):
        want, _ = _eval(want, _Run(run.doc))  # its misses are not the mapping's warnings
        if want is _MISSING:
            return lambda got: False
    return lambda got: _same(got, want)


def _norm(value: Any) -> str:
    if value is True:
        return "1"
    if value is False:
        return "0"
    text = str(value).strip().lower()
    return {"true": "1", "false": "0"}.get(text, text)


def _same(got: Any, want: Any) -> bool:
    return got is not _MISSING and _norm(got) == _norm(want)


_DATE_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %I:%M %p %Z",
    "%Y-%m-%d %I:%M %p",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %I:%M %p",
)


def _convert(value: Any, kind: str) -> tuple[Any, str | None]:
    """Total over every JSON value (issue 21: vendor data never raises): the converted value or
    _MISSING, and what was wrong with it (a warning), never an exception."""
    if kind == "string":
        return as_text(value), None
    if kind == "digits":
        digits = "".join(ch for ch in as_text(value) if ch in "0123456789")
        return (digits, None) if digits else (_MISSING, "has no digits: left out")
    when = parse_time(value)
    if when is None:  # kept as text: the consent gate then records invalid_consent (fails closed)
        return as_text(value), "is not a time this service can read: kept as given"
    return when, None


def as_text(value: Any) -> str:
    """A JSON value as text: a string as it is, a number or boolean as JSON writes it, a list or
    object as compact JSON."""
    if isinstance(value, str):
        return value
    try:
        return msgspec.json.encode(value).decode()
    except (TypeError, ValueError, OverflowError):  # not JSON (a caller's own value)
        return str(value)


_UNIX = re.compile(r"[0-9]{1,20}")


def parse_time(value: Any) -> str | None:
    """An RFC 3339 string (UTC when the source gives no offset) from the usual webhook forms:
    RFC 3339 / ISO 8601 (also `+0000` offsets), Unix seconds or milliseconds, and
    `2026-07-05 04:19 PM UTC` (Unbounce); None for anything else, including numbers no calendar
    holds (`99999999999999999999`)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    try:
        if isinstance(value, (int, float)) or _UNIX.fullmatch(value):
            num = float(value)
            when = datetime.fromtimestamp(num / 1000 if num > 1e11 else num, UTC)
            return when.isoformat().replace("+00:00", "Z")
        when = _parse_text_time(value.strip())
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.isoformat().replace("+00:00", "Z")
    except (ValueError, OverflowError, OSError):  # out of the calendar's range
        return None


def _parse_text_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    zoned = text.replace(" UTC", " +0000").replace(" GMT", " +0000")
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(zoned, fmt.replace("%Z", "%z"))
        except ValueError:
            continue
    return None


def to_datetime(value: Any) -> Any:
    """`parse_time`'s answer, or the value as text when it is not a time (the consent gate then
    records `invalid_consent`)."""
    return _convert(value, "datetime")[0]


@dataclass
class Mapped:
    data: dict[str, Any]
    names: WireNames
    warnings: list[str]


def apply(doc: Any, mapping: dict[str, Any], options: dict[str, Any] | None = None) -> Mapped:
    """The lead data a document makes under `mapping` (see the module doc)."""
    options = options or {}
    if options.get("body_secret_at"):  # the vendor's secret never becomes a custom field
        options = {**options, "ignore": [*options.get("ignore", []), options["body_secret_at"]]}
    run = _Run(doc)
    data: dict[str, Any] = {}
    names: WireNames = {}
    for target, rule in mapping.items():
        value, where = _eval(rule, run)
        path = _target_path(target)
        if value is _MISSING:
            if where or isinstance(rule, str):  # a missing phone's 422 names the source's path
                names[tuple(path)] = where or rule
            continue
        if path[-1] != "sellers" and isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
        if where:
            names[tuple(path)] = where
    warnings = [f"no value at {p}" for p in dict.fromkeys(run.missing)]
    warnings += list(dict.fromkeys(run.warnings))
    if options.get("unmapped", "custom_fields") == "custom_fields":
        _unmapped(doc, run, data, names, options, warnings)
    return Mapped(data, names, warnings)


def _target_path(target: str) -> list[str]:
    if target.startswith("custom_fields."):
        return ["custom_fields", target[len("custom_fields.") :]]
    return target.split(".")


def _unmapped(
    doc: Any,
    run: _Run,
    data: dict[str, Any],
    names: WireNames,
    options: dict[str, Any],
    warnings: list[str],
) -> None:
    root_path = options.get("unmapped_from") or ""
    root = resolve(doc, root_path) if root_path else doc
    base = _steps(root_path) if root_path else []
    ignore = [_steps(p) for p in options.get("ignore", [])]
    custom = data.get("custom_fields") or {}
    leaves: list[tuple[str, Any, list[str]]] = []
    key_of, value_of = options.get("unmapped_key"), options.get("unmapped_value")
    if isinstance(root, list) and key_of:  # a list of {name, values} (Facebook's field_data)
        for i, item in enumerate(root):
            name = _unwrap(resolve(item, key_of))
            value = _unwrap(resolve(item, value_of) if value_of else item)
            if name is not _MISSING and value is not _MISSING:
                leaves.append((str(name), value, [*base, str(i)]))
    elif root is not _MISSING:
        _walk(root, base, [], leaves)
    dropped: list[str] = []
    for name, value, steps in leaves:
        if _covered(steps, run.used) or any(_matches(steps, pat) for pat in ignore):
            continue
        name = name.removeprefix("custom_fields__")
        if name in custom or not name:
            continue
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        if not isinstance(value, (str, int, float, bool)):
            continue
        if (
            len(custom) >= MAX_CUSTOM_FIELDS
            or not _CUSTOM_KEY.match(name)
            or (isinstance(value, str) and len(value) > 500)
        ):
            dropped.append(name)
            continue
        custom[name] = value
        names[("custom_fields", name)] = "/" + "/".join(steps)
    if custom:
        data["custom_fields"] = custom
    if dropped:
        shown = ", ".join(dropped[:10]) + (" ..." if len(dropped) > 10 else "")
        warnings.append(
            f"{len(dropped)} unmapped field(s) left out of custom_fields (at most "
            f"{MAX_CUSTOM_FIELDS}, names of 1-40 characters, values of at most 500): {shown}"
        )


def _walk(
    node: Any, steps: list[str], name: list[str], out: list[tuple[str, Any, list[str]]]
) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _walk(value, [*steps, str(key)], [*name, str(key)], out)
    elif isinstance(node, list) and node and all(not isinstance(v, (dict, list)) for v in node):
        out.append((".".join(name), node[0] if len(node) == 1 else node, steps))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _walk(value, [*steps, str(i)], [*name, str(i)], out)
    elif node is not None and node != "":
        out.append((".".join(name), node, steps))


def _covered(steps: list[str], used: set[tuple[str, ...]]) -> bool:
    return any(tuple(steps[:n]) in used for n in range(1, len(steps) + 1))


def _matches(steps: list[str], pattern: list[str]) -> bool:
    if len(steps) < len(pattern):
        return False
    return all(p in ("*", s) for p, s in zip(pattern, steps, strict=False))
