"""``tanuki models``, ``tanuki ps`` and ``tanuki setup-micro``."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from ..engines.ollama import OllamaEngine
from ..micro import MICRO_MODEL, micro_gguf, register_micro
from ..ollama_server import ensure_ollama


def _size(n: int) -> str:
    return f"{n / 2**20:.0f} MiB" if n < 2**30 else f"{n / 2**30:.2f} GiB"


@click.command()
@click.option("--json", "as_json", is_flag=True)
def models(as_json: bool) -> None:
    """The tanuki family and where each model lives (Ollama's store)."""
    engine = OllamaEngine()
    listed = engine.list_models()
    family = [m for m in listed if m.name.split(":")[0].startswith("tanuki")]
    if as_json:
        click.echo(json.dumps({"host": engine.host, "models": [m.model_dump() for m in listed]}, indent=2))
        return
    table = Table(title=f"models at {engine.host}")
    for col in ("model", "family", "size", "quant", "digest"):
        table.add_column(col)
    for m in family + [m for m in listed if m not in family]:
        table.add_row(m.name, m.family, _size(m.size_bytes), m.quantization, m.digest[:12])
    Console().print(table)
    if not family:
        click.echo(f"no tanuki models yet: `tanuki setup-micro` registers {MICRO_MODEL}")


@click.command()
@click.option("--json", "as_json", is_flag=True)
def ps(as_json: bool) -> None:
    """Resident models and their memory, from Ollama's /api/ps."""
    engine = OllamaEngine()
    running = engine.running()
    if as_json:
        click.echo(json.dumps({"host": engine.host, "running": [r.model_dump() for r in running]}, indent=2))
        return
    table = Table(title=f"resident at {engine.host}")
    for col in ("model", "size", "vram", "context", "expires"):
        table.add_column(col)
    for r in running:
        table.add_row(r.name, _size(r.size_bytes), _size(r.size_vram_bytes), str(r.context_length), r.expires_at or "")
    Console().print(table)
    click.echo(f"total: {_size(sum(r.size_bytes for r in running))} (Ollama's estimate, not process RSS)")


@click.command("setup-micro")
@click.option("--name", default=MICRO_MODEL, show_default=True)
@click.option("--family", "with_family", is_flag=True,
              help="Also register the untrained micro family (tanuki-micro-<role>: the micro backbone with each "
                   "core agent's prompt; seconds, no training).")
def setup_micro(name: str, with_family: bool) -> None:
    """Register the micro backbone (SmolLM2-135M-Instruct) in Ollama as NAME."""
    url, started = ensure_ollama()
    if started:
        click.echo(f"started Ollama at {url}")
    engine = OllamaEngine(url)
    click.echo(f"registering {name} from {micro_gguf()} ...")
    register_micro(engine, name)
    click.echo(f"done: `ollama run {name}` works now")
    if with_family:
        from ..agents.roster import load_roster
        from ..orchestrator.family import MICRO_FAMILY, register_micro_family, run_agents

        roster = load_roster()
        register_micro_family(engine, roster)
        names = [f"{MICRO_FAMILY}-{roster.get(a).role}" for a in run_agents(roster)]
        click.echo(f"micro family: {', '.join(names)}")
        click.echo(f"try: ollama run {names[0]} \"write is_palindrome in Python\"  "
                   "(the trained family replaces it: `tanuki factory build`)")


COMMANDS = [models, ps, setup_micro]
