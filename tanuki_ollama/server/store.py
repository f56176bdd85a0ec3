"""The server's shared state: API keys, rate-limit counters and run journals, behind one ``Store`` protocol.

Every replica of ``tanuki serve`` talks to the same store, so nothing that must agree across replicas lives in
process memory. :func:`open_store` picks the implementation from the URL scheme:

- ``sqlite:///abs/path.db`` (or ``sqlite:///:memory:`` for one process) -> :class:`SQLiteStore` (WAL, safe across
  processes on one host)
- ``postgresql://...`` / ``redis://...`` -> added by the scaling work (issue 10); registered in ``_SCHEMES``.

Keys: the secret ``tk_<id>_<random>`` is shown once; the store keeps ``sha256(salt || secret)`` with a random
per-key salt and compares in constant time. The ``id`` part makes lookup O(1) without storing the secret.

Rate limits: fixed windows per key; :meth:`Store.consume` is an atomic check-and-consume of requests and tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from ..errors import ConfigError

SCOPES = ("models", "chat", "tools", "admin")
"""``models``: read-only model listing; ``chat``: chat/generate/embed with agent models; ``tools``: runs of the
``tanuki`` team (tools act in a workspace); ``admin``: everything, plus metrics and key management."""

KEY_PREFIX = "tk_"


class ApiKey(BaseModel):
    id: str
    name: str
    scopes: list[str]
    revoked: bool = False
    created_at: float
    last_used_at: float | None = None

    def allows(self, scope: str) -> bool:
        return not self.revoked and (scope in self.scopes or "admin" in self.scopes)


class RateLimit(BaseModel):
    """Per key and per window: ``requests`` and ``tokens`` allowed (0 = unlimited)."""

    window_s: float = Field(60.0, gt=0)
    requests: int = Field(0, ge=0)
    tokens: int = Field(0, ge=0)


class RateDecision(BaseModel):
    allowed: bool
    retry_after_s: float = 0.0
    requests_left: int | None = None
    tokens_left: int | None = None
    reason: str = ""


class JournalEvent(BaseModel):
    run_id: str
    seq: int
    ts: float
    kind: str
    data: dict[str, Any] = Field(default_factory=dict)


@runtime_checkable
class Store(Protocol):
    """What the server needs to share between replicas. Implementations must be safe across processes."""

    url: str

    # keys
    def create_key(self, name: str, scopes: Iterable[str]) -> tuple[ApiKey, str]:
        """Create a key; returns it and its secret (shown once, never stored)."""
        ...

    def verify_key(self, secret: str) -> ApiKey | None:
        """The key for ``secret`` (revoked keys included, so callers can say why), and mark it used."""
        ...

    def list_keys(self) -> list[ApiKey]: ...

    def revoke_key(self, key_id: str) -> bool: ...

    # rate limits
    def consume(self, key_id: str, limit: RateLimit, *, requests: int = 1, tokens: int = 0,
                now: float | None = None) -> RateDecision:
        """Atomically check that ``requests``/``tokens`` fit in the key's current window, and take them if so."""
        ...

    def add_tokens(self, key_id: str, limit: RateLimit, tokens: int, *, now: float | None = None) -> None:
        """Charge tokens known only after the fact (a completion's length), without refusing."""
        ...

    # run journals
    def append_event(self, run_id: str, kind: str, data: dict[str, Any] | None = None) -> int:
        """Append one event to a run's journal; returns its sequence number (1, 2, ...)."""
        ...

    def events(self, run_id: str, after: int = 0) -> list[JournalEvent]: ...

    def list_runs(self, limit: int = 50) -> list[str]:
        """Run ids, most recent first."""
        ...

    def ping(self) -> bool: ...

    def close(self) -> None: ...


# ---------------------------------------------------------------------------------------------- key material
def new_secret() -> tuple[str, str]:
    """A fresh ``(key_id, secret)``; the secret embeds the id."""
    key_id = secrets.token_hex(6)
    return key_id, f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(24)}"


def key_id_of(secret: str) -> str | None:
    """The id embedded in a secret, or None if it is not shaped like ours.

    >>> key_id_of("tk_0123456789ab_xyz")
    '0123456789ab'
    >>> key_id_of("sk-other") is None
    True
    """
    if not secret.startswith(KEY_PREFIX):
        return None
    key_id, sep, rest = secret[len(KEY_PREFIX):].partition("_")
    return key_id if sep and rest and len(key_id) == 12 else None


def hash_secret(salt: bytes, secret: str) -> str:
    return hashlib.sha256(salt + secret.encode()).hexdigest()


def check_scopes(scopes: Iterable[str]) -> list[str]:
    out = sorted(set(scopes))
    bad = [s for s in out if s not in SCOPES]
    if bad or not out:
        raise ConfigError(f"unknown or missing scopes: {', '.join(bad) or '(none)'}",
                          hint=f"choose from: {', '.join(SCOPES)}")
    return out


def window_start(now: float, window_s: float) -> float:
    return now - (now % window_s)


# ---------------------------------------------------------------------------------------------- SQLite
_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, salt BLOB NOT NULL, hash TEXT NOT NULL, scopes TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, last_used_at REAL);
CREATE TABLE IF NOT EXISTS rate_windows (
    key_id TEXT NOT NULL, window_s REAL NOT NULL, start REAL NOT NULL, requests INTEGER NOT NULL,
    tokens INTEGER NOT NULL, PRIMARY KEY (key_id, window_s));
CREATE TABLE IF NOT EXISTS run_events (
    run_id TEXT NOT NULL, seq INTEGER NOT NULL, ts REAL NOT NULL, kind TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (run_id, seq));
CREATE INDEX IF NOT EXISTS run_events_ts ON run_events (ts);
"""


class SQLStore:
    """Keys, rate windows and journals on a SQL database (the tables in ``_SCHEMA``). Subclasses give the
    connection handling (``_tx`` yields a handle whose ``execute`` returns a cursor; ``_query`` reads outside a
    transaction) and the statements whose locking differs per database: ``_window``/``_save_window`` (read and
    write a key's rate window inside the transaction) and ``_lock_run`` (serialise appends to one journal).
    SQL is written with ``?`` placeholders; ``placeholder`` rewrites them for the driver."""

    placeholder = "?"

    def _tx(self) -> Any:
        raise NotImplementedError

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        raise NotImplementedError

    def _window(self, h: Any, key_id: str, limit: RateLimit, now: float) -> tuple[float, int, int]:
        raise NotImplementedError

    def _save_window(self, h: Any, key_id: str, limit: RateLimit, start: float, requests: int, tokens: int) -> None:
        raise NotImplementedError

    def _lock_run(self, h: Any, run_id: str) -> None:
        """Nothing by default: the transaction itself serialises writers (SQLite's ``BEGIN IMMEDIATE``)."""

    def _exec(self, h: Any, sql: str, params: tuple = ()) -> Any:
        return h.execute(self._sql(sql), params)

    def _sql(self, sql: str) -> str:
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    def _rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        return self._query(self._sql(sql), params)

    # keys
    @staticmethod
    def _row_key(row: tuple) -> ApiKey:
        key_id, name, scopes, revoked, created, used = row
        return ApiKey(id=key_id, name=name, scopes=json.loads(scopes), revoked=bool(revoked), created_at=created,
                      last_used_at=used)

    def create_key(self, name: str, scopes: Iterable[str]) -> tuple[ApiKey, str]:
        scopes = check_scopes(scopes)
        key_id, secret = new_secret()
        salt = secrets.token_bytes(16)
        now = time.time()
        with self._tx() as h:
            self._exec(h, "INSERT INTO api_keys (id, name, salt, hash, scopes, created_at) VALUES (?,?,?,?,?,?)",
                       (key_id, name, salt, hash_secret(salt, secret), json.dumps(scopes), now))
        return ApiKey(id=key_id, name=name, scopes=scopes, created_at=now), secret

    def verify_key(self, secret: str) -> ApiKey | None:
        key_id = key_id_of(secret)
        if key_id is None:
            return None
        rows = self._rows("SELECT salt, hash, id, name, scopes, revoked, created_at, last_used_at FROM api_keys "
                          "WHERE id=?", (key_id,))
        if not rows or not hmac.compare_digest(rows[0][1], hash_secret(bytes(rows[0][0]), secret)):
            return None
        key = self._row_key(rows[0][2:])
        now = time.time()
        if key.last_used_at is None or now - key.last_used_at > 1.0:
            with self._tx() as h:
                self._exec(h, "UPDATE api_keys SET last_used_at=? WHERE id=?", (now, key_id))
            key.last_used_at = now
        return key

    def list_keys(self) -> list[ApiKey]:
        rows = self._rows("SELECT id, name, scopes, revoked, created_at, last_used_at FROM api_keys "
                          "ORDER BY created_at")
        return [self._row_key(r) for r in rows]

    def revoke_key(self, key_id: str) -> bool:
        with self._tx() as h:
            return self._exec(h, "UPDATE api_keys SET revoked=TRUE WHERE id=? AND NOT revoked", (key_id,)).rowcount > 0

    # rate limits
    def consume(self, key_id: str, limit: RateLimit, *, requests: int = 1, tokens: int = 0,
                now: float | None = None) -> RateDecision:
        now = time.time() if now is None else now
        with self._tx() as h:
            start, used_req, used_tok = self._window(h, key_id, limit, now)
            retry = max(0.001, start + limit.window_s - now)
            if limit.requests and used_req + requests > limit.requests:
                return RateDecision(allowed=False, retry_after_s=retry, requests_left=limit.requests - used_req,
                                    reason="request")
            if limit.tokens and used_tok + tokens > limit.tokens:
                return RateDecision(allowed=False, retry_after_s=retry, tokens_left=limit.tokens - used_tok,
                                    reason="token")
            self._save_window(h, key_id, limit, start, used_req + requests, used_tok + tokens)
        return RateDecision(
            allowed=True,
            requests_left=limit.requests - used_req - requests if limit.requests else None,
            tokens_left=limit.tokens - used_tok - tokens if limit.tokens else None,
        )

    def add_tokens(self, key_id: str, limit: RateLimit, tokens: int, *, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._tx() as h:
            start, used_req, used_tok = self._window(h, key_id, limit, now)
            self._save_window(h, key_id, limit, start, used_req, used_tok + max(0, tokens))

    # journals
    def append_event(self, run_id: str, kind: str, data: dict[str, Any] | None = None) -> int:
        with self._tx() as h:
            self._lock_run(h, run_id)
            (last,) = self._exec(h, "SELECT COALESCE(MAX(seq), 0) FROM run_events WHERE run_id=?",
                                 (run_id,)).fetchone()
            self._exec(h, "INSERT INTO run_events VALUES (?,?,?,?,?)",
                       (run_id, last + 1, time.time(), kind, json.dumps(data or {}, default=str)))
        return last + 1

    def events(self, run_id: str, after: int = 0) -> list[JournalEvent]:
        rows = self._rows("SELECT run_id, seq, ts, kind, data FROM run_events WHERE run_id=? AND seq>? ORDER BY seq",
                          (run_id, after))
        return [JournalEvent(run_id=r[0], seq=r[1], ts=r[2], kind=r[3], data=json.loads(r[4])) for r in rows]

    def list_runs(self, limit: int = 50) -> list[str]:
        rows = self._rows("SELECT run_id, MAX(ts) AS t FROM run_events GROUP BY run_id ORDER BY t DESC LIMIT ?",
                          (limit,))
        return [r[0] for r in rows]

    def ping(self) -> bool:
        return [tuple(r) for r in self._rows("SELECT 1")] == [(1,)]


class SQLiteStore(SQLStore):
    """A SQLite file in WAL mode; one connection per thread; writes in ``BEGIN IMMEDIATE`` transactions, so
    check-and-consume is atomic across threads and processes. ``last_used_at`` is written at most once a second."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 10.0):
        self.path = str(path)
        self.url = f"sqlite:///{self.path}"
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._memory_conn: sqlite3.Connection | None = None
        self._memory_lock = threading.RLock()
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with self._memory_lock:
            self._conn().executescript(_SCHEMA)  # executescript manages its own transaction

    # connections
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None,
                               check_same_thread=self.path != ":memory:")
        if self.path != ":memory:":
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _conn(self) -> sqlite3.Connection:
        if self.path == ":memory:":
            if self._memory_conn is None:
                self._memory_conn = self._connect()
            return self._memory_conn
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    class _Tx:
        def __init__(self, store: SQLiteStore):
            self.store = store

        def __enter__(self) -> sqlite3.Connection:
            self.store._memory_lock.acquire()
            self.conn = self.store._conn()
            self.conn.execute("BEGIN IMMEDIATE")
            return self.conn

        def __exit__(self, exc_type, exc, tb) -> None:
            try:
                self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
            finally:
                self.store._memory_lock.release()

    def _tx(self) -> SQLiteStore._Tx:
        return SQLiteStore._Tx(self)

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        return self._conn().execute(sql, params).fetchall()

    # rate windows
    def _window(self, h: sqlite3.Connection, key_id: str, limit: RateLimit, now: float) -> tuple[float, int, int]:
        start = window_start(now, limit.window_s)
        row = h.execute("SELECT start, requests, tokens FROM rate_windows WHERE key_id=? AND window_s=?",
                        (key_id, limit.window_s)).fetchone()
        if row is None or row[0] != start:
            return start, 0, 0
        return row

    def _save_window(self, h: sqlite3.Connection, key_id: str, limit: RateLimit, start: float, requests: int,
                     tokens: int) -> None:
        h.execute("INSERT OR REPLACE INTO rate_windows VALUES (?,?,?,?,?)",
                  (key_id, limit.window_s, start, requests, tokens))

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        if self._memory_conn is not None:
            self._memory_conn.close()
            self._memory_conn = None


# ---------------------------------------------------------------------------------------------- dispatch
def _sqlite(url: str) -> SQLiteStore:
    parts = urlsplit(url)
    path = parts.path
    if parts.netloc:  # sqlite://relative/path.db is a common slip
        raise ConfigError(f"bad SQLite URL {url!r}", hint="use sqlite:////absolute/path.db or sqlite:///:memory:")
    if path == "/:memory:":
        return SQLiteStore(":memory:")
    return SQLiteStore(path)


_SCHEMES: dict[str, Callable[[str], Store]] = {"sqlite": _sqlite}


def register_scheme(scheme: str, factory: Callable[[str], Store]) -> None:
    """Let ``open_store`` build stores for ``scheme://`` URLs (PostgreSQL, Redis, ...)."""
    _SCHEMES[scheme] = factory


def default_store_url(home: Path) -> str:
    return f"sqlite:///{(home / 'server.db').resolve()}"


def open_store(url: str) -> Store:
    """The store for ``url``: ``sqlite:///path``; ``postgresql://`` and ``redis://`` once registered."""
    scheme = urlsplit(url).scheme.split("+")[0]
    if scheme in ("postgres", "postgresql", "redis", "rediss") and scheme not in _SCHEMES:
        _load_optional(scheme)
    if scheme not in _SCHEMES:
        raise ConfigError(f"no store for {url!r}", hint=f"use one of: {', '.join(f'{s}://' for s in _SCHEMES)}")
    return _SCHEMES[scheme](url)


def _load_optional(scheme: str) -> None:
    """Import the module that registers PostgreSQL/Redis stores, when it exists (issue 10)."""
    import importlib

    module = {"postgres": "store_postgres", "postgresql": "store_postgres", "redis": "store_redis",
              "rediss": "store_redis"}[scheme]
    try:
        importlib.import_module(f"{__package__}.{module}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.endswith(module):
            return
        raise
