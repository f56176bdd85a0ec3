"""git: snapshots and restore leave the user's index, HEAD and branches alone; non-git folders get a private
repository under .tanuki/git."""

from __future__ import annotations

import subprocess

import pytest


def git(ws, *args):
    return subprocess.run(["git", *args], cwd=ws, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def user_repo(workspace):
    git(workspace, "init", "-q", "-b", "main")
    git(workspace, "config", "user.email", "u@example.com")
    git(workspace, "config", "user.name", "user")
    (workspace / ".gitignore").write_text("*.log\n")
    (workspace / "a.py").write_text("a = 1\n")
    (workspace / "b.py").write_text("b = 1\n")
    git(workspace, "add", ".")
    git(workspace, "commit", "-q", "-m", "init")
    # uncommitted work: one staged change, one unstaged change, one untracked file, one ignored file
    (workspace / "a.py").write_text("a = 2\n")
    git(workspace, "add", "a.py")
    (workspace / "b.py").write_text("b = 2\n")
    (workspace / "new.py").write_text("n = 1\n")
    (workspace / "run.log").write_text("log\n")
    return workspace


def test_snapshot_restore_in_a_dirty_repo(registry, ctx, user_repo):
    ws = user_repo
    head, index_before = git(ws, "rev-parse", "HEAD"), git(ws, "ls-files", "-s")
    status_before = git(ws, "status", "--porcelain")
    obs = registry.call("git", {"action": "status"}, ctx)
    assert obs.ok and {c["path"]: c["status"] for c in obs.data["changes"]} == {"a.py": "M", "b.py": "M",
                                                                               "new.py": "??"}
    snap = registry.call("git", {"action": "snapshot", "id": "before-step-1"}, ctx)
    assert snap.ok and snap.data["id"] == "before-step-1"
    assert git(ws, "rev-parse", "HEAD") == head and git(ws, "ls-files", "-s") == index_before
    assert git(ws, "status", "--porcelain") == status_before
    # an agent edits, creates and deletes files
    (ws / "a.py").write_text("broken(\n")
    (ws / "b.py").unlink()
    (ws / "pkg").mkdir()
    (ws / "pkg" / "junk.py").write_text("junk\n")
    diff = registry.call("git", {"action": "diff", "id": "before-step-1"}, ctx)
    assert diff.ok and set(diff.data["files"]) == {"a.py", "b.py", "pkg/junk.py"}
    obs = registry.call("git", {"action": "restore", "id": "before-step-1"}, ctx)
    assert obs.ok and obs.data["removed"] == ["pkg/junk.py"]
    assert (ws / "a.py").read_text() == "a = 2\n" and (ws / "b.py").read_text() == "b = 2\n"
    assert (ws / "new.py").read_text() == "n = 1\n" and not (ws / "pkg").exists()
    assert (ws / "run.log").exists()  # ignored files are not the snapshot's business
    assert git(ws, "rev-parse", "HEAD") == head and git(ws, "ls-files", "-s") == index_before
    assert git(ws, "status", "--porcelain") == status_before
    assert "tanuki" not in git(ws, "branch", "-a")
    listed = registry.call("git", {"action": "snapshots"}, ctx)
    assert [s["id"] for s in listed.data["snapshots"]] == ["before-step-1"]
    assert not registry.call("git", {"action": "restore", "id": "nope"}, ctx).ok
    assert not registry.call("git", {"action": "restore", "id": "../../HEAD"}, ctx).ok


def test_diff_against_head_includes_untracked_files(registry, ctx, user_repo):
    obs = registry.call("git", {"action": "diff"}, ctx)
    assert obs.ok and set(obs.data["files"]) == {"a.py", "b.py", "new.py"} and "+n = 1" in obs.data["diff"]
    only = registry.call("git", {"action": "diff", "paths": ["b.py"]}, ctx)
    assert only.data["files"] == ["b.py"]


def test_a_folder_that_is_not_a_repository(registry, ctx, workspace):
    (workspace / "main.py").write_text("print(1)\n")
    obs = registry.call("git", {"action": "snapshot"}, ctx)
    assert obs.ok and "private" in obs.summary
    assert not (workspace / ".git").exists() and (workspace / ".tanuki" / "git" / "HEAD").exists()
    (workspace / "main.py").write_text("print(2)\n")
    (workspace / "extra.py").write_text("x\n")
    st = registry.call("git", {"action": "status"}, ctx)
    assert {c["path"]: c["status"] for c in st.data["changes"]} == {"main.py": "M", "extra.py": "A"}
    assert "+print(2)" in registry.call("git", {"action": "diff"}, ctx).data["diff"]
    second = registry.call("git", {"action": "snapshot"}, ctx).data["id"]
    assert registry.call("git", {"action": "restore", "id": obs.data["id"]}, ctx).ok
    assert (workspace / "main.py").read_text() == "print(1)\n" and not (workspace / "extra.py").exists()
    assert registry.call("git", {"action": "restore", "id": second}, ctx).ok
    assert (workspace / "extra.py").read_text() == "x\n"
