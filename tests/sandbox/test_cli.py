"""`tanuki sandbox run|check|bench` through click's runner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tanuki_ollama.cli.sandbox_cmd import sandbox_group

pytestmark = pytest.mark.timeout(180)


def test_run_json(jail_info, tmp_path):
    src = tmp_path / "prog.py"
    src.write_text("import sys\nprint(sys.stdin.read().upper())\n")
    stdin = tmp_path / "in.txt"
    stdin.write_text("abc")
    r = CliRunner().invoke(sandbox_group, ["run", "--json", "--stdin", str(stdin), "--timeout", "5",
                                           "--memory", "256", str(src)])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["stdout"] == "ABC\n" and res["exit_code"] == 0 and res["timed_out"] is False
    assert {"stderr", "signal", "oom_killed", "output_truncated", "duration_s", "peak_memory_bytes",
            "compile"} <= set(res)


def test_run_exit_code_and_timeout(jail_info, tmp_path):
    src = tmp_path / "loop.sh"
    src.write_text("sleep 30\n")
    r = CliRunner().invoke(sandbox_group, ["run", "--timeout", "1", str(src)])
    assert r.exit_code == 137
    res = json.loads(CliRunner().invoke(sandbox_group, ["run", "--json", "--timeout", "1", str(src)]).output)
    assert res["timed_out"] and res["limit_hit"] == "wall"


@pytest.mark.slow
def test_check_all_contained(jail_info):
    r = CliRunner().invoke(sandbox_group, ["check", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["all_contained"] is True


@pytest.mark.slow
def test_bench_json(jail_info):
    r = CliRunner().invoke(sandbox_group, ["bench", "--json", "--lang", "python", "--lang", "c", "--repeat", "3"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["languages"]["python"]["ok"] and res["languages"]["c"]["cached_speedup"] > 1
    assert res["python_runs_per_s_pool_2"] > 0
