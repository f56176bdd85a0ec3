"""Two `tanuki serve` replicas (real processes on loopback) sharing one store, PostgreSQL or Redis:

- a key revoked (with `tanuki keys revoke`, on the shared store) is refused by both replicas at once;
- one key's rate limit holds across replicas (requests alternate between them);
- a replica killed (SIGKILL) in the middle of a streamed team run loses no journal entry: every event the client
  had received is in the journal, read through the other replica.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tanuki_ollama.ollama_server import free_port, spawn_logged, stop_process
from tanuki_ollama.server.store import open_store
from tests.scale.conftest import fresh_postgres_db, fresh_redis_db

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "buggy-calculator"
RPM = 5


@dataclass
class Replica:
    url: str
    proc: object
    log: Path


@pytest.fixture(scope="module", params=["postgresql", "redis"])
def store_url(request) -> str:
    if request.param == "postgresql":
        return fresh_postgres_db(request.getfixturevalue("postgres_server"))
    return fresh_redis_db(request.getfixturevalue("redis_server"))


@pytest.fixture(scope="module")
def replicas(store_url, tmp_path_factory):
    """Two replicas per store, shared by this module's tests (the kill test, last, ends replica a)."""
    started: list[Replica] = []
    tmp_path = tmp_path_factory.mktemp("replicas")

    def start(name: str) -> Replica:
        port = free_port()
        argv = [sys.executable, "-m", "tanuki_ollama", "serve", "--host", "127.0.0.1", "--port", str(port),
                "--engine", "tests.scale.helpers:SlowEngine", "--engine-opt", "delay_s=0.4", "--store", store_url,
                "--auth", "--workspace", str(EXAMPLE), "--rpm", str(RPM), "--tpm", "0", "--plain-logs"]
        log = tmp_path / f"{name}.log"
        env = os.environ | {"TANUKI_HOME": str(tmp_path / name)}
        rep = Replica(f"http://127.0.0.1:{port}", spawn_logged(argv, log, cwd=ROOT, env=env), log)
        started.append(rep)
        return rep

    a, b = start("a"), start("b")
    for rep in (a, b):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert rep.proc.poll() is None, rep.log.read_text()[-2000:]
            try:
                if httpx.get(f"{rep.url}/api/version", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail(f"replica did not start: {rep.log.read_text()[-2000:]}")
    yield a, b
    for rep in started:
        stop_process(rep.proc)


def _auth(secret: str) -> dict:
    return {"authorization": f"Bearer {secret}"}


def test_revoked_on_one_is_refused_by_the_other_at_once(replicas, store_url):
    from click.testing import CliRunner

    from tanuki_ollama.cli.keys_cmd import keys_group

    a, b = replicas
    key, secret = open_store(store_url).create_key("ci", ["models"])
    assert httpx.get(f"{a.url}/api/tags", headers=_auth(secret)).status_code == 200
    assert httpx.get(f"{b.url}/api/tags", headers=_auth(secret)).status_code == 200
    res = CliRunner().invoke(keys_group, ["revoke", key.id, "--store", store_url], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    for rep in (b, a):  # no wait, no cache to expire
        r = httpx.get(f"{rep.url}/api/tags", headers=_auth(secret))
        assert r.status_code == 401 and "revoked" in r.text


def test_rate_limit_holds_across_replicas(replicas, store_url):
    a, b = replicas
    _, secret = open_store(store_url).create_key("ci", ["models"])
    if time.time() % 60 > 50:  # keep the burst inside one rate window (fixed one-minute windows)
        time.sleep(60.5 - time.time() % 60)
    codes = [httpx.get(f"{rep.url}/api/tags", headers=_auth(secret)).status_code for rep in (a, b) * RPM]
    assert codes.count(200) == RPM and codes.count(429) == RPM  # RPM per key, not per replica
    assert codes[:RPM] == [200] * RPM


def test_replica_killed_mid_stream_loses_no_journal_entry(replicas, store_url):
    a, b = replicas
    _, secret = open_store(store_url).create_key("ci", ["chat", "tools"])
    seen: list[str] = []
    body = {"model": "tanuki", "messages": [{"role": "user", "content": "fix add in calculator.py"}]}
    with httpx.stream("POST", f"{a.url}/api/chat", json=body, headers=_auth(secret), timeout=60) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            chunk = json.loads(line)
            assert not chunk["done"], "the run ended before the replica was killed: slow the engine down"
            seen.append(chunk["message"]["content"])
            if len(seen) == 6:
                os.kill(a.proc.pid, signal.SIGKILL)
                break
    a.proc.wait(10)
    runs = httpx.get(f"{b.url}/api/runs", headers=_auth(secret)).json()["runs"]
    assert len(runs) == 1
    events = httpx.get(f"{b.url}/api/runs/{runs[0]}", headers=_auth(secret)).json()["events"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    journal = [f"[{e['kind']}] {e['data']['message']}" for e in events]
    for line in seen:  # every chunk the client got is in the journal, in the same order
        assert line.split(" ", 1)[1].rstrip("\n") in journal
    assert len(journal) >= len(seen)
