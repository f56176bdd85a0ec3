"""``tanuki``: the entry point and the one place where errors become messages and exit codes.

Set ``TANUKI_RAISE_ERRORS=1`` to get tracebacks instead of messages.
"""

from __future__ import annotations

import os
import sys

import click
from rich.console import Console

from .. import __version__
from ..errors import TanukiError

err_console = Console(stderr=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tanuki")
def cli() -> None:
    """Tanuki-Programmer: a family of local coding agents on one small backbone, run through Ollama."""


def _register_commands() -> None:
    from . import (ask, bench_cmd, data_cmd, doctor, factory_cmd, keys_cmd, models, ollama_cmd, run_cmd, sandbox_cmd,
                   serve_cmd)

    for module in (ask, bench_cmd, data_cmd, doctor, factory_cmd, keys_cmd, models, ollama_cmd, run_cmd, sandbox_cmd,
                   serve_cmd):
        for command in module.COMMANDS:
            cli.add_command(command)


_register_commands()


def main(argv: list[str] | None = None) -> int:
    try:
        cli.main(args=argv, prog_name="tanuki", standalone_mode=False)
        return 0
    except TanukiError as exc:
        if os.environ.get("TANUKI_RAISE_ERRORS"):
            raise
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        if exc.hint:
            err_console.print(f"[yellow]hint:[/] {exc.hint}", highlight=False)
        return exc.exit_code
    except click.exceptions.Abort:
        err_console.print("aborted")
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
