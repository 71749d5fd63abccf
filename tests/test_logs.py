"""The access log's own path writes the very line the JSON formatter writes for a
`lead2inbound.access` record, and writes a loop turn's lines together."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re

from lead2inbound.ops.logs import ACCESS, ACCESS_LOG, configure

FIELDS = {
    "request_id": "req_1",
    "method": "POST",
    "path": "/v1/leads",
    "route": "/v1/leads",
    "status": 201,
    "duration_ms": 1.234,
    "client_ip": "127.0.0.1",
    "key_id": "k1",
    "org_id": None,
}
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_same_line_as_the_formatter():
    stream = io.StringIO()
    configure("info", stream=stream)
    try:
        logging.getLogger(ACCESS).info("%s %s %d", "POST", "/v1/leads", 201, extra=FIELDS)
        ACCESS_LOG.write("POST /v1/leads 201", FIELDS)  # no running loop: written at once
        by_logging, direct = _lines(stream)
    finally:
        configure("info")
    assert TS.match(by_logging.pop("ts")) and TS.match(direct.pop("ts"))
    assert direct == by_logging
    assert list(direct) == list(by_logging), "same key order"


async def test_a_loop_turns_lines_are_written_together():
    stream = io.StringIO()
    configure("info", stream=stream)
    try:
        for i in range(3):
            ACCESS_LOG.write(f"GET /{i} 200", {**FIELDS, "status": 200})
        assert stream.getvalue() == "", "written at the end of the loop turn"
        await asyncio.sleep(0)
        assert [x["msg"] for x in _lines(stream)] == ["GET /0 200", "GET /1 200", "GET /2 200"]
        configure("warning", stream=stream)
        assert not ACCESS_LOG.enabled()
    finally:
        configure("info")
