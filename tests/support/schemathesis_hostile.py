"""Schemathesis hooks (SCHEMATHESIS_HOOKS) that turn generated requests hostile: NUL in every
string of some bodies, query strings and path parameters, and a deeply nested value in others.

Which transformation a value gets is derived from its content (a CRC), so a run with a fixed
seed is repeatable. Used by tests/test_openapi.py::test_schemathesis_nul_and_deep_nesting.
"""

from __future__ import annotations

import zlib
from typing import Any

import schemathesis

DEPTH = 200  # deeper than the service's bound (64), shallow enough for the client's encoder


def _pick(value: Any, ways: int) -> int:
    return zlib.crc32(repr(value).encode()) % ways


def _with_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value[:1] + "\x00" + value[1:]
    if isinstance(value, dict):
        return {_with_nul(k) if isinstance(k, str) else k: _with_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_nul(v) for v in value]
    return value


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value] if depth % 2 else {"a": value}
    return value


def _deep(value: Any) -> Any:
    if isinstance(value, dict):
        first = next(iter(value), "deep")
        return {**value, first: _nested(DEPTH)}
    if isinstance(value, list):
        return [_nested(DEPTH), *value[1:]]
    return value


@schemathesis.hook
def map_body(ctx: Any, body: Any) -> Any:
    way = _pick(body, 3)
    if way == 0:
        return _with_nul(body)
    if way == 1:
        return _deep(body)
    return body


@schemathesis.hook
def map_query(ctx: Any, query: Any) -> Any:
    if query and _pick(query, 2) == 0:
        return _with_nul(query)
    return query


@schemathesis.hook
def map_path_parameters(ctx: Any, params: Any) -> Any:
    if params and _pick(params, 2) == 0:  # the names stay: they pick the route
        return {name: _with_nul(value) for name, value in params.items()}
    return params
