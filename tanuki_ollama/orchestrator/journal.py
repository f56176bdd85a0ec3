"""The run journal: ``<journal_dir>/<run_id>/state.json`` (rewritten atomically after every step) and
``events.jsonl`` (append-only). An interrupted run is resumed from ``state.json``: accepted steps are kept,
the step in progress is rolled back to its snapshot and run again.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..settings import Settings


def default_journal_dir() -> Path:
    return Settings.from_env().home / "runs"


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


class Journal:
    def __init__(self, root: Path, run_id: str):
        self.run_id = run_id
        self.dir = Path(root) / run_id
        self.state_path = self.dir / "state.json"
        self.events_path = self.dir / "events.jsonl"

    @classmethod
    def open(cls, root: Path | None, run_id: str | None = None) -> Journal:
        journal = cls(Path(root) if root else default_journal_dir(), run_id or new_run_id())
        journal.dir.mkdir(parents=True, exist_ok=True)
        return journal

    @classmethod
    def existing(cls, root: Path | None, run_id: str) -> Journal:
        journal = cls(Path(root) if root else default_journal_dir(), run_id)
        if not journal.state_path.is_file():
            raise ConfigError(f"no journal for run {run_id!r} in {journal.dir.parent}",
                              hint="list runs with `ls ~/.tanuki/runs`, or start a new run without --resume")
        return journal

    def load(self) -> dict[str, Any]:
        return json.loads(self.state_path.read_text())

    def save(self, state: dict[str, Any]) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1, default=str))
        tmp.replace(self.state_path)

    def append(self, event: dict[str, Any]) -> None:
        with self.events_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"t": round(time.time(), 3), **event}, default=str) + "\n")
