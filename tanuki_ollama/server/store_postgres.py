"""The shared store on PostgreSQL (``postgresql://user:pass@host:port/db``), for replicas on several nodes.

Same tables and semantics as :class:`~tanuki_ollama.server.store.SQLiteStore`. Atomicity comes from row locks
(``SELECT ... FOR UPDATE`` on the key's rate window) and, for journals, a transaction-scoped advisory lock per run,
so two replicas appending to one run never collide on ``seq``. One connection per thread (psycopg 3, autocommit
outside explicit transactions). Imported only when a ``postgresql://`` URL is opened.
"""

from __future__ import annotations

import threading
from typing import Any

from ..errors import BackendUnavailable
from .store import RateLimit, SQLStore, register_scheme, window_start

_SCHEMA_LOCK = 0x74616E756B69  # "tanuki": serialises CREATE TABLE IF NOT EXISTS between replicas starting together
_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS api_keys (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, salt BYTEA NOT NULL, hash TEXT NOT NULL, scopes TEXT NOT NULL,
        revoked BOOLEAN NOT NULL DEFAULT FALSE, created_at DOUBLE PRECISION NOT NULL,
        last_used_at DOUBLE PRECISION)""",
    """CREATE TABLE IF NOT EXISTS rate_windows (
        key_id TEXT NOT NULL, window_s DOUBLE PRECISION NOT NULL, start DOUBLE PRECISION NOT NULL,
        requests BIGINT NOT NULL, tokens BIGINT NOT NULL, PRIMARY KEY (key_id, window_s))""",
    """CREATE TABLE IF NOT EXISTS run_events (
        run_id TEXT NOT NULL, seq INTEGER NOT NULL, ts DOUBLE PRECISION NOT NULL, kind TEXT NOT NULL,
        data TEXT NOT NULL, PRIMARY KEY (run_id, seq))""",
    "CREATE INDEX IF NOT EXISTS run_events_ts ON run_events (ts)",
]


class PostgresStore(SQLStore):
    placeholder = "%s"

    def __init__(self, url: str, *, connect_timeout_s: float = 10.0):
        self.url = url
        self.connect_timeout_s = connect_timeout_s
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()
        with self._tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            for stmt in _SCHEMA:
                cur.execute(stmt)

    # connections
    def _conn(self):
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            import psycopg

            try:
                conn = psycopg.connect(self.url, autocommit=True, connect_timeout=int(self.connect_timeout_s))
            except psycopg.OperationalError as exc:
                raise BackendUnavailable(f"cannot reach PostgreSQL at {_redact(self.url)}: {exc}".strip(),
                                         hint="check the store URL (--store / TANUKI_STORE_URL) and that the "
                                         "database accepts connections from this host") from exc
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    class _Tx:
        def __init__(self, store: PostgresStore):
            self.store = store

        def __enter__(self):
            self.conn = self.store._conn()
            self.tx = self.conn.transaction()
            self.tx.__enter__()
            self.cur = self.conn.cursor()
            return self.cur

        def __exit__(self, *exc) -> None:
            try:
                self.cur.close()
            finally:
                self.tx.__exit__(*exc)

    def _tx(self) -> PostgresStore._Tx:
        return PostgresStore._Tx(self)

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._conn().cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    # rate windows: the key's row is locked (FOR UPDATE) for the rest of the transaction
    def _window(self, cur, key_id: str, limit: RateLimit, now: float) -> tuple[float, int, int]:
        start = window_start(now, limit.window_s)
        cur.execute("INSERT INTO rate_windows VALUES (%s,%s,%s,0,0) ON CONFLICT DO NOTHING",
                    (key_id, limit.window_s, start))
        cur.execute("SELECT start, requests, tokens FROM rate_windows WHERE key_id=%s AND window_s=%s FOR UPDATE",
                    (key_id, limit.window_s))
        row = cur.fetchone()
        return (start, 0, 0) if row[0] != start else (row[0], int(row[1]), int(row[2]))

    def _save_window(self, cur, key_id: str, limit: RateLimit, start: float, requests: int, tokens: int) -> None:
        cur.execute("UPDATE rate_windows SET start=%s, requests=%s, tokens=%s WHERE key_id=%s AND window_s=%s",
                    (start, requests, tokens, key_id, limit.window_s))

    def _lock_run(self, cur, run_id: str) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (run_id,))

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


def _redact(url: str) -> str:
    """The URL without its password.

    >>> _redact("postgresql://tanuki:s3cret@db:5432/tanuki")
    'postgresql://tanuki:***@db:5432/tanuki'
    """
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def open_postgres(url: str) -> PostgresStore:
    # psycopg takes postgresql:// and postgres://; "postgresql+psycopg://" (SQLAlchemy style) is accepted too
    scheme, rest = url.split("://", 1)
    return PostgresStore(f"{scheme.split('+')[0]}://{rest}")


register_scheme("postgresql", open_postgres)
register_scheme("postgres", open_postgres)
