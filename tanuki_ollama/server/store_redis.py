"""The shared store on Redis (``redis://host:port/db``, ``rediss://`` for TLS), for replicas on several nodes.

Layout (prefix ``tanuki:``): ``key:<id>`` hash per API key and ``keys`` sorted set (by creation time);
``rl:<key id>:<window_s>`` hash ``{start, requests, tokens}`` per rate window (expires after its window);
``run:<id>:seq`` counter, ``run:<id>:events`` sorted set (score = seq) and ``runs`` sorted set (score = last event
time). Check-and-consume and journal appends are Lua scripts, so each is one atomic step on the server whatever
the number of replicas. Durability is the server's: run Redis with ``appendonly yes`` (``appendfsync everysec``
loses at most a second of journal on a Redis crash; a crashed *replica* loses nothing it had appended).
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from collections.abc import Iterable
from typing import Any

from ..errors import BackendUnavailable
from .store import (
    ApiKey,
    JournalEvent,
    RateDecision,
    RateLimit,
    check_scopes,
    hash_secret,
    key_id_of,
    new_secret,
    register_scheme,
    window_start,
)

P = "tanuki:"

# KEYS[1] window hash; ARGV: start, window_s, max_requests, max_tokens, requests, tokens, force (1: never refuse)
# returns {allowed (0/1), used_requests_before, used_tokens_before}
_CONSUME = """
local start = tonumber(ARGV[1])
local cur = redis.call('HMGET', KEYS[1], 'start', 'requests', 'tokens')
local used_req, used_tok = 0, 0
if cur[1] and tonumber(cur[1]) == start then
  used_req = tonumber(cur[2]); used_tok = tonumber(cur[3])
end
local max_req, max_tok = tonumber(ARGV[3]), tonumber(ARGV[4])
local req, tok = tonumber(ARGV[5]), tonumber(ARGV[6])
if ARGV[7] ~= '1' then
  if max_req > 0 and used_req + req > max_req then return {0, used_req, used_tok, 1} end
  if max_tok > 0 and used_tok + tok > max_tok then return {0, used_req, used_tok, 2} end
end
redis.call('HSET', KEYS[1], 'start', ARGV[1], 'requests', used_req + req, 'tokens', used_tok + tok)
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 2000))
return {1, used_req, used_tok, 0}
"""

# KEYS: seq counter, events zset, runs zset; ARGV: run_id, ts, kind, data (json) -> seq
_APPEND = """
local seq = redis.call('INCR', KEYS[1])
local ev = cjson.encode({seq = seq, ts = tonumber(ARGV[2]), kind = ARGV[3], data = ARGV[4]})
redis.call('ZADD', KEYS[2], seq, ev)
redis.call('ZADD', KEYS[3], tonumber(ARGV[2]), ARGV[1])
return seq
"""

# KEYS[1] key hash -> 1 when this call revoked it, 0 when it is unknown or was revoked already
_REVOKE = """
if redis.call('HGET', KEYS[1], 'revoked') == '0' then
  redis.call('HSET', KEYS[1], 'revoked', '1')
  return 1
end
return 0
"""


class RedisStore:
    def __init__(self, url: str, *, timeout_s: float = 10.0):
        import redis

        self.url = url
        self._r = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self._consume = self._r.register_script(_CONSUME)
        self._append = self._r.register_script(_APPEND)
        self._revoke = self._r.register_script(_REVOKE)
        self.ping()

    def _call(self, fn, *args, **kwargs):
        import redis

        try:
            return fn(*args, **kwargs)
        except redis.ConnectionError as exc:
            raise BackendUnavailable(f"cannot reach Redis at {self.url.split('@')[-1]}: {exc}",
                                     hint="check the store URL (--store / TANUKI_STORE_URL) and that Redis "
                                     "is running") from exc

    # keys
    @staticmethod
    def _key(h: dict[bytes, bytes]) -> ApiKey:
        used = h.get(b"last_used_at")
        return ApiKey(id=h[b"id"].decode(), name=h[b"name"].decode(), scopes=json.loads(h[b"scopes"]),
                      revoked=h[b"revoked"] == b"1", created_at=float(h[b"created_at"]),
                      last_used_at=float(used) if used else None)

    def create_key(self, name: str, scopes: Iterable[str]) -> tuple[ApiKey, str]:
        scopes = check_scopes(scopes)
        key_id, secret = new_secret()
        salt = secrets.token_bytes(16)
        now = time.time()
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(f"{P}key:{key_id}", mapping={"id": key_id, "name": name, "salt": salt.hex(),
                                               "hash": hash_secret(salt, secret), "scopes": json.dumps(scopes),
                                               "revoked": "0", "created_at": repr(now)})
        pipe.zadd(f"{P}keys", {key_id: now})
        self._call(pipe.execute)
        return ApiKey(id=key_id, name=name, scopes=scopes, created_at=now), secret

    def verify_key(self, secret: str) -> ApiKey | None:
        key_id = key_id_of(secret)
        if key_id is None:
            return None
        h = self._call(self._r.hgetall, f"{P}key:{key_id}")
        if not h or not hmac.compare_digest(h[b"hash"].decode(), hash_secret(bytes.fromhex(h[b"salt"].decode()),
                                                                             secret)):
            return None
        key = self._key(h)
        now = time.time()
        if key.last_used_at is None or now - key.last_used_at > 1.0:
            self._call(self._r.hset, f"{P}key:{key_id}", "last_used_at", repr(now))
            key.last_used_at = now
        return key

    def list_keys(self) -> list[ApiKey]:
        ids = self._call(self._r.zrange, f"{P}keys", 0, -1)
        pipe = self._r.pipeline(transaction=False)
        for key_id in ids:
            pipe.hgetall(f"{P}key:{key_id.decode()}")
        return [self._key(h) for h in self._call(pipe.execute) if h]

    def revoke_key(self, key_id: str) -> bool:
        return bool(self._call(self._revoke, keys=[f"{P}key:{key_id}"]))

    # rate limits
    def _run_consume(self, key_id: str, limit: RateLimit, requests: int, tokens: int, now: float | None,
                     force: bool) -> tuple[float, list[int]]:
        now = time.time() if now is None else now
        start = window_start(now, limit.window_s)
        res = self._call(self._consume, keys=[f"{P}rl:{key_id}:{limit.window_s!r}"],
                         args=[repr(start), repr(limit.window_s), limit.requests, limit.tokens, requests, tokens,
                               "1" if force else "0"])
        return now, [int(x) for x in res]

    def consume(self, key_id: str, limit: RateLimit, *, requests: int = 1, tokens: int = 0,
                now: float | None = None) -> RateDecision:
        now, (ok, used_req, used_tok, why) = self._run_consume(key_id, limit, requests, tokens, now, force=False)
        retry = max(0.001, window_start(now, limit.window_s) + limit.window_s - now)
        if not ok and why == 1:
            return RateDecision(allowed=False, retry_after_s=retry, requests_left=limit.requests - used_req,
                                reason="request")
        if not ok:
            return RateDecision(allowed=False, retry_after_s=retry, tokens_left=limit.tokens - used_tok,
                                reason="token")
        return RateDecision(
            allowed=True,
            requests_left=limit.requests - used_req - requests if limit.requests else None,
            tokens_left=limit.tokens - used_tok - tokens if limit.tokens else None,
        )

    def add_tokens(self, key_id: str, limit: RateLimit, tokens: int, *, now: float | None = None) -> None:
        self._run_consume(key_id, limit, 0, max(0, tokens), now, force=True)

    # journals
    def append_event(self, run_id: str, kind: str, data: dict[str, Any] | None = None) -> int:
        return int(self._call(self._append, keys=[f"{P}run:{run_id}:seq", f"{P}run:{run_id}:events", f"{P}runs"],
                              args=[run_id, repr(time.time()), kind, json.dumps(data or {}, default=str)]))

    def events(self, run_id: str, after: int = 0) -> list[JournalEvent]:
        raw = self._call(self._r.zrangebyscore, f"{P}run:{run_id}:events", f"({after}", "+inf")
        out = []
        for item in raw:
            ev = json.loads(item)
            out.append(JournalEvent(run_id=run_id, seq=int(ev["seq"]), ts=float(ev["ts"]), kind=ev["kind"],
                                    data=json.loads(ev["data"])))
        return out

    def list_runs(self, limit: int = 50) -> list[str]:
        return [r.decode() for r in self._call(self._r.zrevrange, f"{P}runs", 0, limit - 1)]

    def ping(self) -> bool:
        return bool(self._call(self._r.ping))

    def close(self) -> None:
        self._r.close()


register_scheme("redis", RedisStore)
register_scheme("rediss", RedisStore)
