"""POST /v1/leads/import: a CSV file, streamed, through the same pipeline as every lead."""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from lead2inbound.contract.problems import ProblemError, validation
from lead2inbound.contract.schemas import ImportResult
from lead2inbound.intake.csvimport import (
    MAX_LINE_CHARS,
    CsvRows,
    LineTooLong,
    decoder,
    map_header,
    row_to_data,
)
from lead2inbound.intake.idempotency import (
    Answer,
    Claim,
    Stored,
    idempotency_key,
    reused,
    scope_of,
)
from lead2inbound.intake.pipeline import PreparedLead, prepare
from lead2inbound.intake.validation import canonical, error, parse_lead
from lead2inbound.intake.writer import WriteResult
from lead2inbound.web.http import media_type, problem_body
from lead2inbound.web.openapi import Op, Resp
from lead2inbound.web.resources.common import parsed_lead, policy_of, unsupported

if TYPE_CHECKING:
    from lead2inbound.web.services import Services

ROUTE_IMPORT = "POST /v1/leads/import"
CSV = "text/csv"
MAX_ERRORS = 1000
_encode = msgspec.json.Encoder().encode


class ImportRun:
    """One import: rows in, chunks to the writer, a running summary and the fingerprint."""

    def __init__(self, services: Services, principal: Any, request_id: str, *, dry: bool):
        self.s = services
        self.principal = principal
        self.request_id = request_id
        self.dry = dry  # only fingerprint (a replay check), write nothing
        self.rows = self.created = self.duplicates = self.failed = 0
        self.errors: list[dict[str, Any]] = []
        self.truncated = False
        self.stopped: str | None = None
        self.columns: Any = None
        self.digest = hashlib.sha256(ROUTE_IMPORT.encode() + b"\n")
        self.chunk: list[tuple[int, PreparedLead]] = []
        self.writing: asyncio.Task[None] | None = None

    def fingerprint(self) -> bytes:
        return self.digest.copy().digest()

    def problem(self, line: int, exc: ProblemError) -> None:
        self.failed += 1
        if len(self.errors) >= MAX_ERRORS:
            self.truncated = True
            return
        body = problem_body(exc, self.request_id, f"/v1/leads/import#row={line}")
        self.errors.append({"row": line, "problem": body})

    async def record(self, line: int, cells: list[str]) -> bool:
        """Take one record; False once the row cap is reached."""
        if self.columns is None:
            self.columns = map_header(cells)
            self.digest.update(canonical([c.path for c in self.columns]))
            return True
        if self.rows >= self.s.config.csv_max_rows:
            self.stopped = f"the file has more than {self.s.config.csv_max_rows} rows (the cap)"
            return False
        self.rows += 1
        data, extra = row_to_data(self.columns, cells)
        try:
            if extra:
                raise validation([error(["(row)"], "invalid", extra[0])])
            lead, names = parse_lead(data, strict=False)
            self.digest.update(canonical(parsed_lead(lead)))
            prepared = prepare(
                lead,
                policy=policy_of(self.principal),
                key_id=self.principal.key_id,
                sandbox=self.principal.sandbox,
                consent_skew_s=self.s.config.consent_clock_skew_s,
                names=names,
            )
        except ProblemError as exc:
            self.digest.update(canonical(data))
            self.problem(line, exc)
            return True
        if not self.dry:
            self.chunk.append((line, prepared))
            if len(self.chunk) >= self.s.config.csv_chunk_rows:
                await self.flush()
        return True

    async def flush(self, *, claim: Claim | None = None) -> None:
        """Hand the chunk to the writer; one chunk is written while the next is parsed."""
        if self.writing is not None:
            await self.writing
            self.writing = None
        chunk, self.chunk = self.chunk, []
        if claim is not None:  # the last chunk carries the answer
            claim.fingerprint = self.fingerprint()
            await self._write(chunk, claim)
            return
        if chunk:
            self.writing = asyncio.create_task(self._write(chunk, None))

    async def _write(self, chunk: list[tuple[int, PreparedLead]], claim: Claim | None) -> None:
        leads = [lead for _, lead in chunk]

        def render(results: list[WriteResult]) -> Answer:  # may run twice (a retried commit)
            created = sum(r.created for r in results)
            return self.answer(created, len(results) - created)

        if not leads:
            if claim is not None:
                await self.s.idempotency.store(claim, self.answer())
            return
        await asyncio.gather(*(self.s.dnc.gate(lead) for lead in leads))  # gate 4
        results = await self.s.writer.write_many(
            leads, claim=claim, render=render if claim is not None else None
        )
        self._count(results)
        for lead, result in zip(leads, results, strict=True):
            self.s.metrics.lead(result)
            self.s.dnc.after_write(lead, result)

    def _count(self, results: list[WriteResult]) -> None:
        for result in results:
            if result.created:
                self.created += 1
            else:
                self.duplicates += 1

    def answer(self, more_created: int = 0, more_duplicates: int = 0) -> Answer:
        body = {
            "rows": self.rows,
            "created": self.created + more_created,
            "duplicates": self.duplicates + more_duplicates,
            "failed": self.failed,
            "errors": self.errors,
            "errors_truncated": self.truncated,
            "stopped": self.stopped,
        }
        return Answer(200, _encode(body))


class LeadsImportResource:
    openapi: ClassVar[dict[str, Op]] = {
        "post": Op(
            summary="Import leads from a CSV file",
            description="`text/csv` with a header row (field names; flat consent and "
            "attribution names; other columns go to `custom_fields`). Streamed: rows are read "
            "and written in chunks as they arrive, with no size limit beyond the row cap "
            "(`L2I_CSV_MAX_ROWS`). Each row goes through the same pipeline as `POST /v1/leads`. "
            "The answer is a summary with per-row problems. The request costs one unit of the "
            "rate limit. See docs/batch-and-csv.md.",
            scope="write",
            body=None,
            raw_body=(
                CSV,
                {
                    "type": "string",
                    "example": "phone,first_name,consent_timestamp\n"
                    "5125550143,Jane,2026-07-05T12:00:00Z\n",
                },
            ),
            responses=(Resp(200, "The import's summary and per-row problems.", ImportResult),),
            errors=(400, 409, 415, 422, 503),
            idempotent=True,
            tags=("leads",),
        )
    }

    def __init__(self, services: Services):
        self.s = services

    async def on_post(self, req: Any, resp: Any) -> None:
        principal = await self.s.authorize(req, "write")
        key = idempotency_key(req)
        kind, params = media_type(req)
        if kind not in (CSV, "application/csv"):
            raise unsupported(kind, (CSV,))
        charset = params.get("charset", "utf-8")
        request_id = req.context.get("request_id") or ""

        claim: Claim | None = None
        stored: Stored | None = None
        if key is not None:
            got = await self.s.idempotency.begin(
                principal.org_id, scope_of(principal), ROUTE_IMPORT, key, None
            )
            if isinstance(got, Stored):
                stored = got
            else:
                claim = got
        run = ImportRun(self.s, principal, request_id, dry=stored is not None)
        try:
            await self._read(req, run, decoder(charset), charset)
            if stored is not None:  # a retry: same file? then replay, else 422
                if stored.fingerprint != run.fingerprint():
                    raise reused(key or "")
                stored.send(resp)
                return
            await run.flush(claim=claim)
            if run.writing is not None:
                await run.writing
        except BaseException:
            if run.writing is not None and not run.writing.done():
                run.writing.cancel()
            if claim is not None:
                await self.s.idempotency.release(claim)
            raise
        final = claim.answer if claim is not None and claim.answer else run.answer()
        final.send(resp)

    async def _read(self, req: Any, run: ImportRun, dec: Any, charset: str) -> None:
        rows = CsvRows()
        try:
            async for piece in req.stream:
                for line, cells in rows.feed(dec.decode(piece)):
                    if not await run.record(line, cells):
                        return
            for line, cells in rows.feed(dec.decode(b"", final=True)):
                if not await run.record(line, cells):
                    return
            for line, cells in rows.close():
                if not await run.record(line, cells):
                    return
        except LineTooLong as exc:
            if run.rows == 0:
                raise ProblemError(
                    "payload_too_large",
                    f"Line {exc.line} of the file is longer than {MAX_LINE_CHARS} characters; "
                    "nothing was imported.",
                    headers=[("Connection", "close")],
                ) from None
            run.stopped = f"line {exc.line} is longer than {MAX_LINE_CHARS} characters"
            return
        except UnicodeDecodeError as exc:
            if run.rows == 0:
                raise ProblemError(
                    "bad_request", f"The file is not valid {charset}: {exc}."
                ) from None
            run.stopped = f"the file is not valid {charset} after line {rows.lines}"
            return
        if run.columns is None:
            raise validation([error(["(header)"], "missing_field", "the file has no header row")])
