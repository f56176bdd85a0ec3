"""The run's workspace: a copy of the user's repository (or the repository itself with ``in_place``).

Snapshots, rollback and the diff go through the ``git`` tool (its snapshots never touch the user's index, HEAD
or branches; a folder that is not a repository gets a private one under ``.tanuki/git``). Snapshot ids carry
the run id, so runs in the same repository never collide. Only the workspace is ever written: every path is
resolved inside it first.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path
from typing import Any

from ..errors import TanukiError

IGNORED_DIRS = {".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__", ".pytest_cache",
                ".ruff_cache", ".mypy_cache", ".tanuki", "target", "build", "dist", ".tox"}
MAX_FILE_BYTES = 2 << 20


class WorkspaceError(TanukiError):
    """The workspace cannot be prepared, snapshotted or restored."""


def _walk(root: Path) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_DIRS and not d.endswith(".egg-info"))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
                continue
            out.append(path.relative_to(root).as_posix())
    return out


class Workspace:
    def __init__(self, root: Path, run_id: str, registry: Any = None, timeout_s: float = 120.0):
        from ..tools import ToolContext, default_registry

        self.root = Path(root).resolve()
        self.run_id = run_id
        self.registry = registry or default_registry()
        self.ctx = ToolContext(workspace=self.root, timeout_s=timeout_s)
        self.git_s = 0.0  # time spent in snapshots, restores and diffs

    @classmethod
    def prepare(cls, repo: Path, run_dir: Path, run_id: str, *, in_place: bool = False, registry: Any = None,
                timeout_s: float = 120.0) -> Workspace:
        repo = Path(repo).resolve()
        if not repo.is_dir():
            raise WorkspaceError(f"repository {repo} is not a folder", hint="pass --repo PATH to an existing folder")
        root = repo
        if not in_place:
            root = run_dir / "workspace"
            if not root.exists():
                shutil.copytree(repo, root, symlinks=True,
                                ignore=shutil.ignore_patterns(*IGNORED_DIRS, "*.egg-info", "*.pyc"))
        return cls(root, run_id, registry, timeout_s)

    def inside(self, rel: str) -> Path:
        path = (self.root / rel).resolve()
        if path != self.root and self.root not in path.parents:
            raise WorkspaceError(f"path {rel!r} is outside the workspace", hint="use paths relative to the repository")
        return path

    def fingerprint(self) -> str:
        """A hash of every file's path and content (what the tests see)."""
        h = hashlib.sha256()
        for rel in _walk(self.root):
            h.update(rel.encode() + b"\0" + hashlib.sha256((self.root / rel).read_bytes()).digest())
        return h.hexdigest()

    # ------------------------------------------------------------------ snapshots (the git tool)
    def _git(self, **args: Any) -> dict[str, Any]:
        t0 = time.monotonic()
        obs = self.registry.call("git", args, self.ctx)
        self.git_s += time.monotonic() - t0
        if not obs.ok:
            raise WorkspaceError(f"git {args['action']} failed in {self.root}: {obs.error or obs.summary}",
                                 hint="check that git is installed (./install.sh) and the workspace is writable")
        return obs.data

    def snap_id(self, name: str) -> str:
        return f"{self.run_id}-{name}"

    def snapshot(self, name: str) -> str:
        self._git(action="snapshot", id=self.snap_id(name))
        return name

    def restore(self, name: str) -> list[str]:
        """Bring the workspace back to snapshot ``name``; returns the paths that changed."""
        changed = self.changed_files(name)
        self._git(action="restore", id=self.snap_id(name))
        return changed

    def changed_files(self, name: str) -> list[str]:
        return sorted(self._git(action="diff", id=self.snap_id(name)).get("files") or [])

    def diff(self, name: str) -> str:
        """A unified diff from snapshot ``name`` to the workspace now."""
        return self._git(action="diff", id=self.snap_id(name)).get("diff") or ""
