"""The lead-source tests' fixtures: `service`, a server that can seal source secrets, and `org`.

A test module takes them with

    from tests.support.source_fixtures import source_org, source_service  # noqa: F401

(pytest, not the module, uses the names, hence the noqa).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.sources import SECRET_KEY
from tests.support.stack import Org, make_org, service_env


@pytest.fixture(name="service")
def source_service(server_factory: Any, database_url: str, redis_url: str) -> Any:
    return server_factory(service_env(database_url, redis_url, L2I_SECRET_KEY=SECRET_KEY))


@pytest.fixture(name="org")
def source_org(database_url: str) -> Org:
    return make_org(database_url)
