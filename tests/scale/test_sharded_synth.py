"""`tanuki data synth --shard i/N` on N workers + `tanuki data merge` == one process (same version, same bytes)."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner

from tanuki_ollama.cli.data_cmd import data_group
from tanuki_ollama.errors import ConfigError
from tanuki_ollama.factory.data.shards import ShardsIncomplete, merge_shards, parse_shard
from tests.factory_data.conftest import write_corpus

AGENTS = "coder,debugger,tester,planner-critic,documenter"


def _synth(corpus, out, *extra):
    """One worker: its own `tanuki` process and output folder (as a job on a cluster)."""
    argv = [sys.executable, "-m", "tanuki_ollama", "data", "synth", "--agents", AGENTS, "--per-agent", "4",
            "--source", str(corpus), "--seed", "5", "--out", str(out), "--quiet", *extra]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip().splitlines()[-1]


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.jsonl"))}


@pytest.mark.slow
def test_three_shards_merge_into_the_one_process_dataset(tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    whole = _synth(corpus, tmp_path / "one")
    with ThreadPoolExecutor(3) as pool:  # three workers at once
        parts = list(pool.map(lambda i: _synth(corpus, tmp_path / f"part{i}", "--shard", f"{i}/3"), range(3)))
    manifests = [json.loads((Path(p) / "manifest.json").read_text()) for p in parts]
    agents_per_part = [m["shard"]["agents"] for m in manifests]
    done = sorted(a for agents in agents_per_part for a in agents)
    assert done == sorted(json.loads((Path(whole) / "manifest.json").read_text())["agents"])
    assert all(agents_per_part)  # each worker really did a share

    res = CliRunner().invoke(data_group, ["merge", *parts[::-1], "--out", str(tmp_path / "merged")],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    merged = res.output.strip().splitlines()[-1]
    assert merged.rsplit("/", 1)[-1] == whole.rsplit("/", 1)[-1]  # the same version id
    assert _files(Path(merged)) == _files(Path(whole)) and _files(Path(whole))
    a, b = (json.loads((Path(d) / "manifest.json").read_text()) for d in (merged, whole))
    a.pop("created_at"), b.pop("created_at")
    assert a == b

    res = CliRunner().invoke(data_group, ["stats", merged, "--json"], catch_exceptions=False)
    assert res.exit_code == 0 and json.loads(res.output)["problems"] == []

    with pytest.raises(ShardsIncomplete, match="missing \\[1\\]"):
        merge_shards([Path(parts[0]), Path(parts[2])], tmp_path / "bad")
    with pytest.raises(ConfigError, match="whole dataset"):
        merge_shards([Path(whole)], tmp_path / "bad")


def test_shard_syntax():
    assert parse_shard("0/1") == (0, 1) and parse_shard("3/4") == (3, 4)
    for bad in ("4/4", "-1/2", "1", "a/b", "0/0"):
        with pytest.raises(ConfigError):
            parse_shard(bad)
