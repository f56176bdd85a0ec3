"""The dataset on disk: content-hashed JSONL shards and a manifest.

Layout (consumed by training; do not change without telling it)::

    <root>/<version_id>/manifest.json
    <root>/<version_id>/<agent>/train-00000.jsonl, eval-00000.jsonl (more shards: -00001, ...)

One line = ``{"id", "agent", "strategy", "source", "difficulty", "messages": [system, user, assistant]}``.
``version_id`` = ``v-`` + the first 16 hex digits of sha256 over the canonical JSON of the configuration and
every shard's sha256, so the same seed and sources give the same id; ``created_at`` is recorded but not hashed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from ...settings import Settings

SHARD_SIZE = 2000
SPLITS = ("train", "eval")
EXAMPLE_KEYS = ("id", "agent", "strategy", "source", "difficulty", "messages")


def default_root() -> Path:
    return Settings.from_env().home / "datasets"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def write_shards(agent_dir: Path, split: str, rows: list[dict[str, Any]]) -> list[Path]:
    """Write ``rows`` as ``<split>-00000.jsonl`` ... (an empty split still gets one empty shard)."""
    agent_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    chunks = [rows[i:i + SHARD_SIZE] for i in range(0, len(rows), SHARD_SIZE)] or [[]]
    for n, chunk in enumerate(chunks):
        path = agent_dir / f"{split}-{n:05d}.jsonl"
        tmp = path.with_suffix(".jsonl.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps({k: row[k] for k in EXAMPLE_KEYS}, ensure_ascii=False, sort_keys=False) + "\n" for row in chunk)
        tmp.replace(path)
        paths.append(path)
    return paths


def version_id(config: dict[str, Any], shard_hashes: dict[str, str]) -> str:
    return "v-" + hashlib.sha256(canonical({"config": config, "shards": shard_hashes}).encode()).hexdigest()[:16]


def read_manifest(dataset_dir: Path) -> dict[str, Any]:
    path = Path(dataset_dir) / "manifest.json"
    if not path.is_file():
        raise ConfigError(f"{dataset_dir} is not a tanuki dataset (no manifest.json)",
                          hint="pass a folder made by `tanuki data synth`, or run it first")
    return json.loads(path.read_text(encoding="utf-8"))


def verify_dataset(dataset_dir: Path) -> list[str]:
    """Problems found (empty = intact): every shard listed exists and has the recorded sha256, and the version
    id recomputes from the manifest."""
    dataset_dir = Path(dataset_dir)
    manifest = read_manifest(dataset_dir)
    problems = []
    for rel, digest in manifest["shards"].items():
        p = dataset_dir / rel
        if not p.is_file():
            problems.append(f"missing shard {rel}")
        elif sha256_file(p) != digest:
            problems.append(f"shard {rel} does not match its recorded sha256")
    if version_id(manifest["config"], manifest["shards"]) != manifest["version"]:
        problems.append("the version id does not match the manifest's contents")
    return problems


def latest_dataset(root: Path | None = None) -> Path:
    """The most recently created dataset version under ``root`` (default ``$TANUKI_HOME/datasets``)."""
    root = Path(root) if root is not None else default_root()
    found = []
    if root.is_dir():
        for d in root.iterdir():
            m = d / "manifest.json"
            if d.is_dir() and m.is_file() and not d.name.startswith("."):
                found.append((json.loads(m.read_text(encoding="utf-8")).get("created_at", ""), d.name, d))
    if not found:
        raise ConfigError(f"no dataset under {root}", hint="make one with `tanuki data synth` (or pass --out)")
    return max(found)[2]


def _agent_dir(dataset_dir: Path, agent: str) -> Path:
    for name in (agent, f"tanuki-{agent}"):
        if (dataset_dir / name).is_dir():
            return dataset_dir / name
    known = sorted(p.name for p in dataset_dir.iterdir() if p.is_dir()) if dataset_dir.is_dir() else []
    raise ConfigError(f"dataset {dataset_dir} has no data for agent {agent!r}",
                      hint=f"agents in it: {', '.join(known) or 'none'}; synthesise with `tanuki data synth --agents {agent}`")


def load_dataset_split(dataset_dir: Path, agent: str, split: str) -> list[dict]:
    """Every example of ``agent`` (``tanuki-coder`` or ``coder``) in ``split`` (``train``/``eval``), in shard order."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}", hint=f"use one of: {', '.join(SPLITS)}")
    d = _agent_dir(Path(dataset_dir), agent)
    rows: list[dict] = []
    for shard in sorted(d.glob(f"{split}-*.jsonl")):
        with open(shard, encoding="utf-8") as fh:
            rows.extend(json.loads(line) for line in fh if line.strip())
    return rows
