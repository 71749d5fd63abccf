"""The OpenAPI document: valid, complete, true to live answers; schemathesis; /docs renders."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate

from lead2inbound import openapi
from lead2inbound.app import create_app
from lead2inbound.config import Config
from tests.support.stack import QUICKSTART, auth, lead, make_org, service_env

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def service(server_factory, database_url, redis_url):
    return server_factory(service_env(database_url, redis_url))


def offline_app():
    return create_app(
        Config(database_url="postgresql://x/y", redis_url="redis://x", key_pepper="p")
    )


def test_every_routed_method_is_documented():
    app = offline_app()
    doc = openapi.build(app)
    validate(doc)
    missing = []
    for template, resource in openapi.routes(app):
        for method in openapi.routed_methods(resource):
            if method not in doc["paths"].get(template, {}):
                missing.append(f"{method.upper()} {template}")
    assert not missing, f"add an `openapi` entry next to these resources: {missing}"
    post = doc["paths"]["/v1/leads"]["post"]
    assert {"201", "200", "400", "401", "403", "409", "413", "415", "422", "429", "503"} <= set(
        post["responses"]
    )
    assert {"bearerAuth", "basicAuth"} == set(doc["components"]["securitySchemes"])
    lead_in = doc["components"]["schemas"]["LeadIn"]
    assert lead_in["required"] == ["phone"]
    assert all("description" in p for p in lead_in["properties"].values())
    assert "X-RateLimit-Remaining" in post["responses"]["201"]["headers"]
    assert any(p["name"] == "Idempotency-Key" for p in post["parameters"])


def _schema_for(doc, path, method, status, media):
    resp = doc["paths"][path][method]["responses"][str(status)]
    schema = resp["content"][media]["schema"]
    return {**schema, "components": doc["components"]}


def test_live_answers_match_the_document(service, database_url):
    """Every documented answer shape is checked against a live answer of that status."""
    doc = httpx.get(f"{service.url}/openapi.json").json()
    validate(doc)
    org = make_org(database_url)
    key = org.key()
    seen: set[tuple[str, str, int]] = set()

    def check(method, path, resp, template=None):
        template = template or path
        media = resp.headers["content-type"].split(";")[0]
        documented = doc["paths"][template][method]["responses"]
        assert str(resp.status_code) in documented, (method, path, resp.status_code)
        entry = documented[str(resp.status_code)]
        for name, header in entry.get("headers", {}).items():
            if header.get("required"):
                assert name in resp.headers, (path, resp.status_code, name)
        if media in ("application/json", "application/problem+json"):
            schema = _schema_for(doc, template, method, resp.status_code, media)
            jsonschema.validate(resp.json(), schema)
        seen.add((method, template, resp.status_code))

    u = service.url
    h = auth(key)
    check("post", "/v1/leads", httpx.post(f"{u}/v1/leads", json=QUICKSTART, headers=h))
    check("post", "/v1/leads", httpx.post(f"{u}/v1/leads", json=QUICKSTART, headers=h))
    check("post", "/v1/leads", httpx.post(f"{u}/v1/leads", json={"phone": "1"}, headers=h))
    check(
        "post",
        "/v1/leads",
        httpx.post(
            f"{u}/v1/leads", content=b"{", headers={**h, "Content-Type": "application/json"}
        ),
    )
    check(
        "post",
        "/v1/leads",
        httpx.post(f"{u}/v1/leads", content=b"x", headers={**h, "Content-Type": "text/plain"}),
    )
    check("post", "/v1/leads", httpx.post(f"{u}/v1/leads", json=QUICKSTART))
    check(
        "post",
        "/v1/leads",
        httpx.post(f"{u}/v1/leads", json=QUICKSTART, headers=auth(org.key("read"))),
    )
    slow = org.key(rate_limit=1)
    httpx.post(f"{u}/v1/leads", json=lead("5125550901"), headers=auth(slow))
    check(
        "post",
        "/v1/leads",
        httpx.post(f"{u}/v1/leads", json=lead("5125550902"), headers=auth(slow)),
    )
    batch = {"leads": [QUICKSTART, lead("12"), lead("5125550903")]}
    check("post", "/v1/leads/batch", httpx.post(f"{u}/v1/leads/batch", json=batch, headers=h))
    check("post", "/v1/leads/batch", httpx.post(f"{u}/v1/leads/batch", json={}, headers=h))
    csv_h = {**h, "Content-Type": "text/csv"}
    check(
        "post",
        "/v1/leads/import",
        httpx.post(f"{u}/v1/leads/import", content="phone\n5125550904\n12\n", headers=csv_h),
    )
    check(
        "post",
        "/v1/leads/import",
        httpx.post(f"{u}/v1/leads/import", content="name\nx\n", headers=csv_h),
    )
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"):
        check("get", path, httpx.get(f"{u}{path}"))
    check("get", "/docs/assets/{name}", httpx.get(f"{u}/docs/assets/swagger-ui-bundle.js"))
    check("get", "/docs/assets/{name}", httpx.get(f"{u}/docs/assets/nope.js"))
    for status in (200, 201, 400, 401, 403, 415, 422, 429):
        assert any(s == status for _, _, s in seen), status


def test_schemathesis_all_checks(service, database_url):
    """schemathesis with every check against every operation, a valid key via --auth."""
    key = make_org(database_url).key()
    exe = Path(sys.executable).with_name("schemathesis")
    cmd = [
        str(exe),
        "run",
        f"{service.url}/openapi.json",
        "--checks",
        "all",
        # ST202 (schema-valid data must be accepted) cannot hold here, see docs/openapi.md:
        # phone possibility is not expressible in JSON Schema, and a generated Idempotency-Key
        # reused with another body is a 422 by contract.
        "--exclude-checks",
        "positive_data_acceptance",
        "--max-examples",
        os.environ.get("L2I_SCHEMATHESIS_EXAMPLES", "25"),
        "--auth",
        f"{key}:",
        "--workers",
        "1",
        "--seed",
        "1",
        "--no-color",
        "--suppress-health-check",
        "all",
    ]
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=240, cwd=tempfile.gettempdir()
    )
    assert out.returncode == 0, out.stdout[-8000:] + out.stderr[-2000:]


# --- /docs in a real headless Chromium --------------------------------------------------------


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update"], capture_output=True, env=env, timeout=300)
        subprocess.run(
            ["apt-get", "install", "-y", "chromium"], capture_output=True, env=env, timeout=600
        )
        return shutil.which("chromium")
    return None


def _run_chromium(browser: str, *args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--virtual-time-budget=15000",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )


def test_docs_page_renders_offline(service):
    browser = _chromium()
    if browser is None:
        pytest.skip("Chromium is not installed and cannot be installed here (needs root+apt)")
    html = httpx.get(f"{service.url}/docs").text
    assert "http://" not in html and "https://" not in html, "the page loads nothing from outside"
    dom = _run_chromium(browser, "--dump-dom", f"{service.url}/docs#/leads/post_v1_leads")
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = dom.stdout
    Path(tempfile.gettempdir(), "l2i-docs-dom.html").write_text(text)
    assert "opblock-summary-path" in text and "/v1/leads" in text, text[-3000:]
    assert "LeadIn" in text and "consent_timestamp" in text
    if os.environ.get("L2I_DOCS_SCREENSHOT"):
        shot = _run_chromium(
            browser,
            f"--screenshot={ROOT / 'docs' / 'api-docs.png'}",
            "--window-size=1280,1600",
            f"{service.url}/docs#/leads/post_v1_leads",
        )
        assert shot.returncode == 0, shot.stderr[-2000:]
