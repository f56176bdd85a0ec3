"""`tanuki bench scale`: the numbers behind docs/sizing.md that a CPU machine can measure.

- ``stores``: what one request costs in the shared store, per backend (``--store URL``, repeatable; default a
  temporary SQLite file): an API-key check, a rate-limit check-and-consume and a journal append, each timed
  ``--ops`` times from ``--clients`` threads at once. ``requests_per_s`` bounds the whole fleet's request rate
  through that store (every replica shares it).
- ``train``: the same tiny LoRA run (tiny-llama fixture, recipe ``tiny-ci``) in 1 process and through
  ``accelerate launch`` with N CPU processes (gloo): seconds, tokens/s, and whether the adapters agree.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _timed(fn: Callable[[int], Any], ops: int, clients: int) -> dict[str, float]:
    lat: list[float] = []
    lock = threading.Lock()
    per = max(1, ops // clients)

    def worker(c: int) -> None:
        mine = []
        for i in range(per):
            t = time.perf_counter()
            fn(c * per + i)
            mine.append(time.perf_counter() - t)
        with lock:
            lat.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    lat.sort()
    return {"ops_per_s": round(len(lat) / wall, 1), "p50_ms": round(statistics.median(lat) * 1000, 3),
            "p99_ms": round(lat[int(0.99 * (len(lat) - 1))] * 1000, 3)}


def bench_store(url: str, *, ops: int = 400, clients: int = 4) -> dict[str, Any]:
    from ..server.store import RateLimit, open_store

    store = open_store(url)
    _, secret = store.create_key("bench", ["chat"])
    limit = RateLimit(window_s=60, requests=0, tokens=0)
    run = f"bench-{time.time_ns()}"
    out = {
        "verify_key": _timed(lambda i: store.verify_key(secret), ops, clients),
        "consume": _timed(lambda i: store.consume(f"k{i % 8}", limit, tokens=10), ops, clients),
        "append_event": _timed(lambda i: store.append_event(run, "tool", {"i": i}), ops, clients),
    }
    per_request_ms = sum(v["p50_ms"] for v in out.values())
    out["requests_per_s"] = round(1 / (sum(1 / v["ops_per_s"] for v in out.values())), 1)
    out["store_ms_per_request_p50"] = round(per_request_ms, 3)
    store.close()
    return {"store": url.split("://", 1)[0], **out}


def bench_stores(urls: list[str], *, ops: int, clients: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="tanuki-bench-") as tmp:
        urls = urls or [f"sqlite:///{Path(tmp) / 'bench.db'}"]
        return [bench_store(u, ops=ops, clients=clients) for u in urls]


def bench_train(processes: list[int], *, steps: int = 8) -> list[dict[str, Any]]:
    """The same tiny run in each process count; the first count is the reference for the weight difference."""
    from types import SimpleNamespace

    from safetensors.torch import load_file

    from ..agents.roster import LoraSpec
    from ..factory.backbones import resolve_backbone
    from ..factory.distributed import Launch
    from ..factory.fixtures import corpus_files
    from ..factory.recipe import load_recipe
    from ..factory.train import train_adapter

    backbone = resolve_backbone("tiny-llama")
    recipe = load_recipe("tiny-ci").model_copy(update={"max_steps": steps, "save_every": steps, "max_length": 256,
                                                       "batch_size": 4, "regression_tolerance": 100.0})
    agent = SimpleNamespace(name="bench", lora=LoraSpec(rank=4, alpha=8, dropout=0.0))
    rows = []
    for path in corpus_files(40):
        text = path.read_text(errors="replace")[:600]
        rows.append({"id": path.stem, "messages": [{"role": "user", "content": f"Show the start of {path.name}."},
                                                   {"role": "assistant", "content": text}]})
    results, ref = [], None
    with tempfile.TemporaryDirectory(prefix="tanuki-bench-train-") as tmp:
        for n in processes:
            out = Path(tmp) / f"p{n}"
            launch = Launch("accelerate", n) if n > 1 else None
            t = time.monotonic()
            rep = train_adapter(backbone=backbone, recipe=recipe, agent=agent, train_rows=rows[:32],
                                eval_rows=rows[32:36], out_dir=out, launch=launch)
            wall = time.monotonic() - t
            weights = load_file(str(out / "adapter" / "adapter_model.safetensors"))
            ref = ref or weights
            diff = max((weights[k] - ref[k]).abs().max().item() for k in ref)
            results.append({"processes": n, "wall_s": round(wall, 1), "train_s": round(rep.seconds, 1),
                            "tokens_per_s": round(rep.tokens_per_second, 1), "steps": rep.steps,
                            "max_abs_weight_diff_vs_first": diff})
    return results
