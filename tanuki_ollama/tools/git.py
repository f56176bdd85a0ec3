"""git: status, diff, snapshot and restore, for the orchestrator's rollback.

Snapshots never touch the user's index, HEAD or branches: the work tree is staged into a *private index file*
(``<git-dir>/tanuki-index``), written as a tree, committed with ``commit-tree`` and kept under
``refs/tanuki/snapshots/<id>``. ``restore`` checks that tree out through the same private index and deletes the
files that did not exist at snapshot time (ignored files and ``.tanuki/`` are left alone).

A workspace that is not a git repository gets a private repository at ``.tanuki/git`` (``GIT_DIR`` with the
workspace as ``GIT_WORK_TREE``): the user's folder gains no ``.git``, and status/diff are reported against the
latest snapshot.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any, ClassVar

from .base import Observation, ToolContext, ToolError, clip, observe, resolve_path, run_process

SNAP_REF = "refs/tanuki/snapshots/"
PRIVATE_GIT = Path(".tanuki") / "git"
EXCLUDE = ":(exclude).tanuki"
_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
IDENTITY = {"GIT_AUTHOR_NAME": "tanuki", "GIT_AUTHOR_EMAIL": "tanuki@localhost",
            "GIT_COMMITTER_NAME": "tanuki", "GIT_COMMITTER_EMAIL": "tanuki@localhost"}


class Repo:
    """The git repository of a workspace (the user's, or tanuki's private one)."""

    def __init__(self, workspace: Path, timeout_s: float = 60.0):
        self.workspace = workspace
        self.timeout_s = timeout_s
        self.private = False
        self.env: dict[str, str] = {"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", **IDENTITY,
                                    "GIT_CONFIG_NOSYSTEM": "1"}
        probe = self._git("rev-parse", "--show-toplevel", "--absolute-git-dir", check=False)
        lines = probe.stdout.splitlines()
        if probe.exit_code == 0 and len(lines) == 2 and Path(lines[0]).resolve() == workspace:
            self.git_dir = Path(lines[1])
        else:  # not a repository, or a sub-folder of one: use a private repository for exactly this folder
            self.private = True
            self.git_dir = workspace / PRIVATE_GIT
            self.env.update({"GIT_DIR": str(self.git_dir), "GIT_WORK_TREE": str(workspace)})
            if not (self.git_dir / "HEAD").exists():
                self.git_dir.mkdir(parents=True, exist_ok=True)
                self._git("init", "-q")
                (self.git_dir / "info").mkdir(exist_ok=True)
                (self.git_dir / "info" / "exclude").write_text("/.tanuki/\n")

    def _git(self, *args: str, check: bool = True, env: dict[str, str] | None = None, stdin: str | None = None):
        # sandboxed runs can write the workspace (its .git included): no config of it may run a program here
        proc = run_process(["git", "-c", "core.quotepath=off", "-c", "commit.gpgsign=false", "-c", "core.fsmonitor=false",
                            "-c", "core.hooksPath=/dev/null", *args],
                           cwd=self.workspace, timeout_s=self.timeout_s, env={**self.env, **(env or {})}, stdin=stdin)
        if check and (proc.exit_code != 0 or proc.timed_out):
            raise ToolError(f"git {args[0]} failed: {proc.output[-400:]}", "check the repository state")
        return proc

    # --- snapshots -----------------------------------------------------------------------------------------
    def _private_index(self) -> dict[str, str]:
        return {"GIT_INDEX_FILE": str(self.git_dir / "tanuki-index")}

    def tree_of_worktree(self) -> str:
        env = self._private_index()
        index = self.git_dir / "index"
        if index.exists() and not (self.git_dir / "tanuki-index").exists():
            (self.git_dir / "tanuki-index").write_bytes(index.read_bytes())  # a warm start: stat data reused
        self._git("add", "-A", "--", ".", env=env)
        # tanuki's own state never enters a snapshot (an exclude pathspec would fail where .tanuki is ignored)
        self._git("rm", "-r", "-q", "--cached", "--ignore-unmatch", "--", ".tanuki", env=env)
        return self._git("write-tree", env=env).stdout.strip()

    def head(self) -> str | None:
        proc = self._git("rev-parse", "--verify", "-q", "HEAD^{commit}", check=False)
        return proc.stdout.strip() if proc.exit_code == 0 else None

    def snapshot(self, label: str | None = None) -> dict[str, Any]:
        tree = self.tree_of_worktree()
        # parentless: a snapshot is a tree kept alive by its ref; no lookup of HEAD or earlier snapshots needed
        commit = self._git("commit-tree", tree, "-m", f"tanuki snapshot {label or ''}".strip()).stdout.strip()
        snap_id = label or time.strftime("%Y%m%d-%H%M%S") + f"-{commit[:8]}"
        if not _ID.match(snap_id):
            raise ToolError(f"bad snapshot id {snap_id!r}", "use letters, digits, '.', '_' or '-'")
        self._git("update-ref", SNAP_REF + snap_id, commit)
        return {"id": snap_id, "commit": commit, "tree": tree}

    def snapshots(self) -> list[dict[str, str]]:
        proc = self._git("for-each-ref", "--sort=-committerdate", "--format=%(refname:strip=3) %(objectname) "
                         "%(committerdate:iso8601)", SNAP_REF, check=False)
        out = []
        for line in proc.stdout.splitlines():
            parts = line.split(" ", 2)
            if len(parts) == 3:
                out.append({"id": parts[0], "commit": parts[1], "date": parts[2]})
        return out

    def latest_snapshot(self) -> str | None:
        snaps = self.snapshots()
        return snaps[0]["commit"] if snaps else None

    def resolve_snapshot(self, snap_id: str) -> str:
        if not _ID.match(snap_id):
            raise ToolError(f"bad snapshot id {snap_id!r}", "list snapshots with action=snapshots")
        proc = self._git("rev-parse", "--verify", "-q", f"{SNAP_REF}{snap_id}^{{commit}}", check=False)
        if proc.exit_code != 0:
            raise ToolError(f"no snapshot {snap_id!r}", "list snapshots with action=snapshots")
        return proc.stdout.strip()

    def restore(self, snap_id: str) -> dict[str, Any]:
        commit = self.resolve_snapshot(snap_id)
        current = set(self._ls_tree(self.tree_of_worktree()))
        wanted = set(self._ls_tree(commit))
        env = self._private_index()
        self._git("read-tree", commit, env=env)
        self._git("checkout-index", "-a", "-f", env=env)
        removed = sorted(current - wanted)
        for rel in removed:
            p = self.workspace / rel
            if p.is_file() or p.is_symlink():
                p.unlink()
            parent = p.parent
            while parent != self.workspace and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
        return {"id": snap_id, "commit": commit, "removed": removed, "files": len(wanted)}

    def _ls_tree(self, treeish: str) -> list[str]:
        return [p for p in self._git("ls-tree", "-r", "-z", "--name-only", treeish).stdout.split("\0") if p]

    # --- status / diff -------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        if self.private:
            base = self.latest_snapshot()
            changes = self._diff_names(base) if base else [{"path": p, "status": "A"}
                                                           for p in self._ls_tree(self.tree_of_worktree())]
            return {"repository": "private", "against": "latest snapshot" if base else "nothing", "changes": changes}
        proc = self._git("status", "--porcelain=v1", "-z", "--untracked-files=all", "--", ".", EXCLUDE)
        changes = []
        entries = proc.stdout.split("\0")
        i = 0
        while i < len(entries):
            e = entries[i]
            if len(e) > 3:
                code, path = e[:2], e[3:]
                changes.append({"path": path, "status": code.strip() or code, "staged": code[0] not in " ?",
                                "unstaged": code[1] != " "})
                if code[0] in "RC":
                    i += 1  # the source path of a rename follows
            i += 1
        branch = self._git("branch", "--show-current", check=False).stdout.strip()
        return {"repository": "git", "branch": branch or None, "head": self.head(), "changes": changes}

    def _diff_names(self, base: str) -> list[dict[str, str]]:
        tree = self.tree_of_worktree()
        proc = self._git("diff", "--name-status", "-z", "--no-renames", base, tree)
        parts = [p for p in proc.stdout.split("\0") if p]
        return [{"path": parts[i + 1], "status": parts[i]} for i in range(0, len(parts) - 1, 2)]

    def diff(self, against: str | None = None, paths: list[str] | None = None) -> str:
        """Unified diff of the work tree (untracked files included) against a snapshot, or HEAD, or the latest
        snapshot in a private repository."""
        base = self.resolve_snapshot(against) if against else (self.latest_snapshot() if self.private else self.head())
        tree = self.tree_of_worktree()
        if base is None:
            base = self._git("hash-object", "-t", "tree", "/dev/null").stdout.strip()  # the empty tree
        return self._git("diff", "--no-color", "--no-ext-diff", base, tree, "--", *(paths or [])).stdout


class Git:
    name = "git"
    description = ("Version control of the workspace. action=status | diff (against HEAD or a snapshot) | "
                   "snapshot (save the work tree without touching the index or HEAD) | restore (go back to a "
                   "snapshot) | snapshots (list them).")
    parameters: ClassVar[dict[str, Any]] = {"type": "object", "additionalProperties": False, "required": ["action"], "properties": {
        "action": {"type": "string", "enum": ["status", "diff", "snapshot", "restore", "snapshots"]},
        "id": {"type": "string", "description": "snapshot id (snapshot: optional label; restore/diff: which)"},
        "paths": {"type": "array", "items": {"type": "string"}, "description": "diff: only these paths"}}}

    def run(self, args: dict[str, Any], ctx: ToolContext) -> Observation:
        repo = Repo(ctx.workspace, ctx.timeout_s)
        action = args["action"]
        kind = "private repository .tanuki/git" if repo.private else "git repository"
        if action == "status":
            st = repo.status()
            return observe(self.name, True, f"{len(st['changes'])} changed path(s) ({kind})", st)
        if action == "diff":
            paths = [os.path.relpath(resolve_path(ctx, p), ctx.workspace) for p in args.get("paths", [])]
            text, cut = clip(repo.diff(args.get("id"), paths), 30_000)
            files = re.findall(r"^diff --git a/(\S+)", text, re.MULTILINE)
            return observe(self.name, True, f"diff of {len(files)} file(s)", {"diff": text, "files": files},
                           truncated=cut)
        if action == "snapshot":
            snap = repo.snapshot(args.get("id"))
            return observe(self.name, True, f"snapshot {snap['id']} saved ({kind})", snap)
        if action == "restore":
            if not args.get("id"):
                raise ToolError("restore needs id", "list snapshots with action=snapshots")
            res = repo.restore(args["id"])
            return observe(self.name, True, f"restored snapshot {res['id']} ({len(res['removed'])} file(s) removed)",
                           res)
        snaps = repo.snapshots()
        return observe(self.name, True, f"{len(snaps)} snapshot(s)", {"snapshots": snaps})
