"""What crosses the seam between the sandbox API and its backends (the protocol itself is in ``protocols.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..protocols import SandboxBackend
from .models import Limits, PhaseResult


@dataclass
class Phase:
    """One sandboxed process tree: ``argv`` runs in ``/work`` (a fresh tmpfs holding ``files``), with ``binds``
    (host path -> sandbox path) mounted read-only. ``export`` names paths under ``/work`` to hand back to the host
    as a tar stream when the tree ends (compiled artifacts, collected files); the host never reads the sandbox's
    filesystem directly."""

    argv: list[str]
    limits: Limits
    files: dict[str, bytes] = field(default_factory=dict)
    dirs: list[str] = field(default_factory=list)  # empty writable directories to create in /work
    binds: list[tuple[Path, str]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    stdin: bytes = b""
    export: list[str] = field(default_factory=list)
    export_limit_bytes: int = 256 * 1024 * 1024


@dataclass
class PhaseOutcome:
    result: PhaseResult
    archive: bytes | None = None  # the tar stream of ``Phase.export`` (untrusted: extract with cache.safe_extract)
    archive_truncated: bool = False


__all__ = ["Phase", "PhaseOutcome", "SandboxBackend"]
