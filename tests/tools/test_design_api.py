"""design_api against a local HTTP server speaking the Figma REST shape (wire-level: headers, paths, retries)."""

from __future__ import annotations

import time

import pytest
from werkzeug import Response

from tanuki_ollama.tools import ToolContext, ToolRegistry
from tanuki_ollama.tools.design_api import DesignAPI, DesignAPIError, FigmaClient

FILE = {"name": "Checkout", "lastModified": "2026-11-01T10:00:00Z", "version": "42",
        "document": {"id": "0:0", "name": "Document", "type": "DOCUMENT", "children": [
            {"id": "1:1", "name": "Page 1", "type": "CANVAS", "children": [
                {"id": "1:2", "name": "Pay button", "type": "FRAME",
                 "absoluteBoundingBox": {"x": 0, "y": 0, "width": 120, "height": 40}}]}]}}


@pytest.fixture
def dctx(workspace, httpserver):
    return ToolContext(workspace=workspace, timeout_s=10,
                       env={"FIGMA_TOKEN": "tok-123", "FIGMA_API_URL": httpserver.url_for("/")})


def test_file_outline_with_token_header(registry, dctx, httpserver):
    httpserver.expect_request("/v1/files/AbC123", method="GET", headers={"X-Figma-Token": "tok-123"},
                              query_string="depth=3").respond_with_json(FILE)
    obs = registry.call("design_api", {"file_key": "AbC123", "depth": 3}, dctx, allowed=["design_api"])
    assert obs.ok and obs.summary == "file 'Checkout': 1 page(s)"
    page = obs.data["document"]["children"][0]
    assert page["children"][0] == {"id": "1:2", "name": "Pay button", "type": "FRAME", "size": [120, 40]}
    httpserver.check_assertions()


def test_nodes_and_missing_ids(registry, dctx, httpserver):
    httpserver.expect_request("/v1/files/AbC123/nodes", query_string="ids=1%3A2%2C9%3A9").respond_with_json(
        {"name": "Checkout", "nodes": {"1:2": {"document": FILE["document"]["children"][0]["children"][0]},
                                       "9:9": None}})
    obs = registry.call("design_api", {"action": "nodes", "file_key": "AbC123", "ids": ["1:2", "9:9"]}, dctx)
    assert not obs.ok and obs.data["missing"] == ["9:9"] and obs.data["nodes"]["1:2"]["name"] == "Pay button"


def test_retries_honour_retry_after(httpserver):
    httpserver.expect_ordered_request("/v1/files/K").respond_with_response(
        Response('{"status": 429, "err": "Rate limit"}', status=429, headers={"Retry-After": "1"}))
    httpserver.expect_ordered_request("/v1/files/K").respond_with_response(Response("oops", status=503))
    httpserver.expect_ordered_request("/v1/files/K").respond_with_json(FILE)
    waits: list[float] = []
    with FigmaClient("t", httpserver.url_for("/"), retries=3, backoff_s=0.01, sleep=waits.append) as client:
        assert client.file("K")["name"] == "Checkout"
    assert waits == [1.0, 0.02]  # Retry-After first, then exponential backoff
    httpserver.check_assertions()


def test_errors_that_retrying_cannot_fix(httpserver):
    httpserver.expect_request("/v1/files/K").respond_with_json({"status": 403, "err": "Invalid token"}, status=403)
    with FigmaClient("bad", httpserver.url_for("/"), sleep=lambda s: None) as client:
        with pytest.raises(DesignAPIError, match="403") as info:
            client.file("K")
        assert "access" in info.value.hint
        with pytest.raises(DesignAPIError, match="bad file key"):
            client.file("../admin")
    with pytest.raises(DesignAPIError, match="no Figma token"):
        FigmaClient(None)


def test_persistent_5xx_becomes_a_failed_observation(dctx, httpserver):
    httpserver.expect_request("/v1/files/K").respond_with_data("down", status=502)
    reg = ToolRegistry([DesignAPI()], backoff_s=0.01)
    t0 = time.monotonic()
    obs = reg.call("design_api", {"file_key": "K"}, dctx, retries=1)
    assert not obs.ok and obs.attempts == 2 and "502" in obs.error and time.monotonic() - t0 < 10
    assert len(httpserver.log) == 4  # 2 registry attempts x 2 client attempts
