"""Bounded loopback load: 50 concurrent streaming clients, and 10x overload answered with 429/503 + Retry-After."""

from __future__ import annotations

import asyncio
import json

import httpx

from tanuki_ollama.server.store import RateLimit

from .helpers import PacedEngine

ANSWER = " ".join(f"w{i}" for i in range(20))


async def _ollama_stream(client: httpx.AsyncClient, url: str, i: int) -> tuple[int, str, dict]:
    body = {"model": "paced", "messages": [{"role": "user", "content": f"client {i}"}]}
    async with client.stream("POST", f"{url}/api/chat", json=body) as r:
        if r.status_code != 200:
            await r.aread()
            return r.status_code, "", dict(r.headers)
        lines = [json.loads(line) async for line in r.aiter_lines() if line]
    assert lines[-1]["done"] is True
    return 200, "".join(x["message"]["content"] for x in lines), {}


async def _openai_stream(client: httpx.AsyncClient, url: str, i: int) -> tuple[int, str, dict]:
    body = {"model": "paced", "stream": True, "messages": [{"role": "user", "content": f"client {i}"}]}
    async with client.stream("POST", f"{url}/v1/chat/completions", json=body) as r:
        if r.status_code != 200:
            await r.aread()
            return r.status_code, "", dict(r.headers)
        events = [line[6:] async for line in r.aiter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    text = "".join(json.loads(e)["choices"][0]["delta"].get("content", "") for e in events[:-1]
                   if json.loads(e)["choices"])
    return 200, text, {}


async def _crowd(url: str, n: int) -> list[tuple[int, str, dict]]:
    limits = httpx.Limits(max_connections=n + 10)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        calls = [(_ollama_stream if i % 2 else _openai_stream)(client, url, i) for i in range(n)]
        return await asyncio.wait_for(asyncio.gather(*calls), 120)


def test_fifty_concurrent_streams(serve):
    engine = PacedEngine([ANSWER], delay_s=0.01)  # each stream lasts ~0.2 s: all 50 overlap
    url = serve(engine, max_concurrency=50, max_queue=50, rate_limit=RateLimit(requests=0, tokens=0))
    results = asyncio.run(_crowd(url, 50))
    assert [r[0] for r in results] == [200] * 50
    assert all(r[1] == ANSWER for r in results)
    metrics = httpx.get(f"{url}/metrics").text
    assert "tanuki_engine_inflight 0.0" in metrics and "tanuki_queue_waiting 0.0" in metrics


def test_tenfold_overload_of_a_rate_limit(serve, store):
    # fixed windows start at multiples of window_s: a huge window never rolls over during the test
    url = serve(PacedEngine(delay_s=0), auth=True, rate_limit=RateLimit(window_s=1e9, requests=20, tokens=0))
    _, secret = store.create_key("load", ["chat"])

    async def fire() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60, headers={"Authorization": f"Bearer {secret}"},
                                     limits=httpx.Limits(max_connections=50)) as client:
            body = {"model": "paced", "stream": False, "messages": [{"role": "user", "content": "hi"}]}
            return await asyncio.gather(*(client.post(f"{url}/api/chat", json=body) for _ in range(200)))

    responses = asyncio.run(fire())
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) == 20 and codes.count(429) == 180, [(r.status_code, r.text[:120]) for r in responses
                                                                 if r.status_code not in (200, 429)]
    assert all(int(r.headers["Retry-After"]) >= 1 for r in responses if r.status_code == 429)


def test_tenfold_overload_of_the_engine_queue(serve):
    # 2 slots + 3 waiting = capacity 5; 50 slow streams arrive at once
    url = serve(PacedEngine([ANSWER], delay_s=0.1), max_concurrency=2, max_queue=3, queue_timeout_s=30,
                rate_limit=RateLimit(requests=0, tokens=0))
    results = asyncio.run(_crowd(url, 50))
    codes = [r[0] for r in results]
    # no errors, no collapse: every request either streams its full answer or is refused at once
    assert set(codes) <= {200, 503} and codes.count(200) >= 5 and codes.count(503) >= 10
    assert all(r[1] == ANSWER for r in results if r[0] == 200)
    assert all(int(r[2]["retry-after"]) >= 1 for r in results if r[0] == 503)
    # the server is healthy afterwards
    assert asyncio.run(_crowd(url, 2))[0][0] == 200
