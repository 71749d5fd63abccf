"""Locust scenario for POST /v1/leads at a constant arrival rate (FastHttpUser, headless).

Configured by environment variables (bench/run.py sets them):

    BENCH_KEY        write+read API key                 BENCH_RATE     leads/s for the whole run
    BENCH_USERS      simulated users (-u must match)    BENCH_PHASE    phone prefix digit 2-9
    BENCH_MIX        "realistic" (5% duplicates, 5% without consent, 1% invalid) or "unique"
    BENCH_READBACK   fraction of 201s read back with GET /v1/leads/{id} (404 tolerated: the
                     read-back endpoint may not exist yet)
    BENCH_OUT        where to write the raw results (JSON) when the run stops

Each user posts one lead every BENCH_USERS / BENCH_RATE seconds (constant pacing), so the
arrival rate stays fixed as long as users are free; latency is measured around each request with
perf_counter (locust's own percentiles round to whole milliseconds).
"""

from __future__ import annotations

import json
import os
import random
import time

import gevent
from locust import FastHttpUser, constant_pacing, events, task

KEY = os.environ.get("BENCH_KEY", "")
RATE = float(os.environ.get("BENCH_RATE", "500"))
USERS = int(os.environ.get("BENCH_USERS", "250"))
PHASE = os.environ.get("BENCH_PHASE", "7")
MIX = os.environ.get("BENCH_MIX", "realistic")
READBACK = float(os.environ.get("BENCH_READBACK", "0.1"))
OUT = os.environ.get("BENCH_OUT", "locust_raw.json")

CONSENT = (
    '"consent":{"consent_timestamp":"2026-07-05T12:00:00Z",'
    '"consent_text_version":"webform-v2","source_url":"https://example.com/quote"}'
)

state: dict[str, object] = {
    "seq": 0,
    "posted": [],  # phones answered 201, candidates for duplicates
    "lat": {"new": [], "duplicate": [], "no_consent": [], "invalid": [], "readback": []},
    "status": {},
    "created": [],  # (lead_id, epoch seconds when the 201 arrived)
    "expected_201": 0,
    "unexpected": 0,
    "started": time.time(),
}


def _next_phone() -> str:
    state["seq"] = int(state["seq"]) + 1  # type: ignore[call-overload]
    return f"{PHASE}{int(state['seq']):09d}"


def _pick_kind() -> str:
    if MIX != "realistic":
        return "new"
    r = random.random()
    if r < 0.01:
        return "invalid"
    if r < 0.06 and state["posted"]:
        return "duplicate"
    if r < 0.11:
        return "no_consent"
    return "new"


class Poster(FastHttpUser):
    wait_time = constant_pacing(USERS / RATE)
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        # Users spawn together and constant pacing keeps them in step: without a random phase
        # the "constant rate" arrives as a burst of every user at once, every USERS/RATE s.
        gevent.sleep(random.random() * USERS / RATE)

    @task
    def post_lead(self) -> None:
        kind = _pick_kind()
        if kind == "invalid":
            phone = "12"
        elif kind == "duplicate":
            phone = random.choice(state["posted"])  # type: ignore[arg-type]
        else:
            phone = _next_phone()
        body = f'{{"source":"locust","phone":"{phone}"'
        body += "}" if kind in ("no_consent", "invalid") else f",{CONSENT}}}"
        expect = {"new": 201, "no_consent": 201, "duplicate": 200, "invalid": 422}[kind]
        if expect == 201:
            state["expected_201"] = int(state["expected_201"]) + 1  # type: ignore[call-overload]
        t0 = time.perf_counter()
        with self.client.post(
            "/v1/leads",
            data=body.encode(),  # bytes: one write with the head (a str body went in a second
            # write, held by Nagle until the delayed ACK of the first: +40 ms per request)
            headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
            name=f"POST /v1/leads ({kind})",
            catch_response=True,
        ) as resp:
            elapsed = time.perf_counter() - t0
            now = time.time()
            code = resp.status_code
            st = state["status"]
            st[str(code)] = st.get(str(code), 0) + 1  # type: ignore[union-attr]
            state["lat"][kind].append(elapsed)  # type: ignore[index]
            if code != expect:
                state["unexpected"] = int(state["unexpected"]) + 1  # type: ignore[call-overload]
                resp.failure(f"expected {expect}, got {code}")
                return
            resp.success()
            if code != 201:
                return
            lead_id = resp.json()["lead_id"]
            state["created"].append((lead_id, now))  # type: ignore[union-attr]
            if kind == "new":
                state["posted"].append(phone)  # type: ignore[union-attr]
        if code == 201 and random.random() < READBACK:
            t0 = time.perf_counter()
            with self.client.get(
                f"/v1/leads/{lead_id}",
                headers={"Authorization": f"Bearer {KEY}"},
                name="GET /v1/leads/{id}",
                catch_response=True,
            ) as back:
                state["lat"]["readback"].append(time.perf_counter() - t0)  # type: ignore[index]
                rb = state.setdefault("readback_status", {})
                rb[str(back.status_code)] = rb.get(str(back.status_code), 0) + 1  # type: ignore[union-attr]
                # 404/405 until the read-back endpoint lands: tolerated, counted, not a failure
                back.success()


@events.test_stop.add_listener
def _dump(environment, **_kw) -> None:  # type: ignore[no-untyped-def]
    state["stopped"] = time.time()
    with open(OUT, "w") as f:
        json.dump(state, f)
