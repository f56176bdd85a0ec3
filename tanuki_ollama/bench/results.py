"""Per-sample results appended to a JSONL as they finish (a rerun skips what is there), the run's fingerprint,
and the unbiased pass@k estimator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): 1 - C(n-c, k) / C(n, k), computed stably.

    >>> pass_at_k(10, 0, 1), pass_at_k(10, 10, 5), round(pass_at_k(10, 3, 1), 6)
    (0.0, 1.0, 0.3)
    """
    if k > n:
        raise ConfigError(f"pass@{k} needs at least {k} samples per task (have {n})", hint=f"pass --samples {k}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


class ResultLog:
    """``<out>/samples.jsonl`` keyed by ``(task_id, sample)``, with the run's settings in ``<out>/run.json``."""

    def __init__(self, out_dir: Path, fingerprint: dict[str, Any], *, fresh: bool = False):
        self.dir = Path(out_dir)
        self.path = self.dir / "samples.jsonl"
        self.dir.mkdir(parents=True, exist_ok=True)
        run = self.dir / "run.json"
        if fresh:
            self.path.unlink(missing_ok=True)
        elif run.is_file() and self.path.is_file():
            old = json.loads(run.read_text())
            if old != json.loads(json.dumps(fingerprint, default=str)):
                diff = sorted(k for k in set(old) | set(fingerprint) if old.get(k) != fingerprint.get(k))
                raise ConfigError(f"{self.dir} holds results of a run with other settings ({', '.join(diff)})",
                                  hint="pass --fresh to start over, or another --out to keep both")
        run.write_text(json.dumps(fingerprint, indent=2, default=str))

    def load(self) -> dict[tuple[str, int], dict[str, Any]]:
        done: dict[tuple[str, int], dict[str, Any]] = {}
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue  # a line cut by an interruption: that sample runs again
                done[(rec["task_id"], rec["sample"])] = rec
        return done

    def append(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, default=str) + "\n")
            fh.flush()


def summarize_passes(records: list[dict[str, Any]], sets: list[str], ks: list[int]) -> tuple[dict, list[dict]]:
    """Metrics ``{set: {"pass@k": x}}`` and per-task counts from records carrying ``passed: {set: bool}``."""
    by_task: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_task.setdefault(r["task_id"], []).append(r)
    per_task = []
    for tid, recs in by_task.items():
        row = {"task_id": tid, "n": len(recs)}
        row.update({f"correct_{s}": sum(bool(r["passed"].get(s)) for r in recs) for s in sets})
        per_task.append(row)
    metrics: dict[str, dict[str, float]] = {}
    for s in sets:
        metrics[s] = {}
        for k in ks:
            vals = [pass_at_k(t["n"], t[f"correct_{s}"], k) for t in per_task if t["n"] >= k]
            metrics[s][f"pass@{k}"] = round(float(np.mean(vals)), 4) if vals else 0.0
    return metrics, per_task
