"""`tanuki bench serve`: what `tanuki serve` adds on top of its engine.

- added latency per request: the same non-streamed chat, alternately called on the engine directly and through
  the server over HTTP (a keep-alive ``httpx`` client, API key auth and rate limiting on, SQLite store), paired;
  reported as medians and p90 of ``served - direct`` (target: median <= 3 ms), and the CPU time this process
  spent per pair (client, server and engine together: on a busy machine wall time also counts waiting for a core);
- streaming throughput: one long streamed answer, directly and through ``/api/chat`` (NDJSON) and
  ``/v1/chat/completions`` (SSE), in chunks per second.

``--engine scripted`` uses an engine that costs nothing, so the numbers are the server alone; ``--engine ollama``
(default) uses the real Ollama and a real model (``--model``), where the model's own jitter adds noise.
The server runs in this process (uvicorn in a thread), so client and server share the machine's cores.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from ..types import Message

TARGET_ADDED_MS = 3.0


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(ms: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(ms), 3), "p90": round(_pct(ms, 0.9), 3),
            "min": round(min(ms), 3)}


def _make_engine(engine: str, model: str | None, requests: int, stream_words: int, options: dict[str, Any]):
    from ..engines import create_engine

    if engine == "scripted":
        long_answer = " ".join(f"w{i}" for i in range(stream_words))
        # one answer per call: warm-up + paired requests + 3 streams
        responses = ["ok"] * (2 * requests + 6) + [long_answer] * 3  # warm-up 6, pairs, 3 streams
        return create_engine("scripted", responses=responses), model or "bench", {}
    built = create_engine(engine, **options)
    if model is None:
        from ..micro import MICRO_MODEL

        model = MICRO_MODEL
    return built, model, {"num_predict": 1, "temperature": 0, "seed": 1}


def _timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1e3


def run_serve_bench(*, engine: str = "ollama", model: str | None = None, requests: int = 50,
                    stream_words: int = 2000, engine_options: dict[str, Any] | None = None,
                    log: Callable[[str], None] | None = None) -> dict[str, Any]:
    from ..server.app import create_app
    from ..server.config import ServeConfig
    from ..server.runner import BackgroundServer
    from ..server.store import RateLimit, open_store

    say = log or (lambda _msg: None)
    eng, model, options = _make_engine(engine, model, requests, stream_words, dict(engine_options or {}))
    messages = [Message(role="user", content="Say ok.")]
    wire = {"model": model, "stream": False, "messages": [m.to_wire() for m in messages],
            "options": options or None}
    with tempfile.TemporaryDirectory(prefix="tanuki-bench-serve-") as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'server.db'}")
        _, secret = store.create_key("bench", ["chat", "models"])
        config = ServeConfig(auth=True, rate_limit=RateLimit(window_s=60, requests=0, tokens=0),
                             max_concurrency=4, log_json=True)
        app = create_app(config, eng, store)
        import logging

        logging.getLogger("tanuki.server").setLevel(logging.WARNING)  # no access log lines in the timings
        with BackgroundServer(app, config) as url, httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {secret}"}, timeout=600) as client:

            def served() -> None:
                r = client.post("/api/chat", json=wire)
                r.raise_for_status()

            def direct() -> None:
                eng.chat(model, messages, options=options or None)

            say(f"warming up {engine}:{model}")
            for _ in range(3):
                direct()
                served()
            pairs = []
            cpu0 = time.process_time()
            for i in range(requests):
                if i % 2:
                    s, d = _timed(served), _timed(direct)
                else:
                    d, s = _timed(direct), _timed(served)
                pairs.append((d, s))
            cpu_ms = (time.process_time() - cpu0) * 1e3 / requests  # client + server + engine, this process
            say(f"{requests} paired requests done; streaming")
            stream = _stream_bench(eng, model, client, messages, options if engine != "scripted" else {},
                                   stream_words if engine == "scripted" else 64)
    direct_ms = [d for d, _ in pairs]
    served_ms = [s for _, s in pairs]
    added = [s - d for d, s in pairs]
    return {
        "bench": "serve", "engine": engine, "model": model, "requests": requests,
        "direct_ms": _summary(direct_ms), "served_ms": _summary(served_ms), "added_ms": _summary(added),
        "target_added_median_ms": TARGET_ADDED_MS,
        "meets_target": statistics.median(added) <= TARGET_ADDED_MS,
        "cpu_ms_per_pair": round(cpu_ms, 3),
        "stream": stream,
        "setup": {"auth": True, "store": "sqlite (WAL)", "transport": "HTTP/1.1 keep-alive on 127.0.0.1",
                  "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)},
    }


def _stream_bench(eng: Any, model: str, client: httpx.Client, messages: list[Message], options: dict[str, Any],
                  length: int) -> dict[str, Any]:
    opts = dict(options, num_predict=length) if options else None
    body = {"model": model, "messages": [m.to_wire() for m in messages], "options": opts}

    t = time.perf_counter()
    direct_chunks = sum(1 for c in eng.chat_stream(model, messages, options=opts) if c.content)
    direct_s = time.perf_counter() - t

    t = time.perf_counter()
    with client.stream("POST", "/api/chat", json=body | {"stream": True}) as r:
        ollama_chunks = sum(1 for line in r.iter_lines() if line and json.loads(line)["message"]["content"])
    ollama_s = time.perf_counter() - t

    oai = {"model": model, "stream": True, "messages": body["messages"]}
    if opts:
        oai["max_tokens"] = length
    t = time.perf_counter()
    with client.stream("POST", "/v1/chat/completions", json=oai) as r:
        sse_chunks = sum(1 for line in r.iter_lines() if line.startswith("data: {") and '"content": "' in line
                         and '"content": ""' not in line)
    sse_s = time.perf_counter() - t
    return {
        "chunks": {"direct": direct_chunks, "ollama_ndjson": ollama_chunks, "openai_sse": sse_chunks},
        "chunks_per_s": {"direct": round(direct_chunks / direct_s, 1), "ollama_ndjson": round(ollama_chunks / ollama_s, 1),
                         "openai_sse": round(sse_chunks / sse_s, 1)},
        "wall_s": {"direct": round(direct_s, 3), "ollama_ndjson": round(ollama_s, 3), "openai_sse": round(sse_s, 3)},
    }
