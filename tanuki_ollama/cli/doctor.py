"""``tanuki doctor``."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from ..doctor import as_json, run_checks

STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "info": "cyan"}


@click.command()
@click.option("--json", "as_json_", is_flag=True, help="Print one JSON object.")
@click.option("--training", is_flag=True, help="Also check GPU, CUDA, bitsandbytes and disk for training.")
def doctor(as_json_: bool, training: bool) -> None:
    """Check Python, llama.cpp, Ollama, engines, sandbox and machine; say what to fix."""
    checks = run_checks(training=training)
    if as_json_:
        click.echo(json.dumps(as_json(checks), indent=2))
    else:
        table = Table(title="tanuki doctor", show_lines=False)
        for col in ("check", "status", "detail", "what to do"):
            table.add_column(col, overflow="fold")
        for c in checks:
            table.add_row(c.name, f"[{STYLE[c.status]}]{c.status}[/]", c.detail, c.fix)
        Console().print(table)
    if any(c.status == "fail" for c in checks):
        raise click.exceptions.Exit(1)


COMMANDS = [doctor]
