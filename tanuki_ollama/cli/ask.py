"""``tanuki ask``: one question to one model, streamed."""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console

from ..engines.ollama import OllamaEngine
from ..micro import MICRO_MODEL, register_micro
from ..ollama_server import ensure_ollama
from ..types import Message


@click.command()
@click.argument("question", nargs=-1, required=True)
@click.option("--model", "-m", default=MICRO_MODEL, show_default=True, envvar="TANUKI_MODEL")
@click.option("--system", default=None, help="Replace the model's system prompt.")
@click.option("--num-ctx", default=4096, show_default=True, type=click.IntRange(256, 262144))
@click.option("--temperature", default=None, type=float)
@click.option("--seed", default=None, type=int)
@click.option("--max-tokens", default=512, show_default=True, type=click.IntRange(1, 32768))
@click.option("--json", "as_json", is_flag=True, help="Print the whole answer as one JSON object.")
def ask(question, model, system, num_ctx, temperature, seed, max_tokens, as_json) -> None:
    """Ask MODEL a coding QUESTION (starts the managed Ollama and registers the micro model when needed)."""
    err = Console(stderr=True)
    url, started = ensure_ollama()
    if started:
        err.print(f"[dim]started Ollama at {url}[/]")
    engine = OllamaEngine(url, num_ctx=num_ctx)
    if model == MICRO_MODEL and not engine.has_model(model):
        err.print(f"[dim]registering {model} (SmolLM2-135M-Instruct) in Ollama...[/]")
        register_micro(engine, model)
    messages = ([Message(role="system", content=system)] if system else []) + [
        Message(role="user", content=" ".join(question))
    ]
    options = {"num_predict": max_tokens}
    if temperature is not None:
        options["temperature"] = temperature
    if seed is not None:
        options["seed"] = seed
    if as_json:
        result = engine.chat(model, messages, options=options)
        click.echo(json.dumps(result.model_dump(), indent=2))
        return
    last = None
    for chunk in engine.chat_stream(model, messages, options=options):
        sys.stdout.write(chunk.content)
        sys.stdout.flush()
        last = chunk
    sys.stdout.write("\n")
    if last and last.usage:
        err.print(f"[dim]{model}: {last.usage.prompt_tokens} prompt + {last.usage.completion_tokens} answer tokens, "
                  f"{last.usage.total_duration_s:.1f}s[/]")


COMMANDS = [ask]
