"""Benchmarks through the orchestrated team: ``orchestrator.run_task`` on a workspace, then read the files back."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..errors import ToolchainMissing


def _orchestrator():
    try:
        from ..orchestrator import RunConfig, run_task
    except ImportError as exc:
        raise ToolchainMissing(f"the orchestrator is not available ({exc})",
                               hint="--team needs tanuki_ollama.orchestrator.run_task; use --model or --agent") from None
    return RunConfig, run_task


def team_config(engine: Any, family: str | None, run_timeout_s: float, agents: list[str] | None = None,
                **overrides: Any) -> Any:
    """The run's settings, as ``tanuki run`` makes them: the models of ``family`` (``auto``, ``tanuki`` or a
    prefix such as ``tanuki-micro``; the micro family is registered on first use), ``agents`` to restrict routing
    (a single agent), in place on the bench's own temporary workspace."""
    RunConfig, _ = _orchestrator()
    cfg = RunConfig(run_timeout_s=run_timeout_s, in_place=True, agents=agents or [], **overrides)
    if getattr(engine, "name", "") == "ollama":
        from ..agents.roster import load_roster
        from ..orchestrator.family import resolve_models

        cfg, _ = resolve_models(engine, load_roster(), family or "auto", cfg)
    elif family:
        cfg = cfg.model_copy(update={"models": RunConfig.for_family(family).models})
    return cfg


def run_in_workspace(task: str, files: dict[str, str], *, engine: Any, config: Any,
                     keep: Path | None = None) -> tuple[dict[str, str], dict[str, Any]]:
    """Copy ``files`` into a fresh workspace, run the team on ``task``; return the workspace's text files and a
    short record of the run (status, usage, wall time, diff)."""
    _, run_task = _orchestrator()
    root = Path(tempfile.mkdtemp(prefix="tanuki-bench-"))
    journal = Path(tempfile.mkdtemp(prefix="tanuki-bench-journal-"))
    config = config.model_copy(update={"journal_dir": config.journal_dir or journal})
    try:
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text, encoding="utf-8")
        report = run_task(task, root, engine=engine, config=config)
        out = {}
        for p in sorted(root.rglob("*")):
            if p.is_file() and ".git" not in p.parts and ".tanuki" not in p.parts:
                try:
                    out[p.relative_to(root).as_posix()] = p.read_text(encoding="utf-8")
                except (UnicodeDecodeError, OSError):
                    continue
        if keep is not None:
            shutil.copytree(root, keep, dirs_exist_ok=True)
        usage = dict(report.usage or {})
        record = {"run_id": report.run_id, "status": report.status, "summary": report.summary[:500],
                  "wall_s": report.wall_s, "prompt_tokens": int(usage.get("prompt_tokens", 0)),
                  "completion_tokens": int(usage.get("completion_tokens", 0)), "not_done": report.not_done,
                  "diff_chars": len(report.diff or "")}
        return out, record
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(journal, ignore_errors=True)
