"""``tanuki sandbox``: run a file in the sandbox, run the attack suite, benchmark it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table


def _sandbox(backend: str | None, allow_weak: bool):
    from ..sandbox import Sandbox

    return Sandbox(backend, allow_weak=allow_weak)


@click.group("sandbox")
def sandbox_group() -> None:
    """Run untrusted code isolated from the host (jail or container backend)."""


@sandbox_group.command("run")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("args", nargs=-1)
@click.option("--lang", "language", help="python, javascript, typescript, java, c, cpp, go, rust, bash "
              "(default: from the file's extension)")
@click.option("--stdin", "stdin_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Feed this file to the program's stdin.")
@click.option("--timeout", type=float, help="Wall-clock and CPU seconds (default 10).")
@click.option("--memory", type=int, help="Memory limit in MB (default 512).")
@click.option("--backend", type=click.Choice(["jail", "container"]), help="Force a backend.")
@click.option("--allow-weak", is_flag=True, help="Accept reduced isolation when nothing stronger exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def run_cmd(file: Path, args: tuple[str, ...], language: str | None, stdin_file: Path | None, timeout: float | None,
            memory: int | None, backend: str | None, allow_weak: bool, as_json: bool) -> None:
    """Compile (cached) and run FILE in the sandbox; exit with the program's exit code."""
    sb = _sandbox(backend, allow_weak)
    lang = sb.table.get(language) if language else sb.table.for_file(file.name)
    limits = sb.limits.merged(wall_s=timeout, cpu_s=timeout, memory_mb=memory)
    stdin = stdin_file.read_bytes() if stdin_file else b""
    r = sb.run(lang.name, {file.name: file.read_bytes()}, stdin=stdin, args=args, limits=limits, main=file.name)
    if as_json:
        click.echo(json.dumps(r.model_dump(mode="json")))
        return
    if r.compile is not None and (r.compile.stdout or r.compile.stderr) and r.compile_failed:
        sys.stderr.write(r.compile.stdout + r.compile.stderr)
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr)
    note = []
    if r.compile is not None:
        note.append(f"compile {'cached' if r.compile.cached else f'{r.compile.duration_s:.2f} s'}")
    if r.limit_hit:
        note.append(f"LIMIT: {r.limit_hit}")
    Console(stderr=True).print(f"[dim][{r.backend}/{r.isolation}] {lang.name} exit={r.exit_code} "
                               f"{r.duration_s * 1000:.0f} ms {' '.join(note)}[/]", highlight=False)
    raise click.exceptions.Exit(r.exit_code if r.exit_code is not None else 137)


@sandbox_group.command("check")
@click.option("--backend", type=click.Choice(["jail", "container"]), help="Force a backend.")
@click.option("--allow-weak", is_flag=True, help="Check a reduced-isolation backend too.")
@click.option("--workers", default=2, show_default=True, help="Attacks run in parallel.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def check_cmd(backend: str | None, allow_weak: bool, workers: int, as_json: bool) -> None:
    """Run the attack suite; every attack must be contained (exit 1 otherwise)."""
    from ..sandbox.attacks import run_suite

    sb = _sandbox(backend, allow_weak)
    outcomes = run_suite(sb, workers=workers)
    if as_json:
        click.echo(json.dumps({"backend": sb.backend.name, "isolation": sb.backend.isolation,
                               "all_contained": all(o.contained for o in outcomes),
                               "attacks": [o.model_dump() for o in outcomes]}))
    else:
        table = Table(title=f"sandbox attack suite ({sb.backend.name}, {sb.backend.isolation} isolation)")
        for col in ("attack", "result", "evidence", "s"):
            table.add_column(col, overflow="fold")
        for o in outcomes:
            table.add_row(o.name, "[green]contained[/]" if o.contained else "[bold red]ESCAPED[/]", o.evidence,
                          f"{o.duration_s:.2f}")
        Console().print(table)
    if not all(o.contained for o in outcomes):
        raise click.exceptions.Exit(1)


@sandbox_group.command("bench")
@click.option("--lang", "languages", multiple=True, help="Only these languages (repeatable).")
@click.option("--repeat", default=7, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_cmd(languages: tuple[str, ...], repeat: int, as_json: bool) -> None:
    """Latency in the sandbox vs bare, cached-compile speed-up, pool throughput."""
    from ..sandbox.bench import bench

    res = bench(languages=list(languages) or None, repeat=repeat)
    if as_json:
        click.echo(json.dumps(res))
        return
    table = Table(title=f"sandbox bench ({res['backend']})")
    cols = ("sandbox_median_ms", "bare_median_ms", "overhead_ms", "overhead_ratio", "compile_s", "cached_speedup")
    table.add_column("language")
    for c in cols:
        table.add_column(c)
    for name, row in res["languages"].items():
        table.add_row(name, *[str(row.get(c, "")) for c in cols])
    Console().print(table)
    click.echo(f"python runs/s: pool 2 = {res['python_runs_per_s_pool_2']}, pool 8 = {res['python_runs_per_s_pool_8']}")


COMMANDS = [sandbox_group]
