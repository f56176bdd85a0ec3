"""``tanuki ollama start|stop|status``: the managed local ``ollama serve``."""

from __future__ import annotations

import click

from ..ollama_server import is_reachable, managed_pid, start_managed, stop_managed
from ..settings import Settings


@click.group("ollama")
def ollama_group() -> None:
    """Run the pinned Ollama in the background on OLLAMA_HOST (default 127.0.0.1:11434)."""


@ollama_group.command()
def start() -> None:
    """Start `ollama serve` in the background (does nothing when one already answers)."""
    settings = Settings.from_env()
    if is_reachable(settings.ollama_host):
        click.echo(f"Ollama already answers at {settings.ollama_host}")
        return
    server = start_managed(settings)
    click.echo(f"started {server.binary} serve at {settings.ollama_host} (pid {server.process.pid}, "
               f"log {settings.home / 'logs' / 'ollama.log'})")


@ollama_group.command()
def stop() -> None:
    """Stop the Ollama that `tanuki ollama start` started."""
    click.echo("stopped" if stop_managed() else "no managed Ollama is running")


@ollama_group.command()
def status() -> None:
    """Say whether Ollama answers, and whether tanuki manages it."""
    settings = Settings.from_env()
    pid = managed_pid(settings)
    up = is_reachable(settings.ollama_host)
    click.echo(f"{settings.ollama_host}: {'answering' if up else 'not answering'}"
               + (f" (managed, pid {pid})" if pid else ""))


COMMANDS = [ollama_group]
