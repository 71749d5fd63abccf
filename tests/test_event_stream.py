"""GET /v1/events/stream (Server-Sent Events): across nodes, resume by Last-Event-ID with
exactly the missed events in order, filters, heartbeat-free idling, tenant isolation (real
Granian processes, Postgres LISTEN/NOTIFY)."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from tests.support.stack import auth, lead, make_org, service_env


class StreamReader:
    """Reads one SSE stream in a thread; `events` are (id, type, data, received_at)."""

    def __init__(self, url: str, key: str, last_id: str | None = None, query: str = ""):
        headers = auth(key)
        if last_id:
            headers["Last-Event-ID"] = last_id
        self.events: list[tuple[str, str, dict, float]] = []
        self.status: int | None = None
        self.content_type = ""
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(f"{url}/v1/events/stream{query}", headers), daemon=True
        )
        self._thread.start()
        assert self._ready.wait(30), "the stream did not open"

    def _run(self, url: str, headers: dict[str, str]) -> None:
        try:
            self._read(url, headers)
        except httpx.HTTPError:  # the server went away (test teardown): the reading ends
            pass
        finally:
            self._ready.set()

    def _read(self, url: str, headers: dict[str, str]) -> None:
        with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(60)) as resp:
            self.status = resp.status_code
            self.content_type = resp.headers.get("content-type", "")
            fields: dict[str, str] = {}
            for line in resp.iter_lines():
                if line.startswith(": connected"):
                    self._ready.set()
                if self._stop.is_set():
                    return
                if not line:
                    if "id" in fields:
                        self.events.append(
                            (fields["id"], fields["event"], json.loads(fields["data"]),
                             time.time())
                        )  # fmt: skip
                    fields = {}
                    continue
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(": ")
                fields[name] = value

    def wait_for(self, n: int, timeout: float = 30.0) -> list[tuple[str, str, dict, float]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.events) < n:
            time.sleep(0.02)
        assert len(self.events) >= n, self.events
        return list(self.events)

    def close(self) -> None:
        self._stop.set()


def post(url, key, phone):
    resp = httpx.post(f"{url}/v1/leads", json=lead(phone), headers=auth(key), timeout=30)
    assert resp.status_code == 201, resp.text
    return resp.json()["lead_id"], time.time()


@pytest.fixture
def nodes(server_factory, database_url, redis_url):
    env = service_env(database_url, redis_url, L2I_CALLING_HOURS="off")
    return [server_factory(env), server_factory(env)]


def test_a_stream_on_node_a_sees_a_lead_posted_to_node_b(nodes, database_url):
    a, b = nodes
    org = make_org(database_url)
    key = org.key("write,read")
    reader = StreamReader(a.url, key, query="?type=lead.created")
    assert reader.status == 200 and reader.content_type.startswith("text/event-stream")
    lags = []
    for i in range(5):
        lead_id, sent = post(b.url, key, f"51255508{i:02d}")
        got = reader.wait_for(i + 1)[-1]
        assert got[1] == "lead.created" and got[2]["lead_id"] == lead_id
        lags.append(got[3] - sent)
    reader.close()
    print("stream lag after the 201 (s):", [round(x, 3) for x in lags])


def test_reconnecting_with_last_event_id_gets_exactly_what_was_missed(nodes, database_url):
    a, b = nodes
    org = make_org(database_url)
    key = org.key("write,read")
    first = StreamReader(a.url, key)
    post(a.url, key, "5125550901")
    seen = first.wait_for(2)  # lead.created, lead.queued
    first.close()
    last_id = seen[-1][0]
    missed = [post(b.url, key, f"51255509{i:02d}")[0] for i in range(2, 6)]
    again = StreamReader(b.url, key, last_id=last_id)
    got = again.wait_for(8)
    time.sleep(0.5)
    again.close()
    listed = httpx.get(f"{a.url}/v1/events?after={last_id}&limit=100", headers=auth(key)).json()
    assert [e[0] for e in again.events] == [e["id"] for e in listed["data"]]
    assert [e[2]["lead_id"] for e in got[::2]] == missed
    assert [e[1] for e in got] == ["lead.created", "lead.queued"] * 4
    assert not {e[0] for e in got} & {e[0] for e in seen}


def test_a_stream_never_carries_another_orgs_or_modes_events(nodes, database_url):
    a, _ = nodes
    org, rival = make_org(database_url), make_org(database_url, "rival")
    key, rival_key = org.key("write,read"), rival.key("write,read")
    test_key = org.key("write,read", test=True)
    reader = StreamReader(a.url, key)
    post(a.url, rival_key, "5125551001")
    post(a.url, test_key, "5125551002")
    mine, _ = post(a.url, key, "5125551003")
    got = reader.wait_for(2)
    time.sleep(1.0)
    reader.close()
    assert {e[2]["lead_id"] for e in reader.events} == {mine}
    assert all(e[2]["org"] == org.org_id and not e[2]["sandbox"] for e in got)
    bad = httpx.get(
        f"{a.url}/v1/events/stream", headers={**auth(rival_key), "Last-Event-ID": got[0][0]}
    )
    assert bad.status_code == 422
