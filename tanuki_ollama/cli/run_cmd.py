"""``tanuki run "TASK" --repo PATH``: plan, route, brief, act, review, recover; a live view of plan and steps.

The run works on a copy of the repository under ``~/.tanuki/runs/<run id>/workspace`` unless ``--in-place``.
Ctrl-C stops it cleanly and keeps its journal: ``tanuki run --resume RUN_ID`` continues it.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console, Group
from rich.live import Live
from rich.markdown import Markdown
from rich.table import Table
from rich.text import Text

from ..errors import ConfigError
from ..resources import parse_size

STOP_WAIT_S = 120  # after Ctrl-C: how long the report of a stopping run is waited for


STATUS_STYLE = {"pending": "dim", "running": "bold yellow", "accepted": "green", "failed": "red", "skipped": "dim"}


class LiveView:
    """The plan as a table (one row per step, its status and attempts) and the last few events."""

    def __init__(self, task: str):
        self.task = task
        self.steps: dict[str, dict[str, Any]] = {}
        self.events: list[str] = []
        self.run_id: str | None = None
        self.started = time.monotonic()
        self.lock = threading.Lock()

    def on_event(self, event: Any) -> None:
        with self.lock:
            self.run_id = event.run_id
            if event.kind == "plan" and event.data.get("plan"):
                for s in event.data["plan"]["steps"]:
                    self.steps.setdefault(s["id"], {"kind": s["kind"], "agent": s["agent"] or "(router)",
                                                    "goal": s["goal"], "status": "pending", "attempts": 0})
            step_id = (event.data.get("step") or {}).get("id") if isinstance(event.data.get("step"), dict) \
                else event.data.get("step")
            if event.kind == "step_start" and step_id in self.steps:
                self.steps[step_id].update(status="running", agent=event.data.get("agent", ""))
            if event.kind == "step_end":
                sid = event.message.split(":")[0]
                if sid in self.steps:
                    self.steps[sid]["status"] = event.data.get("status", "?")
            if event.kind == "agent" and step_id in self.steps:
                self.steps[step_id]["attempts"] = event.data.get("attempt", 0) + 1
            self.events = (self.events + [f"[{event.kind}] {event.message}"])[-8:]

    def render(self) -> Group:
        elapsed = int(time.monotonic() - self.started)  # ticks while a slow model call gives no events
        table = Table(title=f"tanuki run: {self.task[:80]} ({elapsed // 60}m{elapsed % 60:02d}s)", expand=True)
        for col in ("step", "kind", "agent", "status", "tries", "goal"):
            table.add_column(col, overflow="fold")
        with self.lock:
            for sid, s in self.steps.items():
                table.add_row(sid, s["kind"], s["agent"], Text(s["status"], style=STATUS_STYLE.get(s["status"], "")),
                              str(s["attempts"]), s["goal"][:60])
            events = Text("\n".join(self.events), style="dim")
        return Group(table, events)


def _engine(name: str, num_ctx: int, err: Console) -> Any:
    if name != "ollama":
        from ..engines import create_engine

        return create_engine(name)
    from ..engines.ollama import OllamaEngine
    from ..ollama_server import ensure_ollama

    url, started = ensure_ollama()
    if started:
        err.print(f"[dim]started Ollama at {url}[/]")
    return OllamaEngine(url, num_ctx=num_ctx)


def _micro_defaults(config: Any, err: Console) -> Any:
    """The micro family (135M) rambles and rarely converges: shorter answers and fewer retries, unless given."""
    from ..orchestrator.family import MICRO_RUN_DEFAULTS

    source = click.get_current_context().get_parameter_source
    update = {k: v for k, v in MICRO_RUN_DEFAULTS.items() if source(k).name == "DEFAULT"}
    if update:
        err.print("[dim]micro family: " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in update.items())
                  + " (pass these options to change them)[/]")
    return config.model_copy(update=update)


@click.command("run")
@click.argument("task", nargs=-1)
@click.option("--repo", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True,
              help="the repository to change (a copy of it, unless --in-place)")
@click.option("--in-place", is_flag=True, help="change the repository itself instead of a copy")
@click.option("--family", default="auto", show_default=True,
              help="auto (trained agents if registered, else the micro family), tanuki, or a model prefix")
@click.option("--engine", "engine_name", default="ollama", show_default=True)
@click.option("--memory-budget", default=None, help="keep resident agent models under this size, e.g. 6GB")
@click.option("--max-revisions", default=2, show_default=True, type=click.IntRange(0, 10))
@click.option("--max-replans", default=1, show_default=True, type=click.IntRange(0, 5))
@click.option("--step-timeout", default=300.0, show_default=True, type=float, help="seconds per step")
@click.option("--timeout", default=1800.0, show_default=True, type=float, help="seconds for the whole run")
@click.option("--num-ctx", default=4096, show_default=True, type=click.IntRange(512, 262144))
@click.option("--num-predict", default=768, show_default=True, type=click.IntRange(16, 32768))
@click.option("--resume", default=None, metavar="RUN_ID", help="continue an interrupted run")
@click.option("--journal-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="where runs are journaled (default ~/.tanuki/runs)")
@click.option("--search/--no-search", default=True, show_default=True,
              help="edit steps sample small edits and let the tests decide (--no-search: one whole-file answer)")
@click.option("--samples", default=8, show_default=True, type=click.IntRange(1, 64), help="candidates per round")
@click.option("--rounds", default=3, show_default=True, type=click.IntRange(1, 10),
              help="rounds of sampling, each fed the best partial candidate's failure")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 16),
              help="candidates validated at once in the sandbox")
@click.option("--parallel", "gen_parallel", default=2, show_default=True, type=click.IntRange(1, 16),
              help="model requests in flight at once (Ollama's parallel slots)")
@click.option("--seed", default=0, show_default=True, type=int, help="the seed of the run's sampling")
@click.option("--num-thread", default=None, type=click.IntRange(1, 256), help="engine threads (default: Ollama's)")
@click.option("--json", "as_json", is_flag=True, help="print the RunReport as JSON")
def run(task, repo, in_place, family, engine_name, memory_budget, max_revisions, max_replans, step_timeout,
        timeout, num_ctx, num_predict, resume, journal_dir, search, samples, rounds, workers, gen_parallel, seed,
        num_thread, as_json) -> None:
    """Turn TASK into a verified change of the repository: plan, act, test, review, recover."""
    from ..agents.roster import load_roster
    from ..orchestrator import RunConfig, run_task
    from ..orchestrator.family import MICRO_FAMILY, resolve_models
    from ..orchestrator.loop import Cancelled

    err = Console(stderr=True)
    text = " ".join(task).strip()
    if not text and not resume:
        raise ConfigError("no task given", hint='tanuki run "make the failing test pass" --repo PATH')
    if not resume and not repo.is_dir():  # before Ollama, the agents and the live view start
        raise ConfigError(f"repository {repo} is not a folder", hint="pass --repo PATH to an existing folder")
    config = RunConfig(max_revisions=max_revisions, max_replans=max_replans, step_timeout_s=step_timeout,
                       run_timeout_s=timeout, num_ctx=num_ctx, num_predict=num_predict, in_place=in_place,
                       memory_budget_bytes=parse_size(memory_budget) if memory_budget else None,
                       journal_dir=journal_dir, resume=resume, search=search, samples=samples, rounds=rounds,
                       workers=workers, gen_parallel=gen_parallel, seed=seed, num_thread=num_thread)
    engine = _engine(engine_name, num_ctx, err)
    roster = load_roster()
    if engine_name == "ollama":
        config, created = resolve_models(engine, roster, family, config)
        if created:
            err.print(f"[dim]registered {len(created)} micro agents (SmolLM2-135M + each agent's prompt)[/]")
        if config.models.get("tanuki-coder", "").startswith(MICRO_FAMILY):
            config = _micro_defaults(config, err)
    view = LiveView(text or f"resume {resume}")
    cancel = threading.Event()
    box: dict[str, Any] = {}

    def body() -> None:
        try:
            box["report"] = run_task(text, repo, engine=engine, config=config, on_event=view.on_event,
                                     cancel=cancel, roster=roster)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread (the CLI's error boundary)
            box["error"] = exc
        finally:
            finished.set()

    # Waiting on an Event, not Thread.join: a join interrupted by Ctrl-C can mark a live thread as finished
    # (CPython < 3.13), so a second join would return at once and the report would be lost.
    finished = threading.Event()
    worker = threading.Thread(target=body, name="tanuki-run", daemon=True)
    with Live(view.render(), console=err, refresh_per_second=4, transient=as_json) as live:
        worker.start()
        try:
            while not finished.wait(0.25):
                live.update(view.render())
        except KeyboardInterrupt:
            cancel.set()
            err.print("[yellow]stopping: the journal is kept, continue with --resume "
                      "(Ctrl-C again to leave without the report)[/]")
            try:
                finished.wait(STOP_WAIT_S)
            except KeyboardInterrupt:
                pass
    if "error" in box:
        raise box["error"]
    if "report" not in box:  # still stopping (e.g. Ollama busy with the abandoned request), or left at once
        run_id = view.run_id or "RUN_ID"
        raise Cancelled(f"run {run_id} stopped before it could write its report",
                        hint=f"its journal is kept: continue it with `tanuki run --resume {run_id}`")
    report = box["report"]
    if as_json:
        click.echo(report.model_dump_json(indent=2))
        return
    Console().print(Markdown(report.to_markdown()))
    if report.status == "cancelled":
        err.print(f"resume with: tanuki run --resume {report.run_id}")


COMMANDS = [run]
