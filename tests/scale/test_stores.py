"""The Store protocol on real SQLite, PostgreSQL and Redis servers: keys, atomic rate windows across processes,
journals that never lose or duplicate an entry under concurrent appends."""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ThreadPoolExecutor

import pytest

from tanuki_ollama.server.store import RateLimit, Store, open_store


@pytest.fixture
def store(shared_store_url):
    s = open_store(shared_store_url)
    yield s
    s.close()


def test_open_store_picks_the_backend(store, shared_store_url):
    assert isinstance(store, Store) and store.ping()
    kind = shared_store_url.split(":", 1)[0]
    assert type(store).__name__ == {"sqlite": "SQLiteStore", "postgresql": "PostgresStore",
                                    "redis": "RedisStore"}[kind]


def test_keys_hashed_revoked_and_seen_by_another_client(store, shared_store_url):
    key, secret = store.create_key("ci", ["chat"])
    other = open_store(shared_store_url)  # a second replica's client
    try:
        assert other.verify_key(secret).id == key.id and other.verify_key(secret).allows("chat")
        assert other.verify_key(secret[:-1] + ("x" if secret[-1] != "x" else "y")) is None
        assert [k.id for k in other.list_keys()] == [key.id]
        assert store.revoke_key(key.id) and not store.revoke_key(key.id) and not store.revoke_key("nope")
        assert other.verify_key(secret).revoked and not other.verify_key(secret).allows("chat")
    finally:
        other.close()


def test_rate_window(store):
    limit = RateLimit(window_s=60, requests=3, tokens=100)
    t0 = 600.0
    assert store.consume("k", limit, tokens=60, now=t0).allowed
    refused = store.consume("k", limit, tokens=60, now=t0 + 1)
    assert not refused.allowed and refused.reason == "token" and refused.retry_after_s == pytest.approx(59)
    assert store.consume("k", limit, tokens=40, now=t0 + 2).tokens_left == 0
    assert store.consume("k", limit, now=t0 + 3).requests_left == 0
    assert store.consume("k", limit, now=t0 + 4).reason == "request"
    store.add_tokens("k2", limit, 500, now=t0 + 4)
    assert store.consume("k2", limit, now=t0 + 5).reason == "token"
    assert store.consume("k", limit, now=t0 + 60).allowed  # next window


def _hammer(url: str, n: int, out) -> None:
    s = open_store(url)
    out.put(sum(s.consume("shared", RateLimit(window_s=3600, requests=40), now=7200.0).allowed for _ in range(n)))
    for i in range(n):
        s.append_event("run-shared", "step", {"i": i})
    s.close()


def test_atomic_across_processes(shared_store_url):
    open_store(shared_store_url).close()
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(shared_store_url, 25, out)) for _ in range(3)]
    for p in procs:
        p.start()
    granted = sum(out.get(timeout=90) for _ in procs)
    for p in procs:
        p.join(30)
    assert granted == 40  # 75 attempts from 3 processes: exactly the limit
    store = open_store(shared_store_url)
    seqs = [e.seq for e in store.events("run-shared")]
    assert seqs == list(range(1, 76))  # every append kept, numbered without gaps or duplicates
    store.close()


def test_journal_concurrent_threads(store):
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda i: store.append_event("r1", "tool", {"i": i}), range(40)))
    assert sorted(got) == list(range(1, 41))
    events = store.events("r1")
    assert sorted(e.data["i"] for e in events) == list(range(40))
    assert [e.seq for e in store.events("r1", after=38)] == [39, 40]
    store.append_event("r2", "plan")
    assert store.list_runs()[0] == "r2" and set(store.list_runs()) == {"r1", "r2"}
