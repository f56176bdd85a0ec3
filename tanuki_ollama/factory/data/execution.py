"""Execution checks for synthesised examples: many small Python checks per interpreter, in batches.

One function decides where code runs: :func:`run_python_files`. It uses the team's sandbox
(``tanuki_ollama.sandbox.run``) when that is importable, and otherwise a local fallback: a child interpreter
(``python -I -S``) in a temporary directory with CPU, memory and file-size rlimits, a scrubbed environment and
dangerous ``os``/``shutil``/``subprocess`` functions disabled inside. The fallback is **not** a security
boundary; it runs only code the miner accepted (pure functions over whitelisted stdlib modules) and their
mutants.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
HARNESS = Path(__file__).with_name("_harness.py")
_SANDBOX_BROKEN = False


@dataclass
class Job:
    """One check: run ``code``, then ``script``, then evaluate ``cases`` ([expr, expected repr or None])."""

    id: str
    code: str
    cases: list[list[Any]] = field(default_factory=list)
    script: str | None = None
    timeout: float = 2.0

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "code": self.code, "cases": self.cases, "script": self.script, "timeout": self.timeout}


@dataclass
class JobResult:
    load_error: str | None = None
    script_error: str | None = None
    cases: list[dict[str, Any]] = field(default_factory=list)
    infra_error: str | None = None

    @property
    def passed(self) -> bool:
        """Loaded, script ran, every case evaluated to its expected repr."""
        return (self.infra_error is None and self.load_error is None and self.script_error is None
                and all(c["pass"] for c in self.cases))

    def first_failure(self) -> str:
        if self.infra_error:
            return self.infra_error
        if self.load_error:
            return self.load_error
        if self.script_error:
            return self.script_error
        for c in self.cases:
            if not c["pass"]:
                return c["error"] or f"got {c['got']}"
        return ""


@dataclass
class ExecOutcome:
    stdout: str
    stderr: str
    exit_code: int | None
    timed_out: bool
    files: dict[str, str]


def sandbox_run():
    """``tanuki_ollama.sandbox.run`` if the sandbox package provides it, else None."""
    try:
        from tanuki_ollama.sandbox import run  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - any failure to import means "not available yet"
        return None
    return run


def _limit_child() -> None:  # pragma: no cover - runs in the child
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
    os.setsid()


def run_python_files(files: dict[str, str], main: str, args: list[str], *, wall_s: float,
                     collect: list[str] | None = None, use_sandbox: bool | None = None) -> ExecOutcome:
    """Run ``python main args`` with ``files`` in a fresh work dir; return output and the ``collect`` files."""
    collect = collect or []
    global _SANDBOX_BROKEN
    run = sandbox_run() if use_sandbox in (None, True) and not _SANDBOX_BROKEN else None
    if run is not None:
        from tanuki_ollama.errors import TanukiError
        from tanuki_ollama.sandbox.models import Limits

        if main != "main.py":  # the sandbox runs the language's main file (main.py for Python)
            files = {("main.py" if k == main else k): v for k, v in files.items()}
        try:
            res = run("python", files, args=list(args),
                      limits=Limits(wall_s=wall_s, cpu_s=wall_s, memory_mb=1024), collect=collect)
            return ExecOutcome(res.stdout, res.stderr, res.exit_code, res.timed_out, dict(res.files))
        except TanukiError as exc:
            if use_sandbox:
                raise
            _SANDBOX_BROKEN = True
            log.warning("the sandbox cannot run Python here (%s); checks fall back to a local child interpreter",
                        exc.message)
    with tempfile.TemporaryDirectory(prefix="tanuki-check-") as tmp:
        for name, text in files.items():
            (Path(tmp) / name).write_text(text, encoding="utf-8")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONHASHSEED": "0", "LC_ALL": "C.UTF-8",
               "HOME": tmp, "TMPDIR": tmp}
        try:
            proc = subprocess.run([sys.executable, "-I", "-S", main, *args], cwd=tmp, env=env, capture_output=True,
                                  text=True, timeout=wall_s, preexec_fn=_limit_child)
            timed_out, code, out, err = False, proc.returncode, proc.stdout, proc.stderr
        except subprocess.TimeoutExpired as exc:
            timed_out, code = True, None
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        got = {}
        for name in collect:
            p = Path(tmp) / name
            if p.is_file():
                got[name] = p.read_text(encoding="utf-8")
        return ExecOutcome(out, err, code, timed_out, got)


def _run_batch(jobs: list[Job]) -> dict[str, JobResult]:
    files = {"main.py": HARNESS.read_text(encoding="utf-8"),
             "jobs.json": json.dumps([j.to_json() for j in jobs])}
    wall = 10.0 + sum(j.timeout for j in jobs)
    out = run_python_files(files, "main.py", ["jobs.json", "results.json"], wall_s=min(wall, 300.0),
                           collect=["results.json"])
    if "results.json" not in out.files:
        reason = "timed out" if out.timed_out else (out.stderr.strip().splitlines() or ["no result"])[-1][:200]
        return {j.id: JobResult(infra_error=f"batch failed: {reason}") for j in jobs}
    raw = json.loads(out.files["results.json"])
    return {jid: JobResult(**r) for jid, r in raw.items()}


def run_jobs(jobs: list[Job], *, batch_size: int = 150, workers: int = 1, progress=None) -> dict[str, JobResult]:
    """Run checks in batches (``workers`` interpreters at a time). A batch that dies as a whole (a hard hang,
    a crash of the interpreter) is split and retried so one bad job cannot sink its neighbours."""
    results: dict[str, JobResult] = {}
    batches = [jobs[i:i + batch_size] for i in range(0, len(jobs), batch_size)]

    def work(batch: list[Job]) -> dict[str, JobResult]:
        res = _run_batch(batch)
        if len(batch) > 1 and all(r.infra_error for r in res.values()):
            half = len(batch) // 2
            res = {**work(batch[:half]), **work(batch[half:])}
        return res

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for batch_result, batch in zip(pool.map(work, batches), batches):
            results.update(batch_result)
            if progress is not None:
                progress(len(batch))
    return results
