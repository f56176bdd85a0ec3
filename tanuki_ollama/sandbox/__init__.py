"""Run untrusted code in a sandbox: ``run``, ``run_many``, ``Sandbox``, ``ExecutionResult``, ``Limits``.

Importing this package does no I/O; backends are probed on first use.
"""

from .api import Sandbox, default_sandbox, run, run_many
from .models import COMPILE_LIMITS, CompileInfo, ExecutionResult, Limits, PhaseResult, RunRequest
from .protocol import Phase, PhaseOutcome, SandboxBackend

__all__ = ["COMPILE_LIMITS", "CompileInfo", "ExecutionResult", "Limits", "Phase", "PhaseOutcome", "PhaseResult",
           "RunRequest", "Sandbox", "SandboxBackend", "default_sandbox", "run", "run_many"]
