"""Sharded synthesis: ``tanuki data synth --shard i/N`` on N workers (or a cluster job array), then
``tanuki data merge`` joins the N partial datasets into the dataset one process makes (same version id, same bytes).

Shard ``i`` of ``N`` builds the agents ``agents[i::N]`` of the configuration (in roster-selection order); mining and
probing, cheap and deterministic, run in every shard. A partial dataset is a normal dataset folder whose manifest has
a ``shard`` entry ``{index, count, agents, mine_notes, agent_notes}``; its version id hashes the shard too, so
partials never collide with whole datasets. Example (a Slurm array)::

    tanuki data synth --agents all --seed 1 --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT --out /shared/parts
    tanuki data merge /shared/parts/v-* --out /shared/datasets      # once every task has finished
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from . import store


class ShardsIncomplete(ConfigError):
    """The partial datasets given to merge do not make one whole dataset."""


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/N"`` -> ``(i, N)`` with ``0 <= i < N``.

    >>> parse_shard("1/4")
    (1, 4)
    """
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise ConfigError(f"bad shard {text!r}", hint="write --shard INDEX/COUNT, e.g. --shard 0/4 (0-based)") from None
    return check_shard((index, count))


def check_shard(shard: tuple[int, int]) -> tuple[int, int]:
    index, count = shard
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"shard {index}/{count} is out of range", hint="INDEX runs from 0 to COUNT-1")
    return shard


def shard_version(config: dict[str, Any], shard: tuple[int, int], shard_hashes: dict[str, str]) -> str:
    return store.version_id(config | {"shard": f"{shard[0]}/{shard[1]}"}, shard_hashes)


def _partials(paths: list[Path]) -> list[tuple[Path, dict[str, Any]]]:
    parts = []
    for path in paths:
        manifest = store.read_manifest(path)
        if "shard" not in manifest:
            raise ConfigError(f"{path} is a whole dataset, not a shard", hint="merge only `--shard i/N` outputs")
        for rel, digest in manifest["shards"].items():
            if not (path / rel).is_file() or store.sha256_file(path / rel) != digest:
                raise ConfigError(f"shard {path} is damaged: {rel} is missing or altered",
                                  hint="rerun that shard's `tanuki data synth --shard` command (it resumes)")
        parts.append((path, manifest))
    parts.sort(key=lambda pm: pm[1]["shard"]["index"])
    first = parts[0][1] if parts else None
    if first is None:
        raise ShardsIncomplete("no shards to merge", hint="pass the folders written by `tanuki data synth --shard`")
    count = first["shard"]["count"]
    indexes = [m["shard"]["index"] for _, m in parts]
    if indexes != list(range(count)):
        missing = sorted(set(range(count)) - set(indexes))
        raise ShardsIncomplete(
            f"have shards {indexes} of {count}" + (f"; missing {missing}" if missing else "; some appear twice"),
            hint="wait for every shard's job to finish (or rerun the missing ones), then merge all of them",
        )
    for path, m in parts:
        if m["config"] != first["config"] or m["shard"]["count"] != count:
            raise ShardsIncomplete(f"{path} was made with another configuration",
                                   hint="merge shards of one `tanuki data synth` command (same agents, seed, sources)")
    return parts


def merge_shards(paths: list[Path], out: Path | None = None) -> Path:
    """Join the partial datasets ``paths`` (all N shards of one configuration) into ``out/<version>``."""
    parts = _partials([Path(p) for p in paths])
    first = parts[0][1]
    root = Path(out) if out is not None else store.default_root()
    order = first["config"]["agents"]
    by_agent = {a: (path, m) for path, m in parts for a in m["shard"]["agents"]}
    shard_hashes = {rel: digest for a in order for rel, digest in by_agent[a][1]["shards"].items()
                    if rel.split("/", 1)[0] == a}
    version = store.version_id(first["config"], shard_hashes)
    final = root / version
    if final.exists():
        return final
    agent_notes = {a: n for _, m in parts for a, n in m["shard"]["agent_notes"].items()}
    manifest = {k: v for k, v in first.items() if k != "shard"} | {
        "version": version, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "agents": {a: by_agent[a][1]["agents"][a] for a in order},
        "shards": shard_hashes,
        "notes": first["shard"]["mine_notes"] + [agent_notes[a] for a in order if a in agent_notes],
    }
    tmp = root / f".merge-{version}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for a in order:
        shutil.copytree(by_agent[a][0] / a, tmp / a)
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(final)
    return final
