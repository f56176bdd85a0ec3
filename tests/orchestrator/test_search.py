"""The candidate search's logic (edits, dedup, static checks, early stop, ranking, self-debugging) with a scripted
model and a test runner that judges a candidate's file by its content. The real path (real sandbox, real pytest,
the run's tools) is covered by test_repair.py."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from tanuki_ollama.orchestrator.edits import (
    apply,
    code_of,
    fit,
    function_region,
    normal_key,
    static_check,
    window_region,
)
from tanuki_ollama.orchestrator.evidence import Tests as Evidence
from tanuki_ollama.orchestrator.search import (
    GenAnswer,
    Search,
    SearchIO,
    SearchSettings,
    Writer,
    continuation,
    finish_region,
)

SRC = "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n"
BEFORE = Evidence(found=True, ok=False, passed=1, failed=["test_calc.py::test_add"],
               messages={"test_calc.py::test_add": "assert -1 == 5"}, summary="1 passed, 1 failed")


def judge(text: str) -> Evidence:
    """add must add; test_sub (which passed before) checks sub and add(0, 0)."""
    ns: dict = {}
    exec(compile(text, "calc.py", "exec"), ns)  # noqa: S102 - the test's own fixtures
    failed = []
    if ns["add"](2, 3) != 5:
        failed.append("test_calc.py::test_add")
    if ns["sub"](5, 3) != 2 or ns["add"](0, 0) != 0:
        failed.append("test_calc.py::test_sub")
    return Evidence(found=True, ok=not failed, passed=2 - len(failed), failed=failed,
                 messages={f: "assert wrong" for f in failed}, summary=f"{2 - len(failed)} passed")


class Script:
    """Answers in call order, whatever the prompt; records the prompts."""

    def __init__(self, completions: list[str], chats: list[str] | None = None):
        self.completions, self.chats = list(completions), list(chats or [])
        self.prompts: list[str] = []
        self.messages: list[list] = []
        self.lock = threading.Lock()

    def complete(self, model, prompt, opts, abort):
        with self.lock:
            self.prompts.append(prompt)
            return GenAnswer(self.completions.pop(0) if self.completions else "", 5, 0.01)

    def chat(self, model, messages, schema, opts, abort):
        with self.lock:
            self.messages.append(messages)
            assert schema["required"] == ["code"]
            return GenAnswer(self.chats.pop(0) if self.chats else "{}", 5, 0.01)


def make(tmp_path: Path, script: Script, *, samples=4, rounds=1, review=None, events=None, variants=None):
    (tmp_path / "calc.py").write_text(SRC)
    region = function_region("calc.py", SRC, "add", 1, 2, focus=2)
    applied: list = []
    io = SearchIO(chat=script.chat, complete=script.complete,
                  run_tests=lambda folder, ids, timeout: judge((folder / "calc.py").read_text()),
                  review=review, apply_to_workspace=applied.append, check_limits=lambda: None,
                  emit=lambda kind, msg, **data: (events if events is not None else []).append((kind, msg, data)))
    search = Search(tmp_path, {"calc.py": SRC}, "make the failing test pass", BEFORE, ["test_calc.py::test_add"],
                    [region], [Writer("tanuki-debugger", "debugger", "m")], io,
                    SearchSettings(samples=samples, rounds=rounds, workers=1, gen_parallel=1))
    if variants:
        search.plan.variants = lambda implement: variants
    return search, applied


def test_edit_units_apply_reindent_and_check():
    region = function_region("calc.py", SRC, "add", 1, 2, focus=2)
    assert apply(SRC, region, "def add(a, b):\n    return a + b") == SRC.replace("a - b", "a + b", 1)
    method = window_region("m.py", "class C:\n    def f(self):\n        return 1\n", 3, width=0)
    assert fit(method, "return 2") == "        return 2"  # a bare line is put at the region's indentation
    assert code_of('{"code": "def add(a, b):\\n    return a + b"}') == "def add(a, b):\n    return a + b"
    assert code_of('{"code": "x = 1\\ny = 2') == "x = 1\ny = 2"  # cut off by num_predict: what it holds
    assert code_of("```python\nx = 1\n```") == "x = 1\n"
    assert static_check("a.py", "def f(:\n") and static_check("a.py", "x = 1\n") is None
    assert static_check("A.java", "class A { void f() { }") == "unclosed '{'"
    assert normal_key("a.py", "x=1  # note\n") == normal_key("a.py", "x = 1\n") != normal_key("a.py", "x = 2\n")


def test_a_continuation_ends_with_its_function():
    region = function_region("calc.py", SRC, "add", 1, 2, focus=2)
    prompt, kept, indent = continuation(SRC, region, 2, "fixed: was `return a - b`")
    assert prompt == "def add(a, b):\n    # fixed: was `return a - b`\n    " and kept == ["def add(a, b):"]
    assert finish_region(region, kept, "return a + b\n\n\ndef sub(a, b):\n    pass", indent) == \
        "def add(a, b):\n    return a + b"
    assert finish_region(region, kept, "\ndef other():\n", indent) is None  # wrote nothing of the body
    java = "class S {\n  static int f(int x) {\n    return x - 1;\n  }\n}\n"
    jr = function_region("S.java", java, "S.f", 2, 4, focus=3)
    assert finish_region(jr, ["  static int f(int x) {"], "return x + 1;\n  }\n}\n", "    ") == \
        "  static int f(int x) {\n    return x + 1;\n  }"


def test_stops_at_the_first_passing_candidate_after_dedup_and_syntax(tmp_path):
    script = Script(["return a - b\n", "return a +\n", "return b - a\n", "return (b - a)\n",
                     "return a + b\n", "return b + a\n"])
    events: list = []
    search, applied = make(tmp_path, script, samples=6, events=events, variants=("complete",))
    result = search.run()
    statuses = [c.status for c in result.candidates]
    assert statuses[:5] == ["no-op", "syntax", "failing", "duplicate", "accepted"]
    assert result.accepted.code.strip().endswith("return a + b")
    assert result.stats["duplicates"] == 1 and result.stats["syntax"] == 1 and result.stats["validated"] <= 3
    assert any(k == "candidate" for k, _, _ in events)
    assert (tmp_path / "calc.py").read_text() == SRC  # validation never touched the workspace
    assert applied == []  # no reviewer: the run writes the accepted candidate itself


def test_never_accepts_a_candidate_that_breaks_a_passing_test(tmp_path):
    breaking = "def add(a, b):\n    return a + b if a else 1"
    script = Script([], chats=[json.dumps({"code": breaking})])
    search, _ = make(tmp_path, script, samples=1, variants=("repair",))
    result = search.run()
    assert result.accepted is None
    cand = result.candidates[0]
    assert cand.status == "broke" and cand.new_failures == ["test_calc.py::test_sub"]


def test_the_best_partial_candidate_and_its_failure_seed_the_next_round(tmp_path):
    src = "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n"
    script = Script([], chats=[json.dumps({"code": "def add(a, b):\n    return a * b"}),
                               json.dumps({"code": "def add(a, b):\n    return a + b"})])
    search, _ = make(tmp_path, script, samples=1, rounds=2, variants=("repair",))
    assert src == SRC
    result = search.run()
    assert [c.status for c in result.candidates] == ["failing", "accepted"]
    second = script.messages[1][-1].content
    assert "Tried before" in second and "return a * b" in second  # the rejected candidate is shown
    assert len(result.rounds) == 2 and result.rounds[1]["accepted"] == 2


def test_a_reviewer_rejection_undoes_the_candidate_and_the_search_goes_on(tmp_path):
    verdicts = iter([(False, ["name the parameters x and y"]), (True, [])])
    script = Script(["return a + b\n", "return b + a\n"])
    search, applied = make(tmp_path, script, samples=2, review=lambda cand: next(verdicts),
                           variants=("complete",))
    result = search.run()
    assert [c.status for c in result.candidates] == ["rejected", "accepted"]
    assert applied[0] is result.candidates[0] and applied[1] is None and applied[2] is result.candidates[1]
    assert search.requests == ["name the parameters x and y"]


def test_when_the_reviewer_rejects_every_passing_candidate_the_tests_rank_first(tmp_path):
    script = Script(["return b + a\n", "return a + b\n"])
    search, applied = make(tmp_path, script, samples=2, review=lambda cand: (False, ["looks odd"]),
                           variants=("complete",))
    result = search.run()
    assert result.accepted is result.candidates[0]  # both pass; the smallest diff is taken
    assert result.accepted.status == "accepted" and "looks odd" in result.accepted.reason
    assert applied[-1] is result.accepted


def test_a_reviewer_rejection_must_point_at_the_change():
    from tanuki_ollama.orchestrator.models import Finding, Verdict
    from tanuki_ollama.orchestrator.review import changed_lines, decide

    diff = ("--- a/calc.py\n+++ b/calc.py\n@@ -1,6 +1,6 @@\n def add(a, b):\n-    return a - b\n+    return a + b\n"
            " \n \n def sub(a, b):\n")
    assert changed_lines(diff) == [2, 2]

    def rejected(message, line=None):
        return Verdict(approve=False, findings=[Finding(line=line, severity="major", message=message)],
                       requests=[message], reviewer="r")

    assert decide(rejected("The answer object contains", line=9), True, [], diff).approve  # names nothing
    assert not decide(rejected("this line is wrong", line=2), True, [], diff).approve  # a changed line
    assert not decide(rejected("sub must not change"), True, [], diff).approve  # a name of the diff
    assert not decide(rejected("The answer object contains"), False, ["make test_add pass"], diff).approve


def test_one_token_edits_come_from_the_model_s_likeliest_alternatives(tmp_path):
    """AlphaRepair-style: the code up to each token of the suspicious line is the prompt; the model's likelier
    alternatives to the original token become candidates, best ranked first."""
    asked: list[str] = []

    def next_tokens(model, prompt, k, opts):
        asked.append(prompt)
        if prompt.endswith("return a"):  # the token after `return a`: the model prefers " +" to " -"
            return [(" +", -0.5), (" *", -1.5), (" -", -2.0)]
        return []

    script = Script([])
    search, _ = make(tmp_path, script, samples=2, variants=("complete",))
    search.io.next_tokens = next_tokens
    search.plan.regions[0].hot = [2]
    result = search.run()
    assert result.accepted is not None and result.accepted.variant == "token"
    assert result.accepted.code == "def add(a, b):\n    return a + b"
    assert asked[0] == "def add(a, b):\n    " and "def add(a, b):\n    return a" in asked
