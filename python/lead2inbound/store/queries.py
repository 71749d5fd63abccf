"""The SQL the service runs, loaded once from `store/sql/*.sql` so a reader finds every query."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def sql(name: str) -> bytes:
    """The text of `store/sql/<name>.sql`, as bytes ready for psycopg, without its comments and
    indentation (`compact`)."""
    text = resources.files("lead2inbound.store.sql").joinpath(f"{name}.sql").read_text("utf-8")
    return compact(text).encode()


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
