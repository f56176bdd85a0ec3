from __future__ import annotations

import json

from click.testing import CliRunner

from tanuki_ollama.cli.data_cmd import COMMANDS, data_group
from tanuki_ollama.errors import ConfigError


def test_group_is_exported():
    assert COMMANDS == [data_group] and set(data_group.commands) == {"synth", "stats", "teach", "merge"}


def test_synth_then_stats(corpus, tmp_path):
    runner = CliRunner()
    out = tmp_path / "ds"
    res = runner.invoke(data_group, ["synth", "--agents", "coder,tester", "--per-agent", "5", "--source", str(corpus),
                                     "--seed", "2", "--out", str(out), "--quiet"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "dataset v-" in res.output and "2 agents" in res.output

    res = runner.invoke(data_group, ["stats", "--root", str(out), "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["problems"] == []
    agents = {r["agent"] for r in data["rows"]}
    assert agents == {"tanuki-coder", "tanuki-tester"}
    assert {r["split"] for r in data["rows"]} <= {"train", "eval"}
    assert all(r["examples"] > 0 for r in data["rows"])

    res = runner.invoke(data_group, ["stats", "--root", str(out)], catch_exceptions=False, terminal_width=200)
    assert res.exit_code == 0
    assert "tanuki-coder" in res.output and "implement_function" in res.output and "shards verified" in res.output


def test_errors_are_tanuki_errors(tmp_path):
    runner = CliRunner()
    res = runner.invoke(data_group, ["stats", "--root", str(tmp_path)])
    assert isinstance(res.exception, ConfigError) and "tanuki data synth" in res.exception.hint
    res = runner.invoke(data_group, ["synth", "--agents", "nobody", "--out", str(tmp_path)])
    assert isinstance(res.exception, ConfigError) and "no agent 'nobody'" in str(res.exception)
