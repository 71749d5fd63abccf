"""The OCI image, built and run: `make image` (the host-built abi3 wheel on a Debian base made by
mmdebstrap, no registry needed), then containers of it against the test Postgres and Redis.

The engine is Debian's podman, rootful, with the project's own vfs storage under
target/container/ and runc (see the Makefile's PODMAN_FLAGS and docs/operations.md). Containers
use the host's network (`--network host`) and bind 127.0.0.1 only: the port the service listens
on is the one a load balancer would target. Every container runs with a read-only root file
system the way an operator would run it with Docker: `--read-only` plus a tmpfs on /tmp.

Everything a test starts carries the label l2i-test=<this run's token>; the session's teardown
removes every container and volume with it. The whole module skips, saying why, only when no
engine can run here (no podman, or `podman info` fails).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support import free_port
from tests.support.stack import PEPPER, QUICKSTART, auth, fetch, lead, make_org, service_env

ROOT = Path(__file__).resolve().parents[1]
CONTAINER_DIR = ROOT / "target" / "container"
IMAGE = os.environ.get("L2I_TEST_IMAGE", "localhost/lead2inbound:dev")
RUN_TOKEN = secrets.token_hex(4)
LABEL = f"l2i-test={RUN_TOKEN}"
UID = "10001"


def podman_flags() -> list[str]:
    """The Makefile's PODMAN_FLAGS (exported to the tests by `make test`), or the same default."""
    if os.environ.get("PODMAN_FLAGS"):
        return shlex.split(os.environ["PODMAN_FLAGS"])
    digest = hashlib.sha1(str(CONTAINER_DIR).encode(), usedforsecurity=False).hexdigest()
    run = f"/run/l2i-podman/{digest[:12]}"
    return [
        *("--storage-driver", "vfs", "--runtime", "runc", "--cgroup-manager", "cgroupfs"),
        *("--events-backend", "file", "--root", str(CONTAINER_DIR / "storage")),
        *("--runroot", f"{run}/run", "--tmpdir", f"{run}/tmp"),
    ]


def ulimits() -> list[str]:
    """Limits at or below this process's own (podman's defaults are refused here)."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    nofile = 16384 if soft == resource.RLIM_INFINITY else min(soft, 16384)
    return ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", "nproc=4096:4096"]


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        ["podman", *podman_flags(), *args], capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"podman {' '.join(args[:3])} ... exited {proc.returncode}:\n{proc.stderr[-3000:]}"
        )
    return proc


@dataclass
class Container:
    name: str
    port: int
    logs_seen: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        proc = podman("logs", self.name, check=False)
        return proc.stdout + proc.stderr

    def state(self, fmt: str) -> str:
        return podman("inspect", "--format", fmt, self.name).stdout.strip()

    def wait_ready(self, timeout: float = 90) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.state("{{.State.Running}}") != "true":
                raise AssertionError(f"{self.name} exited:\n{self.logs()[-4000:]}")
            with contextlib.suppress(httpx.HTTPError):
                resp = httpx.get(f"{self.url}/readyz", timeout=2)
                if resp.status_code == 200:
                    return resp.json()
            time.sleep(0.3)
        raise AssertionError(f"{self.name} not ready in {timeout}s:\n{self.logs()[-4000:]}")

    def stop(self, grace: int = 40) -> float:
        started = time.monotonic()
        podman("stop", "--time", str(grace), self.name, timeout=grace + 30)
        return time.monotonic() - started


def container_args(env: dict[str, str], *extra: str) -> list[str]:
    """`podman run` options every test container gets: the label, host network, the limits,
    a read-only root file system with a tmpfs on /tmp (as `docker run --read-only --tmpfs /tmp`
    would have it), and the environment."""
    args = ["--label", LABEL, "--network", "host", *ulimits()]
    args += ["--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp:rw,size=64m,mode=1777"]
    for k, v in env.items():
        args += ["-e", f"{k}={v}"]
    return [*args, *extra]


# --- the image, built once per session -----------------------------------------------------------
@pytest.fixture(scope="session")
def image() -> Iterator[str]:
    if shutil.which("podman") is None:
        pytest.skip(
            "no container engine: podman is not installed (`make container-deps` installs "
            "Debian's podman, runc and mmdebstrap as root)"
        )
    info = podman("info", "--format", "{{.Host.OCIRuntime.Name}}", check=False, timeout=60)
    if info.returncode != 0:
        pytest.skip(f"no container engine can run here: `podman info` failed:\n{info.stderr}")
    started = time.monotonic()
    subprocess.run(
        ["make", "--no-print-directory", "image", f"IMAGE={IMAGE}"],
        cwd=ROOT,
        check=True,
        timeout=1800,
    )
    size = int(podman("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout)
    print(f"\nimage: {IMAGE} ready in {time.monotonic() - started:.1f}s, {size / 1e6:.0f} MB")
    try:
        yield IMAGE
    finally:
        # whatever a test left behind (a failed start, an interrupted test)
        listed = podman("ps", "-aq", "--filter", f"label={LABEL}", check=False).stdout.split()
        if listed:
            podman("rm", "--force", "--time", "0", *listed, check=False)
        listed = podman("volume", "ls", "-q", "--filter", f"label={LABEL}", check=False)
        if listed.stdout.split():
            podman("volume", "rm", "--force", *listed.stdout.split(), check=False)


@pytest.fixture
def start(image: str) -> Iterator:
    """start(env, *podman_run_options, command=[...]) -> a running Container, removed at the end."""
    started: list[Container] = []

    def _start(env: dict[str, str], *extra: str, command: tuple[str, ...] = ()) -> Container:
        port = int(env.get("L2I_PORT") or free_port())
        env = {"L2I_HOST": "127.0.0.1", "L2I_PORT": str(port), **env}
        name = f"l2i-test-{RUN_TOKEN}-{secrets.token_hex(3)}"
        podman("run", "--detach", "--name", name, *container_args(env, *extra), image, *command)
        box = Container(name, port)
        started.append(box)
        return box

    yield _start
    for box in started:
        podman("rm", "--force", "--time", "0", box.name, check=False)


def one_shot(image: str, env: dict[str, str], *command: str) -> subprocess.CompletedProcess:
    name = f"l2i-test-{RUN_TOKEN}-{secrets.token_hex(3)}"
    return podman("run", "--rm", "--name", name, *container_args(env), image, *command, check=False)


def curl_quickstart(url: str, key: str) -> tuple[int, dict]:
    """The README's quickstart request, sent by curl exactly as written (httpx without curl)."""
    body = json.dumps(QUICKSTART, indent=2)
    if shutil.which("curl"):
        out = subprocess.run(
            [
                *("curl", "-sS", "-w", "\n%{http_code}", "-X", "POST", f"{url}/v1/leads"),
                *("-H", f"Authorization: Bearer {key}", "-H", "Content-Type: application/json"),
                *("-d", body),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
        text, code = out.rsplit("\n", 1)
        return int(code), json.loads(text)
    resp = httpx.post(
        f"{url}/v1/leads",
        content=body,
        headers={**auth(key), "Content-Type": "application/json"},
    )
    return resp.status_code, resp.json()


@pytest.fixture
def fresh_database(pg_server) -> Iterator[str]:
    """An empty database (no schema): the image's own `l2i migrate` builds it."""
    url = pg_server.create_database()
    try:
        yield url
    finally:
        with contextlib.suppress(Exception):
            pg_server.drop_database(url.rsplit("/", 1)[1])


# --- the tests -----------------------------------------------------------------------------------
def test_image_holds_no_compiler_and_names_its_non_root_user(image):
    config = json.loads(podman("image", "inspect", "--format", "{{json .Config}}", image).stdout)
    assert config["User"] == f"{UID}:{UID}"
    assert config["Entrypoint"] == ["l2i"] and config["Cmd"] == ["serve"]
    assert config.get("StopSignal") == "SIGTERM"
    # kept by the docker image format (the OCI format would drop the HEALTHCHECK)
    check = podman("image", "inspect", "--format", "{{json .Config.Healthcheck}}", image).stdout
    assert "/healthz" in " ".join(json.loads(check)["Test"]), check
    found = podman(
        *("run", "--rm", "--label", LABEL, "--network", "none", *ulimits()),
        *("--entrypoint", "sh", image, "-c"),
        "for t in cc gcc c++ clang ld rustc cargo maturin; do command -v $t; done; true",
    ).stdout.split()
    assert found == [], f"the runtime image carries a toolchain: {found}"
    wheel = podman(
        *("run", "--rm", "--label", LABEL, "--network", "none", *ulimits()),
        *("--entrypoint", "python", image, "-c"),
        "import lead2inbound._core as c, importlib.metadata as m; print(c.__file__); "
        "print(m.distribution('lead2inbound').read_text('WHEEL'))",
    ).stdout
    assert "/opt/l2i/lib/" in wheel and "abi3" in wheel and "manylinux" in wheel, wheel


def test_migrate_one_shot_then_quickstart_health_and_read_only_non_root(
    image, start, fresh_database, redis_url
):
    env = service_env(fresh_database, redis_url, L2I_LOG_LEVEL="info", L2I_WORKERS="2")
    # serve refuses an unmigrated database and says what to do
    early = one_shot(image, env, "serve")
    assert early.returncode != 0 and "run `l2i migrate` first" in early.stderr, early.stderr
    migrated = one_shot(image, env, "migrate")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert "applied 0001_init" in migrated.stderr, migrated.stderr
    again = one_shot(image, env, "migrate")  # a rerun (every release's deploy) is a no-op
    assert again.returncode == 0 and "applied" not in again.stderr, again.stderr

    box = start(env)
    ready = box.wait_ready()
    assert ready["status"] == "ready" and ready["checks"]["redis"] == "ok", ready
    key = make_org(fresh_database).key()
    code, body = curl_quickstart(box.url, key)
    assert code == 201, body
    rows = fetch(fresh_database, "SELECT phone FROM leads WHERE lead_id = %s", body["lead_id"])
    assert rows == [("+15551234567",)], rows

    # the image's HEALTHCHECK, run by the engine (no systemd timer here: run on demand)
    health = podman("healthcheck", "run", box.name, check=False)
    assert health.returncode == 0, health.stdout + health.stderr
    assert box.state("{{.State.Health.Status}}") == "healthy"

    # PID 1 (l2i -> Granian) and its workers run as the image's user; the root fs is read-only
    status = podman("exec", box.name, "cat", "/proc/1/status").stdout
    uids = re.search(r"^Uid:\s+(\d+)\s+(\d+)", status, re.MULTILINE)
    assert uids and uids.groups() == (UID, UID), status
    assert box.state("{{.HostConfig.ReadonlyRootfs}}") == "true"
    write = podman("exec", box.name, "touch", "/opt/l2i/probe", check=False)
    assert write.returncode != 0 and "Read-only file system" in write.stderr, write.stderr
    as_root = podman("exec", "--user", "0", box.name, "touch", "/etc/probe", check=False)
    assert as_root.returncode != 0 and "Read-only file system" in as_root.stderr


def test_sigterm_under_a_stream_of_posts_loses_no_lead_and_drops_no_request(
    image, start, database_url, redis_url
):
    """`podman stop` (SIGTERM, then SIGKILL after 40 s) while 4 clients post back to back, each
    request on a connection of its own. Every request is refused at connect (the listener is
    closed: not accepted, a load balancer retries it elsewhere), or answered 201, or closed with
    not one byte of answer and not stored: at SIGTERM Granian closes a connection it has accepted
    but whose request it has not begun to handle (0 to 2 of some 700 posts per run here; a poster
    retries it, safely with an Idempotency-Key). Nothing else: no timeout, no cut-off answer, no
    5xx.
    Every 201 is a row in Postgres, and every row was answered 201 (so no request was taken in
    and then left without its answer)."""
    env = service_env(database_url, redis_url, L2I_WORKERS="2", L2I_SHUTDOWN_TIMEOUT_S="30")
    box = start(env)
    box.wait_ready()
    key = make_org(database_url).key()
    stop_at = threading.Event()
    finished = threading.Event()
    lock = threading.Lock()
    outcomes: Counter[str] = Counter()
    created: list[str] = []
    after_stop: Counter[str] = Counter()
    failures: list[str] = []
    unanswered: list[str] = []  # phones of the posts closed without an answer

    def client(i: int) -> None:
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(limits=limits, timeout=30, headers=auth(key)) as http:
            for n in range(20_000):
                if finished.is_set():
                    return
                stopping = stop_at.is_set()
                phone = f"5125{i}{n:05d}"
                try:
                    resp = http.post(f"{box.url}/v1/leads", json=lead(phone))
                except httpx.ConnectError:
                    with lock:
                        outcomes["refused"] += 1
                    time.sleep(0.01)
                    continue
                except httpx.HTTPError as exc:
                    if "without sending a response" in str(exc):  # not one byte of an answer
                        with lock:
                            outcomes["closed unread"] += 1
                            unanswered.append(f"+1{phone}")
                        continue
                    with lock:
                        outcomes[type(exc).__name__] += 1
                        failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                with lock:
                    outcomes[str(resp.status_code)] += 1
                    if stopping:
                        after_stop[str(resp.status_code)] += 1
                    if resp.status_code == 201:
                        created.append(resp.json()["lead_id"])
                    elif len(failures) < 5:
                        failures.append(f"{resp.status_code}: {resp.text[:200]}")

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with lock:
                if outcomes["201"] >= 200:
                    break
            time.sleep(0.1)
        stop_at.set()
        took = box.stop(grace=40)
        time.sleep(1)  # the clients keep posting to the stopped port for a second
    finally:
        finished.set()
        for t in threads:
            t.join(60)
    exit_code = box.state("{{.State.ExitCode}}")
    rows = {r[0] for r in fetch(database_url, "SELECT lead_id::text FROM leads")}
    print(
        f"\nstop under load: {dict(outcomes)}; answered after SIGTERM was sent: "
        f"{dict(after_stop)}; stop took {took:.2f}s, exit {exit_code}"
    )
    assert exit_code == "0", box.logs()[-3000:]
    assert outcomes["201"] >= 200 and outcomes["refused"] > 0, outcomes  # stopped under load
    assert set(outcomes) <= {"201", "refused", "closed unread"}, (outcomes, failures)
    assert len(created) == len(set(created)) == outcomes["201"]
    assert rows == set(created), (len(rows), len(created))
    stored = fetch(database_url, "SELECT count(*) FROM leads WHERE phone = ANY(%s)", unanswered)
    assert stored == [(0,)], unanswered


def test_two_containers_share_one_budget_and_one_duplicate_check(
    image, start, database_url, redis_url
):
    env = service_env(database_url, redis_url, L2I_WORKERS="1", L2I_REDIS_TIMEOUT_MS="2000")
    a, b = start(env), start(env)
    a.wait_ready()
    b.wait_ready()
    key = make_org(database_url).key(rate_limit=30)
    statuses: list[int] = []
    per_node = Counter()
    started = time.monotonic()
    with httpx.Client(timeout=30, headers=auth(key)) as http:
        for i in range(80):
            node = (a, b)[i % 2]
            resp = http.post(f"{node.url}/v1/leads", json=lead(f"51266{i:05d}"))
            statuses.append(resp.status_code)
            per_node[node.name] += resp.status_code == 201
    elapsed = time.monotonic() - started
    accepted = statuses.count(201)
    tolerance = int(elapsed / (60 / 30)) + 1  # GCRA refills one every 2 s (docs/rate-limits.md)
    print(f"\ntwo containers: 80 posts in {elapsed:.1f}s, {accepted} accepted (limit 30)")
    assert set(statuses) <= {201, 429}, statuses
    assert 30 <= accepted <= 30 + tolerance, (accepted, tolerance)
    assert all(per_node[n.name] > 0 for n in (a, b)), per_node
    assert fetch(database_url, "SELECT count(*) FROM leads") == [(accepted,)]

    other = make_org(database_url, "other").key()
    with httpx.Client(timeout=30, headers=auth(other)) as http:
        first = http.post(f"{a.url}/v1/leads", json=lead("5127779900"))
        second = http.post(f"{b.url}/v1/leads", json=lead("5127779900"))
    assert first.status_code == 201, first.text
    assert second.status_code == 200, second.text
    assert second.json()["outcome"] == "duplicate"
    assert second.json()["lead_id"] == first.json()["lead_id"]


def test_embedded_default_with_a_volume_for_the_data_dir(image, start):
    """No URLs: `l2i serve` starts Postgres and Redis inside the container, in L2I_DATA_DIR (a
    volume), as the non-root user, prints a key once; a second container on the same volume
    keeps the data, the pepper and the key."""
    volume = f"l2i-test-{RUN_TOKEN}-{secrets.token_hex(3)}"
    podman("volume", "create", "--label", LABEL, volume)
    mount = ("-v", f"{volume}:/var/lib/l2i")
    env = {"L2I_WORKERS": "1"}
    first = start(env, *mount)
    first.wait_ready(timeout=180)
    found = re.search(r"\b(l2i_live_[0-9A-Za-z_]+)", first.logs())
    assert found, first.logs()[-3000:]
    key = found.group(1)
    code, body = curl_quickstart(first.url, key)
    assert code == 201, body
    assert first.stop() < 35
    assert first.state("{{.State.ExitCode}}") == "0", first.logs()[-3000:]

    second = start(env, *mount)
    second.wait_ready(timeout=180)
    assert "Created org" not in second.logs()
    got = httpx.get(f"{second.url}/v1/leads/{body['lead_id']}", headers=auth(key), timeout=10)
    assert got.status_code == 200, got.text
    assert got.json()["phone"] == "+15551234567", got.json()


def test_embedded_default_without_a_volume_refuses_clearly(image):
    """No URLs and no volume on a read-only root: one line saying what to do, no traceback."""
    done = one_shot(image, {"L2I_WORKERS": "1"}, "serve")
    assert done.returncode != 0, done.stdout + done.stderr
    assert "L2I_DATA_DIR /var/lib/l2i is not writable" in done.stderr, done.stderr[-3000:]
    assert "Mount a volume" in done.stderr
    assert "Traceback" not in done.stderr, done.stderr[-3000:]


# --- compose.yaml --------------------------------------------------------------------------------
COMPOSE_SPEC_WHEEL = "docker-compose==1.29.2"  # the last release shipping compose_spec.json


def compose_schema() -> dict:
    """The Compose specification's JSON schema as docker-compose 1.29.2 ships it, fetched once
    from the package index into target/compose-spec/ by pip (the ordinary client)."""
    cache = ROOT / "target" / "compose-spec"
    wheels = sorted(cache.glob("docker_compose-*.whl"))
    if not wheels:
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"),
                *("--only-binary=:all:", "--dest", str(cache), COMPOSE_SPEC_WHEEL),
            ],
            check=True,
            timeout=300,
        )
        wheels = sorted(cache.glob("docker_compose-*.whl"))
    with zipfile.ZipFile(wheels[-1]) as zf:
        return json.loads(zf.read("compose/config/compose_spec.json"))


def test_compose_yaml_matches_the_compose_schema_and_needs_the_pepper():
    import jsonschema

    doc = yaml.safe_load((ROOT / "compose.yaml").read_text())
    validator = jsonschema.Draft201909Validator(compose_schema())
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
    assert errors == []
    # the check can fail: a misspelt key is refused
    doc["services"]["intake"]["stop_grace_priod"] = "40s"
    assert any("stop_grace_priod" in e.message for e in validator.iter_errors(doc))

    here = Path(sys.executable).parent
    tool = shutil.which("podman-compose", path=f"{here}{os.pathsep}{os.environ['PATH']}")
    if tool is None:
        pytest.skip("podman-compose is not installed (the dev extras install it)")
    base = {k: v for k, v in os.environ.items() if k != "L2I_KEY_PEPPER"}
    cmd = [tool, "-f", str(ROOT / "compose.yaml"), "config"]
    missing = subprocess.run(cmd, env=base, capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0 and "set L2I_KEY_PEPPER" in missing.stderr, missing.stderr
    rendered = subprocess.run(
        cmd, env={**base, "L2I_KEY_PEPPER": PEPPER}, capture_output=True, text=True, timeout=60
    )
    assert rendered.returncode == 0, rendered.stderr
    services = yaml.safe_load(rendered.stdout)["services"]
    for name in ("migrate", "intake"):
        assert services[name]["environment"]["L2I_KEY_PEPPER"] == PEPPER
        assert services[name]["read_only"] is True
    assert services["intake"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
