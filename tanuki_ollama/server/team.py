"""The ``tanuki`` model: a chat turn becomes a run of the orchestrated team.

The task is the last user message. The run starts from a snapshot of the server's workspace (``tanuki serve
--workspace DIR``; the original is never written; the orchestrator works in its own copy, kept with the run's
journal), so concurrent runs cannot step on each other. Progress
(plan, steps, reviews) streams as content chunks; the last chunk carries the report in Markdown (summary,
evidence, diff) and, for the web UI, the structured run (``tanuki_run``). Every event is appended to the
store's run journal, so any replica can show the run (``GET /api/runs/{run_id}``).
"""

from __future__ import annotations

import queue
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import CapabilityMissing, ConfigError
from ..types import ChatChunk, Message, Usage
from .store import Store

_COPY_IGNORE = shutil.ignore_patterns(".venv", "node_modules", "__pycache__", ".mypy_cache", ".pytest_cache")
_ICONS = {"plan": "◆", "step_start": "▶", "agent": "»", "tool": "⚙", "review": "✎", "rollback": "↺",
          "replan": "◆", "step_end": "■", "done": "✔", "error": "✖"}


class TeamChunk(ChatChunk):
    run: dict[str, Any] | None = None


def task_from(messages: list[Message]) -> str:
    for m in reversed(messages):
        if m.role == "user" and m.content.strip():
            return m.content.strip()
    raise ConfigError("the tanuki model needs a task: send at least one non-empty user message",
                      hint="put the task in the last user message")


def copy_workspace(workspace: Path) -> Path:
    if not workspace.is_dir():
        raise ConfigError(f"workspace {workspace} is not a directory", hint="start `tanuki serve --workspace DIR`")
    dst = Path(tempfile.mkdtemp(prefix="tanuki-run-")) / workspace.name
    shutil.copytree(workspace, dst, symlinks=True, ignore=_COPY_IGNORE)
    return dst


def _orchestrator() -> Any:
    try:
        from .. import orchestrator
        return orchestrator.run_task, orchestrator.RunConfig
    except (ImportError, AttributeError) as exc:
        raise CapabilityMissing(f"the orchestrator is not available in this installation ({exc})",
                                hint="chat with an agent model directly (see /api/tags)") from exc


def run_config(family: str | None) -> Any:
    _, RunConfig = _orchestrator()
    return RunConfig.for_family(family) if family else RunConfig()


def team_stream(messages: list[Message], *, engine: Any, store: Store, workspace: Path | None,
                family: str | None = None, model: str = "tanuki", metrics: Any = None) -> Iterator[TeamChunk]:
    """Run the team on a copy of ``workspace``; yield progress chunks, then the report (``done=True``).
    ``metrics`` (the server's ``Metrics``) counts each finished run by status (``tanuki_team_runs_total``)."""
    if workspace is None:
        raise ConfigError("the tanuki model needs a workspace, and this server has none",
                          hint="start the server with `tanuki serve --workspace DIR` (each run works on a copy)")
    task = task_from(messages)
    run_task, _ = _orchestrator()
    config = run_config(family)
    repo = copy_workspace(Path(workspace))
    events: queue.Queue = queue.Queue()
    cancel = threading.Event()
    outcome: dict[str, Any] = {}

    def on_event(event: Any) -> None:
        store.append_event(event.run_id, event.kind, {"message": event.message, **(event.data or {})})
        events.put(event)

    def work() -> None:
        try:
            outcome["report"] = run_task(task, repo, engine=engine, config=config, on_event=on_event, cancel=cancel)
        except BaseException as exc:  # noqa: BLE001 - handed to the streaming thread, re-raised there
            outcome["error"] = exc
        finally:
            events.put(None)

    thread = threading.Thread(target=work, name="tanuki-run", daemon=True)
    thread.start()
    streamed = False
    try:
        while (event := events.get()) is not None:
            streamed = True
            yield TeamChunk(model=model, content=f"{_ICONS.get(event.kind, '·')} [{event.kind}] {event.message}\n")
        thread.join()
        if "error" in outcome:
            error = outcome["error"]
            if not streamed or not isinstance(error, Exception):
                raise error  # before the first chunk: an HTTP error status
            yield TeamChunk(model=model, content=f"✖ [error] the run stopped: {error}\n")  # mid-stream
            if metrics is not None:
                metrics.runs.labels("failed").inc()
            yield TeamChunk(model=model, done=True, done_reason="stop", run={"status": "failed", "error": str(error)})
            return
        report = outcome["report"]
        store.append_event(report.run_id, "report", report.model_dump(mode="json"))
        if metrics is not None:
            metrics.runs.labels(str(report.status)).inc()
        usage = Usage(prompt_tokens=int(report.usage.get("prompt_tokens", 0)),
                      completion_tokens=int(report.usage.get("completion_tokens", 0)), total_duration_s=report.wall_s)
        yield TeamChunk(model=model, content="\n" + report.to_markdown())
        yield TeamChunk(model=model, done=True, done_reason="stop", usage=usage,
                        run={"run_id": report.run_id, "status": report.status, "diff": report.diff,
                             "workspace": getattr(report, "workspace", "") or ""})
    finally:
        cancel.set()  # the client went away, or the run ended: either way nothing more to do
        thread.join(timeout=30)
        shutil.rmtree(repo.parent, ignore_errors=True)  # our snapshot; the run keeps its own workspace
