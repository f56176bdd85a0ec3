"""Throwaway PostgreSQL and Redis servers on free loopback ports in temp dirs, stopped at the end of the session.

``shared_store_url`` is parametrized over the three stores (sqlite, postgresql, redis), each test on a fresh
database. PostgreSQL refuses to run as root: under root, initdb and postgres run as the ``postgres`` user (created
by Debian's package) in a directory it owns.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tanuki_ollama.ollama_server import free_port, spawn_logged, stop_process

PG_BIN = Path("/usr/lib/postgresql")


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next((str(p) for p in sorted(PG_BIN.glob(f"*/bin/{name}"), reverse=True)), None)
    if found is None:
        pytest.fail(f"{name} not found: ./install.sh installs PostgreSQL (Debian package postgresql)")
    return found


def _wait(check, what: str, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"{what} did not start in {timeout}s:\n{log.read_text(errors='replace')[-2000:]}")


@pytest.fixture(scope="session")
def postgres_server():
    """``postgresql://postgres@127.0.0.1:PORT`` (trust auth, loopback only)."""
    import psycopg

    root = Path(tempfile.mkdtemp(prefix="tanuki-pg-"))
    data, log = root / "data", root / "postgres.log"
    popen: dict = {}
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        popen = {"user": user.pw_uid, "group": user.pw_gid}
    init = subprocess.run([_pg_bin("initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync"],
                          capture_output=True, text=True, timeout=120, check=False, **popen)
    assert init.returncode == 0, init.stderr
    port = free_port()
    proc = spawn_logged([_pg_bin("postgres"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1", "-k", str(root),
                         "-c", "fsync=off", "-c", "max_connections=60"], log, **popen)
    url = f"postgresql://postgres@127.0.0.1:{port}"

    def ready() -> bool:
        try:
            psycopg.connect(f"{url}/postgres", connect_timeout=2).close()
            return True
        except psycopg.OperationalError:
            return proc.poll() is None and False

    try:
        _wait(ready, "PostgreSQL", log)
        yield url
    finally:
        stop_process(proc)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server():
    """``redis://127.0.0.1:PORT`` (no persistence)."""
    import redis

    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server not found: ./install.sh installs it (Debian package redis-server)")
    root = Path(tempfile.mkdtemp(prefix="tanuki-redis-"))
    port = free_port()
    proc = spawn_logged([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                         "--dir", str(root)], root / "redis.log")
    url = f"redis://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        except redis.ConnectionError:
            return False

    try:
        _wait(ready, "Redis", root / "redis.log")
        yield url
    finally:
        stop_process(proc)
        shutil.rmtree(root, ignore_errors=True)


_fresh = itertools.count()


def fresh_postgres_db(server_url: str) -> str:
    import psycopg

    name = f"tanuki_{os.getpid()}_{next(_fresh)}"
    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{server_url}/{name}"


def fresh_redis_db(server_url: str) -> str:
    import redis

    db = 1 + next(_fresh) % 15
    redis.Redis.from_url(f"{server_url}/{db}").flushdb()
    return f"{server_url}/{db}"


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
def shared_store_url(request, tmp_path) -> str:
    """A fresh, empty shared store of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    if request.param == "postgresql":
        return fresh_postgres_db(request.getfixturevalue("postgres_server"))
    return fresh_redis_db(request.getfixturevalue("redis_server"))
