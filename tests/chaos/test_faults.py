"""The fault suite: steady lead traffic (unique and duplicate phones) while, in turn, Postgres is
restarted, Redis is killed and restarted, a Granian worker is SIGKILLed, and the whole service is
SIGTERMed and started again. After each run: every 201/200 is in Postgres exactly once, no phone
has two leads, every other answer is a 503/429 problem with Retry-After (connection errors only
where a worker or the service went away), nothing is half stored, and full rate is back within
5 s of the dependency returning. `bench/chaos.py` runs the same with a few hundred leads/s.
"""

from __future__ import annotations

import os

import pytest

from tests.chaos.harness import (
    audit,
    postgres_restart,
    redis_kill_restart,
    run_fault,
    service_sigterm_restart,
    worker_kill,
)
from tests.support.stack import make_org, service_env

RATE = float(os.environ.get("L2I_CHAOS_RATE", "40"))
DURATION_S = float(os.environ.get("L2I_CHAOS_SECONDS", "12"))
FAULT_AT_S = 3.0
SERVER_ARGS = [
    "--respawn-failed-workers",
    "--respawn-interval",
    "1",
    "--workers-kill-timeout",
    "10",
]


@pytest.fixture
def chaos_stack(server_factory, private_pg, private_redis):
    env = service_env(
        private_pg.url,
        private_redis.url,
        L2I_DB_TIMEOUT_S="1",
        L2I_FALLBACK_DIVISOR="2",
    )
    server = server_factory(env, workers=2, extra_args=SERVER_ARGS)
    org = make_org(private_pg.url)
    key = org.key(rate_limit=1_000_000)
    return server, private_pg, private_redis, org, key


FAULTS = {
    "postgres_restart": lambda server, pg, redis: postgres_restart(pg),
    "redis_kill_restart": lambda server, pg, redis: redis_kill_restart(redis),
    "worker_sigkill": lambda server, pg, redis: worker_kill(server),
    "service_sigterm_restart": lambda server, pg, redis: service_sigterm_restart(server),
}


@pytest.mark.parametrize("fault_name", list(FAULTS))
def test_fault(chaos_stack, fault_name, capsys):
    server, pg, redis, org, key = chaos_stack
    fault = FAULTS[fault_name](server, pg, redis)
    run = run_fault(server.url, key, fault, rate=RATE, duration_s=DURATION_S, fault_at_s=FAULT_AT_S)
    report = audit(pg.url, run, org.org_id)
    with capsys.disabled():
        print("\nchaos: " + report.line())
    assert report.lost == 0
    assert not report.problems, "\n".join(report.problems)
    assert report.by_status.get("201", 0) > 0 and report.by_status.get("200", 0) > 0
