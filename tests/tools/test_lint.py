"""lint (ruff, pylint, eslint) and format, on real files with the real programs."""

from __future__ import annotations

import pytest

from tanuki_ollama.tools.lint import find_eslint

BAD_PY = "import os\n\n\ndef f(x):\n    return undefined_name + x\n"


def test_ruff_findings_have_codes_and_lines(registry, ctx, workspace):
    (workspace / "pkg").mkdir()
    (workspace / "pkg" / "bad.py").write_text(BAD_PY)
    (workspace / "good.py").write_text("X = 1\n")
    obs = registry.call("lint", {"linter": "ruff"}, ctx)
    assert not obs.ok and obs.data["linters"] == ["ruff"]
    got = {(f["path"], f["line"], f["code"]) for f in obs.data["findings"]}
    assert got == {("pkg/bad.py", 1, "F401"), ("pkg/bad.py", 5, "F821")}
    assert registry.call("lint", {"paths": ["good.py"]}, ctx).ok
    (workspace / "go").mkdir()
    (workspace / "go" / "m.go").write_text("package m\n")
    nothing = registry.call("lint", {"paths": ["go"]}, ctx)
    assert nothing.ok and nothing.data["linters"] == [] and "nothing to lint" in nothing.summary


def test_ruff_reports_syntax_errors(registry, ctx, workspace):
    (workspace / "broken.py").write_text("def f(:\n    pass\n")
    obs = registry.call("lint", {"paths": ["broken.py"]}, ctx)
    assert not obs.ok and obs.data["findings"][0]["line"] == 1 and obs.data["findings"][0]["severity"] == "error"


@pytest.mark.slow
def test_pylint(registry, ctx, workspace):
    (workspace / "bad.py").write_text(BAD_PY)
    obs = registry.call("lint", {"linter": "pylint", "paths": ["bad.py"]}, ctx)
    codes = {(f["code"], f["line"]) for f in obs.data["findings"]}
    assert ("E0602", 5) in codes and ("W0611", 1) in codes  # undefined variable, unused import


def test_eslint_or_a_clear_unavailable(registry, ctx, workspace):
    (workspace / "app.js").write_text("const unused = 1;\nfunction f() { return undefinedThing; }\nf();\n")
    (workspace / "eslint.config.js").write_text("throw new Error('workspace config must not be loaded')\n")
    obs = registry.call("lint", {"linter": "eslint"}, ctx)
    if find_eslint(ctx) is None:
        assert not obs.ok and "eslint is not installed" in obs.error and "install.sh" in obs.error
        return
    got = {(f["path"], f["line"], f["code"]) for f in obs.data["findings"]}
    assert got == {("app.js", 1, "no-unused-vars"), ("app.js", 2, "no-undef")}


def test_eslint_unavailable_is_reported_not_raised(registry, ctx, workspace, monkeypatch, tmp_path):
    monkeypatch.setenv("TANUKI_CACHE", str(tmp_path / "empty-cache"))
    (workspace / "a.js").write_text("var x = 1;\n")
    (workspace / "a.py").write_text("X = 1\n")
    obs = registry.call("lint", {}, ctx)  # auto: ruff runs, eslint is named as unavailable
    assert obs.data["linters"] == ["ruff"] and "eslint" in obs.data["unavailable"] and "unavailable" in obs.summary


def test_format_check_and_write(registry, ctx, workspace):
    (workspace / "ugly.py").write_text("x=[1,2 ,3]\ndef f( a ):\n  return a\n")
    (workspace / "fine.py").write_text("X = 1\n")
    (workspace / "notes.txt").write_text("left alone\n")
    check = registry.call("format", {"check": True}, ctx)
    assert not check.ok and check.data["changed"] == ["ugly.py"]
    assert (workspace / "ugly.py").read_text().startswith("x=[1,2 ,3]")
    obs = registry.call("format", {}, ctx)
    assert obs.ok and obs.data["changed"] == ["ugly.py"]
    assert (workspace / "ugly.py").read_text() == "x = [1, 2, 3]\n\n\ndef f(a):\n    return a\n"
    assert registry.call("format", {"check": True}, ctx).ok
