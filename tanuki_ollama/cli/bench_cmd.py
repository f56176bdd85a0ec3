"""``tanuki bench``: performance benchmarks that print JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.group("bench")
def bench_group() -> None:
    """Benchmarks (each prints one JSON object with --json)."""


@bench_group.command("switch")
@click.option("--agents", default=2, show_default=True, help="agents switched between in (a), (b), (c)")
@click.option("--reps", default=3, show_default=True, help="rounds of switches (and decode repetitions)")
@click.option("--num-predict", default=8, show_default=True)
@click.option("--memory-loras", default=10, show_default=True, help="LoRAs loaded for the memory measurement")
@click.option("--no-merged", is_flag=True, help="skip (b), Ollama with merged per-agent GGUFs")
@click.option("--no-ollama", is_flag=True, help="skip (a) and (b)")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="threads of every engine (Ollama's num_thread too); default: each engine's own")
@click.option("--reuse", type=click.Choice(["exact", "prefix", "off"]), default="exact", show_default=True,
              help="the engine's prompt reuse: exact (bit-identical to a full evaluation), prefix (as Ollama: "
                   "the longest common prefix under the same adapter), off (every prompt in full)")
@click.option("--backbone", type=click.Choice(["micro", "3b-random"]), default="micro", show_default=True,
              help="3b-random: a random-weight Q4_K_M GGUF shaped like Ministral 3 3B (built once, ~2 GB; "
                   "timing only; (b) is skipped)")
@click.option("--json", "as_json", is_flag=True, help="print only the JSON object")
def switch_cmd(agents: int, reps: int, num_predict: int, memory_loras: int, no_merged: bool, no_ollama: bool,
               threads: int | None, reuse: str, backbone: str, as_json: bool) -> None:
    """Agent-switch latency and TTFT: Ollama+ADAPTER, Ollama merged, and the hot-swap engine; memory; decode."""
    from ..bench.switch import run_switch_bench

    log = None if as_json else (lambda msg: click.echo(msg, err=True))
    res = run_switch_bench(agents=agents, reps=reps, num_predict=num_predict, memory_loras=memory_loras,
                           merged=not no_merged, ollama=not no_ollama, threads=threads,
                           prompt_cache=reuse, backbone=backbone, log=log)
    json.dump(res, sys.stdout, indent=None if as_json else 2)
    sys.stdout.write("\n")


@bench_group.command("sandbox")
@click.option("--json", "as_json", is_flag=True, help="print only the JSON object")
@click.option("--lang", "languages", multiple=True, help="only these languages (repeatable; default: all)")
@click.option("--repeat", default=7, show_default=True, help="runs per median")
def sandbox_cmd(as_json: bool, languages: tuple[str, ...], repeat: int) -> None:
    """Sandbox start-up and run overhead per language (tanuki_ollama.sandbox.bench)."""
    from ..sandbox.bench import bench

    res = bench(languages=list(languages) or None, repeat=repeat)
    json.dump(res, sys.stdout, indent=None if as_json else 2, default=str)
    sys.stdout.write("\n")


@bench_group.command("repomap")
@click.option("--files", default=2000, show_default=True, help="files of the synthetic repository")
@click.option("--path", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="an existing repository instead (a synthetic one is written there if it is empty)")
@click.option("--repeat", default=5, show_default=True, help="runs per median")
@click.option("--json", "as_json", is_flag=True, help="print only the JSON object")
def repomap_cmd(files: int, path: Path | None, repeat: int, as_json: bool) -> None:
    """Repo map: cold/warm build, search, render and incremental update (tree-sitter, 8 languages)."""
    from ..orchestrator.repomap import bench

    res = bench(files=files, root=path, repeat=repeat)
    json.dump(res, sys.stdout, indent=None if as_json else 2)
    sys.stdout.write("\n")


@bench_group.command("orchestrator")
@click.option("--repeat", default=3, show_default=True, help="runs per median")
@click.option("--files", default=2000, show_default=True, help="files of the synthetic repository")
@click.option("--rounds", default=2, show_default=True, help="rounds of agent switches on the real Ollama")
@click.option("--no-ollama", is_flag=True, help="skip the agent-switch measurement (needs a real Ollama)")
@click.option("--json", "as_json", is_flag=True, help="print only the JSON object")
def orchestrator_cmd(repeat: int, files: int, rounds: int, no_ollama: bool, as_json: bool) -> None:
    """Orchestrator overhead per step, briefing-packet build (2,000 files), agent switch: residency vs naive."""
    from ..bench.orchestrator import run_orchestrator_bench

    log = None if as_json else (lambda msg: click.echo(msg, err=True))
    res = run_orchestrator_bench(repeats=repeat, files=files, switch=not no_ollama, rounds=rounds, log=log)
    json.dump(res, sys.stdout, indent=None if as_json else 2)
    sys.stdout.write("\n")


# The evaluation benches (humaneval, bugfix, scenarios, compare) live in cli/bench_eval.py.
from .bench_eval import EVAL_COMMANDS  # noqa: E402

for _command in EVAL_COMMANDS:
    bench_group.add_command(_command)


@bench_group.command("serve")
@click.option("--engine", default="ollama", show_default=True,
              help="ollama (real model, OLLAMA_HOST) or scripted (zero-cost engine: the server alone)")
@click.option("--model", default=None, help="engine model (default: tanuki-micro)")
@click.option("--requests", default=50, show_default=True, help="paired requests (direct vs served)")
@click.option("--stream-words", default=2000, show_default=True, help="length of the streamed answer (scripted)")
@click.option("--json", "as_json", is_flag=True, help="print only the JSON object")
def serve_bench_cmd(engine: str, model: str | None, requests: int, stream_words: int, as_json: bool) -> None:
    """Latency `tanuki serve` adds per request vs the engine called directly (target <= 3 ms median), and
    streaming throughput (tanuki_ollama.bench.serve)."""
    from ..bench.serve import run_serve_bench

    log = None if as_json else (lambda msg: click.echo(msg, err=True))
    res = run_serve_bench(engine=engine, model=model, requests=requests, stream_words=stream_words, log=log)
    json.dump(res, sys.stdout, indent=None if as_json else 2)
    sys.stdout.write("\n")


@bench_group.command("scale")
@click.option("--store", "stores", multiple=True, help="store URL to measure (repeatable; default a temp SQLite)")
@click.option("--ops", default=400, show_default=True, help="operations per measurement")
@click.option("--clients", default=4, show_default=True, help="threads calling the store at once")
@click.option("--train/--no-train", default=True, show_default=True, help="also time 1 vs N training processes")
@click.option("--processes", default="1,2", show_default=True, help="training process counts (CPU, gloo)")
@click.option("--json", "as_json", is_flag=True, help="print only the JSON object")
def scale_cmd(stores: tuple[str, ...], ops: int, clients: int, train: bool, processes: str, as_json: bool) -> None:
    """Scale-out costs: shared-store operations per request (SQLite/PostgreSQL/Redis), data-parallel training."""
    from ..bench.scale import bench_stores, bench_train

    res: dict = {"stores": bench_stores(list(stores), ops=ops, clients=clients)}
    if train:
        res["train"] = bench_train([int(n) for n in processes.split(",")])
    json.dump(res, sys.stdout, indent=None if as_json else 2)
    sys.stdout.write("\n")


COMMANDS = [bench_group]
