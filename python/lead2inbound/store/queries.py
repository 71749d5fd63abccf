"""The SQL the service runs, loaded once from `store/sql/*.sql` so a reader finds every query."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

# `{{name}}` in a statement stands for `store/sql/parts/<name>.sql`: SQL that two statements
# share, kept in one place (parts/lead_reduced.sql: what erasure and retention leave of a lead).
_PART = re.compile(r"\{\{(\w+)\}\}")


@cache
def sql(name: str) -> bytes:
    """The text of `store/sql/<name>.sql` (its parts put in), as bytes ready for psycopg, without
    its comments and indentation (`compact`)."""
    return compact(source(name)).encode()


def source(name: str) -> str:
    """`store/sql/<name>.sql` as written, comments and all, with each `{{part}}` replaced by the
    text of `store/sql/parts/<part>.sql` (a missing part is a FileNotFoundError)."""
    return _PART.sub(lambda m: _read(f"parts/{m.group(1)}.sql").rstrip("\n"), _read(f"{name}.sql"))


def _read(relative: str) -> str:
    return resources.files("lead2inbound.store.sql").joinpath(relative).read_text("utf-8")


def compact(text: str) -> str:
    """The statement without `--` comments, indentation and blank lines; string literals and
    quoted identifiers are kept as they are.

    Why: psycopg converts a query's `%s` placeholders with a regex over its whole text, and
    caches the conversion only for texts of at most 4,096 bytes. The writer's statement is
    5.3 kB with its comments, so every batch (every lead at low load) paid the regex again.
    Line breaks stay, so a statement keeps its line structure in Postgres's logs. The scan reads
    one line at a time, so a text it cannot read that way is returned as it is: block comments,
    dollar quoting, backslashes (E'' strings), or a quote still open at the end of a line."""
    if "/*" in text or "$" in text or "\\" in text:
        return text
    out = []
    for line in text.splitlines():
        code, open_quote = _code_of(line)
        if open_quote:
            return text
        if code := code.strip():
            out.append(code)
    return "\n".join(out)


def _code_of(line: str) -> tuple[str, bool]:
    """The line up to a `--` that is outside '...' and "..." (SQL doubles a quote inside its
    quotes, which this reads as leaving and re-entering them: the same result), and whether a
    quote is still open at its end."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "-" and line.startswith("--", i):
            return line[:i], False
    return line, bool(quote)
