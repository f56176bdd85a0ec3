"""``tanuki bench``: performance benchmarks that print JSON."""

from __future__ import annotations

import json
import sys

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
@click.option("--threads", type=int, default=None, help="llama-server threads for the engine (default: cores/2)")
@click.option("--prompt-cache", is_flag=True, help="let the engine reuse cached prompt prefixes (as Ollama does)")
@click.option("--json", "as_json", is_flag=True, help="print only the JSON object")
def switch_cmd(agents: int, reps: int, num_predict: int, memory_loras: int, no_merged: bool, no_ollama: bool,
               threads: int | None, prompt_cache: bool, as_json: bool) -> None:
    """Agent-switch latency and TTFT: Ollama+ADAPTER, Ollama merged, and the hot-swap engine; memory; decode."""
    from ..bench.switch import run_switch_bench

    log = None if as_json else (lambda msg: click.echo(msg, err=True))
    res = run_switch_bench(agents=agents, reps=reps, num_predict=num_predict, memory_loras=memory_loras,
                           merged=not no_merged, ollama=not no_ollama, threads=threads,
                           prompt_cache=prompt_cache, log=log)
    json.dump(res, sys.stdout, indent=None if as_json else 2)
    sys.stdout.write("\n")


@bench_group.command("sandbox")
@click.option("--json", "as_json", is_flag=True, help="print only the JSON object")
def sandbox_cmd(as_json: bool) -> None:
    """Sandbox start-up and run overhead per language (tanuki_ollama.sandbox.bench)."""
    from ..sandbox.bench import bench

    json.dump(bench(), sys.stdout, indent=None if as_json else 2, default=str)
    sys.stdout.write("\n")


COMMANDS = [bench_group]
