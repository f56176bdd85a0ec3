"""The teacher step on several endpoints at once, each within its own concurrency limit, with fail-over.

The endpoints are real HTTP servers on loopback (threaded pytest-httpserver) answering like Ollama's /api/chat.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from tanuki_ollama.errors import ConfigError
from tanuki_ollama.factory.data import store
from tanuki_ollama.factory.data.teacher import TeachConfig, parse_endpoint, teach
from tanuki_ollama.ollama_server import free_port
from tests.factory_data.test_teacher import _judge_all

N = 12


@pytest.fixture
def dataset(tmp_path):
    rows = [{"id": f"ex{i:02d}", "agent": "tanuki-coder", "strategy": "implement_function", "source": "t",
             "difficulty": i / N, "messages": [
                 {"role": "system", "content": "You write code."}, {"role": "user", "content": f"task {i}"},
                 {"role": "assistant", "content": json.dumps({"thought": "t", "steps": [
                     {"thought": "run", "action": "run_tests", "input": "", "observation": "ok"}],
                     "answer": {"code": f"x = {i}"}})}]} for i in range(N)]
    root = tmp_path / "ds" / "v-test"
    store.write_shards(root / "tanuki-coder", "train", rows)
    (root / "manifest.json").write_text(json.dumps({"version": "v-test", "agents": {"tanuki-coder": {}}}))
    return root


class Teacher:
    """A threaded fake teacher that records its peak number of concurrent requests."""

    def __init__(self, delay: float = 0.15):
        self.server = HTTPServer(port=free_port(), threaded=True)
        self.delay, self.inflight, self.peak, self.served = delay, 0, 0, 0
        self.lock = threading.Lock()
        self.server.expect_request("/api/chat", method="POST").respond_with_handler(self.handle)
        self.server.start()
        self.url = self.server.url_for("/").rstrip("/")

    def handle(self, request):
        with self.lock:
            self.inflight += 1
            self.peak = max(self.peak, self.inflight)
        time.sleep(self.delay)
        body = request.get_json()
        with self.lock:
            self.inflight -= 1
            self.served += 1
        return Response(json.dumps({"model": body["model"], "message": {
            "role": "assistant", "content": json.dumps(_judge_all(body))}, "done": True}),
            content_type="application/json")

    def stop(self):
        self.server.clear()
        if self.server.is_running():
            self.server.stop()


@pytest.fixture
def teachers():
    ts = [Teacher(), Teacher()]
    yield ts
    for t in ts:
        t.stop()


def test_several_endpoints_share_the_work_within_their_limits(dataset, teachers, tmp_path):
    a, b = teachers
    cfg = TeachConfig(model="teacher-x", fraction=1.0, rps=0, retries=0, endpoints=[
        f"{a.url},concurrency=1", f"{b.url},concurrency=3"])
    res = teach(dataset, cfg, out=tmp_path / "out", progress=False)
    assert res.judged == N and res.failed == 0
    assert a.peak == 1 and 1 < b.peak <= 3  # each endpoint within its own limit, the larger one used in parallel
    assert a.served + b.served == N and b.served > a.served > 0
    manifest = json.loads((res.path / "manifest.json").read_text())
    assert [(e["concurrency"], e["calls"]) for e in manifest["endpoints"]] == [(1, a.served), (3, b.served)]


def test_a_dead_endpoint_is_rested_and_its_work_moves(dataset, teachers, tmp_path):
    a, _ = teachers
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    cfg = TeachConfig(model="teacher-x", fraction=1.0, rps=0, retries=0, endpoints=[dead, f"{a.url},concurrency=2"])
    res = teach(dataset, cfg, out=tmp_path / "out", progress=False)
    assert res.judged == N and a.served == N


def test_endpoint_syntax():
    e = parse_endpoint("http://gpu:11434,rps=3", TeachConfig(concurrency=5))
    assert (e.endpoint, e.rps, e.concurrency) == ("http://gpu:11434", 3.0, 5)
    for bad in ("gpu:11434", "http://x,burst=2", "http://x,rps=fast"):
        with pytest.raises(ConfigError):
            parse_endpoint(bad, TeachConfig())
