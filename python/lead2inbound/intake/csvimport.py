"""CSV rows into leads, read incrementally (docs/batch-and-csv.md).

`CsvRows` takes decoded text in arbitrary pieces and yields complete records as they arrive: a
record ends at a newline outside quotes (the quote count so far is even), so quoted fields may
hold commas, quotes (`""`) and newlines. A UTF-8 BOM is dropped, CRLF and LF both end lines,
empty lines are skipped. Each record carries the line where it starts (the header is line 1).

Header names map to fields like flat JSON names (forms.unflatten): top-level names, bare consent
and attribution names, `consent__x` / `consent[x]` style names; any other column goes to
`custom_fields` under its header name. Names are matched after trimming and lower-casing, with
spaces and dashes as underscores. Empty cells are absent fields. A `sellers` cell holds several
names separated by `;`.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lead2inbound.contract.problems import ProblemError, validation
from lead2inbound.intake.forms import FLAT_NAMES, NESTED_OBJECTS, TOP_FIELDS
from lead2inbound.intake.validation import error

_SEPARATORS = re.compile(r"[\s\-]+")
_BRACKET = re.compile(r"^([a-z_]+)\[([^\[\]]+)\]$")


@dataclass(frozen=True, slots=True)
class Column:
    header: str  # as in the file
    path: tuple[str, ...]  # where the value goes in the lead


def map_header(names: list[str]) -> list[Column]:
    """The columns of a header row; 422 when it cannot describe leads."""
    columns: list[Column] = []
    seen: dict[tuple[str, ...], str] = {}
    for raw in names:
        header = raw.strip()
        norm = _SEPARATORS.sub("_", header.lower())
        m = _BRACKET.match(norm)
        block, sep, inner = norm.partition("__")
        if norm in TOP_FIELDS and norm not in NESTED_OBJECTS:
            path: tuple[str, ...] = (norm,)
        elif norm in FLAT_NAMES:
            path = (FLAT_NAMES[norm], norm)
        elif sep and block in NESTED_OBJECTS and inner:
            path = (block, inner if block != "custom_fields" else header.split("__", 1)[1])
        elif m and m.group(1) in NESTED_OBJECTS:
            path = (m.group(1), m.group(2))
        elif header == "":
            path = ()
        else:
            path = ("custom_fields", header)
        if path and path in seen:
            raise validation(
                [
                    error(
                        ["(header)"],
                        "invalid",
                        f"columns {seen[path]!r} and {header!r} name the same field",
                    )
                ]
            )
        if path:
            seen[path] = header
        columns.append(Column(header, path))
    if ("phone",) not in seen:
        raise validation([error(["(header)"], "missing_field", "no 'phone' column")])
    return columns


def row_to_data(columns: list[Column], cells: list[str]) -> tuple[dict[str, Any], list[str]]:
    """A record's cells into lead data (empty cells are absent); extra cells are reported."""
    out: dict[str, Any] = {}
    problems = []
    if len(cells) > len(columns) and any(c.strip() for c in cells[len(columns) :]):
        problems.append(f"has {len(cells)} cells but the header has {len(columns)} columns")
    for col, value in zip(columns, cells, strict=False):
        if value == "" or not col.path:
            continue
        if col.path[0] in NESTED_OBJECTS:
            block = out.setdefault(col.path[0], {})
            if col.path[1] == "sellers":
                block["sellers"] = [s.strip() for s in value.split(";") if s.strip()]
            else:
                block[col.path[1]] = value
        else:
            out[col.path[0]] = value
    return out, problems


# The longest record (a line, or the lines of one quoted record) a file may hold, in characters:
# a lead is a few hundred; a file of one endless line must cost one bounded read, not the body.
MAX_LINE_CHARS = 1 << 20


class LineTooLong(ValueError):
    """A record longer than `MAX_LINE_CHARS`, starting at `line`."""

    def __init__(self, line: int):
        super().__init__(f"line {line} is longer than {MAX_LINE_CHARS} characters")
        self.line = line


class CsvRows:
    """Feed text pieces, get back (line number, cells) for every complete record.

    Linear in the text fed: the pieces of an unfinished line are kept as a list and joined once
    when its newline arrives (not re-copied on every piece), and a record longer than
    `MAX_LINE_CHARS` raises `LineTooLong` as soon as it is seen."""

    def __init__(self) -> None:
        self._partial: list[str] = []  # pieces of the text after the last complete line
        self._partial_chars = 0
        self._record: list[str] = []  # lines of a record still inside quotes
        self._record_chars = 0
        self._quotes = 0
        self._line = 0  # lines consumed
        self._start = 1
        self._bom_checked = False

    @property
    def lines(self) -> int:
        return self._line

    def feed(self, text: str) -> Iterator[tuple[int, list[str]]]:
        if not self._bom_checked and text:
            self._bom_checked = True
            text = text.removeprefix("\ufeff")
        if "\n" not in text:
            self._partial.append(text)
            self._partial_chars += len(text)
            if self._partial_chars + self._record_chars > MAX_LINE_CHARS:
                raise LineTooLong(self._start if self._record else self._line + 1)
            return
        self._partial.append(text)
        lines = "".join(self._partial).split("\n")
        rest = lines.pop()
        self._partial, self._partial_chars = ([rest], len(rest)) if rest else ([], 0)
        yield from self._records(lines)
        if self._partial_chars + self._record_chars > MAX_LINE_CHARS:
            raise LineTooLong(self._start if self._record else self._line + 1)

    def close(self) -> Iterator[tuple[int, list[str]]]:
        tail = "".join(self._partial)
        self._partial, self._partial_chars = [], 0
        lines = [tail] if tail else []
        yield from self._records(lines)
        if self._record:  # an unterminated quote: hand the rest over as one record
            yield from self._parse([(self._start, "\n".join(self._record))])
            self._record = []

    def _records(self, lines: list[str]) -> Iterator[tuple[int, list[str]]]:
        done: list[tuple[int, str]] = []
        for line in lines:
            self._line += 1
            if not self._record:
                self._start = self._line
            self._record.append(line)
            self._record_chars += len(line) + 1
            if self._record_chars > MAX_LINE_CHARS:
                yield from self._parse(done)  # the records before it still count
                raise LineTooLong(self._start)
            self._quotes += line.count('"')
            if self._quotes % 2 == 0:
                text = "\n".join(self._record)
                self._record = []
                self._record_chars = 0
                self._quotes = 0
                if text.strip("\r") != "":
                    done.append((self._start, text))
        yield from self._parse(done)

    @staticmethod
    def _parse(records: list[tuple[int, str]]) -> Iterator[tuple[int, list[str]]]:
        # One reader per record: a quote opened inside an unquoted cell (`a","`) would make a
        # shared reader swallow the next record, and the cells would no longer line up.
        for line, text in records:
            try:
                cells = next(csv.reader([text], strict=False), [])
            except csv.Error:  # pragma: no cover - non-strict readers do not raise on quotes
                cells = [text]
            if cells and cells[-1].endswith("\r"):
                cells[-1] = cells[-1][:-1]
            yield line, cells


def decoder(charset: str) -> codecs.IncrementalDecoder:
    try:
        return codecs.getincrementaldecoder(charset)(errors="strict")
    except LookupError:
        raise ProblemError("unsupported_media_type", f"Unknown charset {charset!r}.") from None
