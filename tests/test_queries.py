"""The service's SQL as sent: comments stripped (`queries.compact`) without changing what Postgres
runs, and short enough for psycopg to cache its placeholder conversion."""

from __future__ import annotations

from importlib import resources

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import _queries as psycopg_queries

from lead2inbound.store.queries import compact, source, sql

SQL_FILES = sorted(
    p.name.removesuffix(".sql")
    for p in resources.files("lead2inbound.store.sql").iterdir()
    if p.name.endswith(".sql")
)


def _filled(name: str, text: str) -> str:
    """A template statement (the claim's lanes) filled in as the service fills it: every lane."""
    if name != "claim_select":
        return text
    from lead2inbound.dialing.queue import _LANES

    where, order = _LANES["retry"]
    lines = text.split("\n")  # the code's lines only: a comment names the placeholders too
    return "\n".join(
        ln
        if ln.lstrip().startswith("--")
        else ln.replace("LANE_FILTER", where.decode()).replace("LANE_ORDER", order.decode())
        for ln in lines
    )


def _original(name: str) -> str:
    """A service statement as its file has it, comments and all, its `{{parts}}` put in."""
    return source(name)


# text a literal, a quoted identifier or a comment may hold: quotes, dashes, both kinds of
# comment start, a newline-free mix
_TEXT = st.text(alphabet="ab -'\"*;%", max_size=12)


def _literal(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _ident(s: str) -> str:
    return '"' + (s.replace('"', '""') or "c") + '"'


@st.composite
def _statements(draw: st.DrawFn) -> str:
    """SELECT of literals under quoted names, one per line, each line maybe followed by a
    comment, with blank and comment-only lines and indentation in between."""
    n = draw(st.integers(1, 5))
    names = draw(st.lists(_TEXT, min_size=n, max_size=n, unique_by=lambda s: s.strip() or "c"))
    lines = ["-- " + draw(_TEXT), "SELECT"]
    for i, name in enumerate(names):
        value = draw(_TEXT)
        comma = "," if i < n - 1 else ""
        indent = " " * draw(st.integers(0, 6))
        comment = draw(st.one_of(st.just(""), _TEXT.map(lambda c: "  -- " + c)))
        lines.append(f"{indent}{_literal(value)} AS {_ident(name + str(i))}{comma}{comment}")
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from(["", "   ", "-- " + draw(_TEXT)])))
    return "\n".join(lines)


@pytest.fixture
def conn(database_url):
    with psycopg.connect(database_url, autocommit=True) as c:
        yield c


# the connection only runs SELECTs of literals: nothing to reset between examples
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(statement=_statements())
def test_compact_statements_answer_as_the_original(conn, statement):
    """Differential against Postgres: the compacted statement returns the same row under the
    same column names as the original, whatever quotes and dashes its literals hold."""
    want = conn.execute(statement.encode(), prepare=False)
    want_row, want_names = want.fetchone(), [d.name for d in want.description]
    got = conn.execute(compact(statement).encode(), prepare=False)
    assert got.fetchone() == want_row
    assert [d.name for d in got.description] == want_names


def test_comments_and_indentation_go_literals_stay():
    text = "SELECT 'a -- b' AS \"x--y\",  -- it's a comment\n\n    1 -- two\n-- only a comment\n"
    assert compact(text) == "SELECT 'a -- b' AS \"x--y\",\n1"


@pytest.mark.parametrize(
    "text",
    [
        "SELECT $$ -- not a comment\n $$",
        "SELECT /* -- */ 1",
        "SELECT E'it\\'s -- not a comment'",
        "SELECT 'a literal\n  -- over two lines'",
    ],
)
def test_texts_a_line_cannot_read_stay_as_they_are(text):
    assert compact(text) == text


@pytest.mark.parametrize("name", SQL_FILES)
def test_every_statement_prepares_as_before(conn, name):
    """Each of the service's statements, compacted, is accepted by Postgres with the same
    parameter and result types as its commented original (PREPARE parses and plans it)."""
    original = _original(name)
    shapes = []
    for i, text in enumerate((original, sql(name).decode())):
        text = _filled(name, text)
        # psycopg's own placeholder conversion (%s, %(name)s, %b -> $n), as execute() does it
        query, *_ = psycopg_queries._query2pg_nocache(text.encode(), "utf-8")
        conn.execute(f"PREPARE q{i} AS ".encode() + query)
        shapes.append(
            conn.execute(
                "SELECT parameter_types::text, result_types::text FROM pg_prepared_statements"
                " WHERE name = %s",
                (f"q{i}",),
            ).fetchone()
        )
    conn.execute("DEALLOCATE ALL")
    assert shapes[0] == shapes[1]


@pytest.mark.parametrize("name", SQL_FILES)
def test_every_code_line_is_kept_whole(name):
    """The service's files keep comments on lines of their own: compacted, every other line
    must be there, whole and in order (a dropped or cut line of code would fail here)."""
    original = _original(name)
    code = [ln.strip() for ln in original.splitlines()]
    assert sql(name).decode().split("\n") == [ln for ln in code if ln and not ln.startswith("--")]


def test_the_writers_statement_fits_psycopgs_query_cache():
    """psycopg caches its placeholder conversion only up to this length; above it, every batch
    ran the conversion's regex over the whole text again."""
    assert len(sql("insert_leads")) <= psycopg_queries.MAX_CACHED_STATEMENT_LENGTH


@pytest.mark.parametrize("name", SQL_FILES)
def test_every_part_a_statement_names_is_put_in(name):
    assert "{{" not in sql(name).decode()


def test_erasure_and_retention_reduce_a_lead_alike():
    """One definition of what a reduced lead keeps (parts/lead_reduced.sql), in both statements,
    after their own SET items."""
    part = resources.files("lead2inbound.store.sql").joinpath("parts/lead_reduced.sql")
    code = compact(part.read_text())
    assert "first_name = NULL" in code and "erased_at = now()" in code
    for name in ("erase_leads", "retention_purge"):
        assert (
            "{{lead_reduced}}"
            in resources.files("lead2inbound.store.sql").joinpath(f"{name}.sql").read_text()
        )
        assert f",\n{code}\nFROM target t\n" in sql(name).decode()
