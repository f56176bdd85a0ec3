"""The registry (permissions, validation, retries, timeouts) and workspace confinement of path arguments."""

from __future__ import annotations

import os
import time
from typing import ClassVar

import pytest
import yaml

from tanuki_ollama.tools import (
    TOOL_NAMES,
    Observation,
    PathOutsideWorkspace,
    ToolContext,
    ToolRegistry,
    TransientToolError,
    resolve_path,
)
from tanuki_ollama.tools.base import observe, validate_args


@pytest.mark.parametrize("bad", ["/etc/passwd", "../outside.txt", "a/../../x", "a\x00b", "~/x", "", "\\evil"])
def test_escaping_paths_are_refused(ctx, bad):
    with pytest.raises(PathOutsideWorkspace):
        resolve_path(ctx, bad)


def test_symlinks_pointing_outside_are_refused(ctx, workspace, tmp_path):
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "key").write_text("s3cret")
    os.symlink(outside, workspace / "link")
    os.symlink(outside / "key", workspace / "key-link")
    for rel in ("link/key", "key-link", "link/new-file"):
        with pytest.raises(PathOutsideWorkspace):
            resolve_path(ctx, rel)
    os.symlink("sub", workspace / "inner")  # a symlink that stays inside is fine
    (workspace / "sub").mkdir()
    assert resolve_path(ctx, "inner/f.txt") == workspace / "sub" / "f.txt"


def test_writes_under_git_and_tanuki_are_refused(ctx):
    for rel in (".git/config", ".tanuki/repomap/pack.json"):
        with pytest.raises(PathOutsideWorkspace):
            resolve_path(ctx, rel, write=True)
    assert resolve_path(ctx, ".git/config").name == "config"  # reading is allowed


def test_tool_calls_never_escape_and_never_raise(registry, ctx, tmp_path):
    (tmp_path / "outside.txt").write_text("nope")
    for name, args in [("read_file", {"path": "../outside.txt"}), ("write_file", {"path": "/tmp/x", "content": "x"}),
                       ("apply_patch", {"patch": "--- a/../outside.txt\n+++ b/../outside.txt\n@@ -1 +1 @@\n-nope\n+yes\n"}),
                       ("search", {"query": "nope", "path": ".."})]:
        obs = registry.call(name, args, ctx)
        assert not obs.ok and ("workspace" in obs.error or "'..'" in obs.error), obs
    assert (tmp_path / "outside.txt").read_text() == "nope"


def test_permission_unknown_tool_and_bad_arguments(registry, ctx):
    obs = registry.call("write_file", {"path": "a.txt", "content": "x"}, ctx, allowed=["read_file"])
    assert not obs.ok and obs.summary.startswith("permission denied") and obs.attempts == 0
    assert not (ctx.workspace / "a.txt").exists()
    assert not registry.call("rm_rf", {}, ctx).ok
    obs = registry.call("read_file", {"path": 3, "bogus": 1}, ctx)
    assert not obs.ok and "expected string" in obs.error and "unknown argument 'bogus'" in obs.error
    assert "missing required 'path'" in registry.call("read_file", {}, ctx).error


def test_validate_args_subset():
    schema = {"type": "object", "required": ["n"], "additionalProperties": False, "properties": {
        "n": {"type": "integer", "minimum": 1}, "mode": {"enum": ["a", "b"]},
        "xs": {"type": "array", "items": {"type": "string"}}}}
    assert validate_args(schema, {"n": 2, "mode": "a", "xs": ["x"]}) == []
    problems = validate_args(schema, {"n": True, "mode": "c", "xs": [1]})
    assert len(problems) == 3


def test_schemas_match_the_roster(registry):
    with open("adapters/agents.yaml") as f:
        roster = yaml.safe_load(f)
    agents = roster["agents"] if isinstance(roster, dict) and "agents" in roster else roster
    used = {t for a in (agents.values() if isinstance(agents, dict) else agents) for t in a.get("tools", [])}
    assert used <= set(registry.names()) == set(TOOL_NAMES)
    for schema in registry.schemas(TOOL_NAMES):
        fn = schema["function"]
        assert schema["type"] == "function" and fn["description"] and fn["parameters"]["type"] == "object"


class Flaky:
    """A tool that fails transiently ``failures`` times, then succeeds."""

    name = "flaky"
    description = "test tool"
    parameters: ClassVar[dict] = {"type": "object", "properties": {}}

    def __init__(self, failures: int, retry_after: float | None = None):
        self.failures = failures
        self.retry_after = retry_after
        self.calls: list[float] = []

    def run(self, args, ctx):
        self.calls.append(time.monotonic())
        if len(self.calls) <= self.failures:
            raise TransientToolError("busy", retry_after_s=self.retry_after)
        return observe(self.name, True, "done")


def test_transient_failures_are_retried_with_backoff(ctx):
    tool = Flaky(failures=2)
    reg = ToolRegistry([tool], backoff_s=0.05)
    obs = reg.call("flaky", {}, ctx, retries=2)
    assert obs.ok and obs.attempts == 3
    gaps = [b - a for a, b in zip(tool.calls, tool.calls[1:])]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1  # exponential
    tool = Flaky(failures=5, retry_after=0.0)
    obs = ToolRegistry([tool]).call("flaky", {}, ctx, retries=1)
    assert not obs.ok and obs.attempts == 2 and "busy" in obs.error


class Sleeper:
    name = "sleeper"
    description = "test tool"
    parameters: ClassVar[dict] = {"type": "object", "properties": {}}

    def run(self, args, ctx):
        time.sleep(ctx.timeout_s + 2)
        return observe(self.name, True, "late")


@pytest.mark.timeout(60)
def test_a_hanging_tool_times_out(workspace):
    ctx = ToolContext(workspace=workspace, timeout_s=0.1)
    t0 = time.monotonic()
    obs = ToolRegistry([Sleeper()], grace_s=0.2).call("sleeper", {}, ctx)
    assert not obs.ok and "timed out" in obs.summary and time.monotonic() - t0 < 1.5


def test_observation_message_is_compact():
    obs = Observation(tool="t", ok=False, summary="s", error="e", data={"x": "y" * 10_000})
    text = obs.to_message(500)
    assert len(text) <= 500 and text.startswith("s\nerror: e")
