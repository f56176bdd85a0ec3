"""The OpenAPI spec: the committed docs/openapi.json is what the server serves, and schemathesis, generating
requests from it, gets no 5xx (bounded example count)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tanuki_ollama.server.app import create_app
from tanuki_ollama.server.config import ServeConfig
from tanuki_ollama.server.store import RateLimit, open_store

from .helpers import PacedEngine

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_committed_spec_is_the_served_spec(serve):
    url = serve(PacedEngine(delay_s=0))
    served = httpx.get(f"{url}/openapi.json").json()
    committed = json.loads(SPEC.read_text())
    assert served == committed, "docs/openapi.json is stale: regenerate with `tanuki serve --openapi > docs/openapi.json`"
    assert {"/api/chat", "/api/generate", "/api/show", "/api/tags", "/api/embed", "/api/ps", "/api/version",
            "/v1/chat/completions", "/v1/models"} <= set(served["paths"])


def _app():
    engine = PacedEngine(["a short answer", '{"name": "x"}'], models=["paced", "tanuki-micro"], delay_s=0)
    config = ServeConfig(rate_limit=RateLimit(requests=0, tokens=0), max_concurrency=4, max_queue=16,
                         allowed_hosts=["testserver"])  # the ASGI test client's Host
    return create_app(config, engine, open_store("sqlite:///:memory:"))


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@pytest.mark.slow
@schema.exclude(path="/").parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case):
    case.call_and_validate(checks=[not_a_server_error])
