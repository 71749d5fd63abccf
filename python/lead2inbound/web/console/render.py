"""HTML from Jinja2 templates with autoescape on for every template: a lead's fields come from
the public internet, and nothing here marks any of them safe."""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from typing import Any

import jinja2


@cache
def env() -> jinja2.Environment:
    e = jinja2.Environment(
        loader=jinja2.PackageLoader("lead2inbound.web.console", "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    e.filters["when"] = when
    e.filters["pretty"] = pretty
    return e


def when(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def pretty(value: Any) -> str:
    """JSON for a <pre> (escaped by autoescape like any other text)."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def page(resp: Any, name: str, status: int = 200, **context: Any) -> None:
    resp.status = status
    resp.content_type = "text/html; charset=utf-8"
    resp.text = env().get_template(name).render(**context)
