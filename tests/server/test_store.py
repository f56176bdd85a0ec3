"""The SQLite store: hashed keys, atomic rate windows across processes, run journals, URL dispatch."""

from __future__ import annotations

import multiprocessing as mp

import pytest

from tanuki_ollama.errors import ConfigError
from tanuki_ollama.server.store import RateLimit, SQLiteStore, Store, open_store


def test_keys_are_stored_hashed_and_verified(store, tmp_path):
    key, secret = store.create_key("ci", ["chat", "models"])
    assert isinstance(store, Store)
    assert store.verify_key(secret).id == key.id
    assert store.verify_key(secret[:-1] + ("x" if secret[-1] != "x" else "y")) is None
    assert store.verify_key("sk-not-ours") is None
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("server.db*"))
    assert secret.encode() not in raw and secret.split("_")[-1].encode() not in raw
    assert store.list_keys()[0].last_used_at is not None
    assert store.revoke_key(key.id) and not store.revoke_key(key.id)
    assert store.verify_key(secret).revoked


def test_unknown_scope_is_refused(store):
    with pytest.raises(ConfigError, match="scopes"):
        store.create_key("x", ["root"])


def test_rate_window_counts_requests_and_tokens(store):
    limit = RateLimit(window_s=60, requests=3, tokens=100)
    t0 = 600.0
    assert store.consume("k", limit, tokens=60, now=t0).allowed
    no_tokens = store.consume("k", limit, tokens=60, now=t0 + 1)
    assert not no_tokens.allowed and no_tokens.reason == "token" and no_tokens.retry_after_s == pytest.approx(59)
    assert store.consume("k", limit, tokens=10, now=t0 + 2).allowed
    assert store.consume("k", limit, tokens=0, now=t0 + 3).allowed  # 3rd request
    over = store.consume("k", limit, now=t0 + 4)
    assert not over.allowed and over.reason == "request"
    store.add_tokens("k2", limit, 500, now=t0 + 4)  # charged after the fact (a completion), never refused...
    spent = store.consume("k2", limit, now=t0 + 5)  # ...but the key's window is now spent
    assert not spent.allowed and spent.reason == "token"
    assert store.consume("k", limit, now=t0 + 60).allowed  # the next window
    assert store.consume("other", limit, now=t0 + 5).allowed  # per key


def _hammer(url: str, n: int, out) -> None:
    s = open_store(url)
    out.put(sum(s.consume("shared", RateLimit(window_s=3600, requests=50), now=7200.0).allowed for _ in range(n)))


def test_check_and_consume_is_atomic_across_processes(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    open_store(url)
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(url, 30, out)) for _ in range(4)]
    for p in procs:
        p.start()
    granted = sum(out.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(30)
    assert granted == 50  # 120 attempts from 4 processes, exactly the limit granted


def test_run_journal(store):
    assert store.append_event("r1", "plan", {"message": "two steps"}) == 1
    assert store.append_event("r2", "plan") == 1
    assert store.append_event("r1", "done", {"status": "succeeded"}) == 2
    events = store.events("r1")
    assert [(e.seq, e.kind) for e in events] == [(1, "plan"), (2, "done")]
    assert events[0].data == {"message": "two steps"}
    assert [e.kind for e in store.events("r1", after=1)] == ["done"]
    assert set(store.list_runs()) == {"r1", "r2"}


def test_open_store_dispatch(tmp_path):
    assert isinstance(open_store("sqlite:///:memory:"), SQLiteStore)
    with pytest.raises(ConfigError, match="no store"):
        open_store("mysql://x")
    with pytest.raises(ConfigError, match="bad SQLite URL"):
        open_store("sqlite://relative.db")
