"""Fault localisation: function spans, tracebacks, assertions, Ochiai over real per-test coverage (the real jail,
pytest and coverage.py), the repo map for a feature task, and a Java stack trace from the ``java`` framework."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tanuki_ollama.orchestrator.evidence import Tests as Results
from tanuki_ollama.orchestrator.localise import Localisation, Suspect, brace_spans, function_spans, localise
from tanuki_ollama.orchestrator.repomap import RepoMap
from tanuki_ollama.tools import ToolContext, default_registry
from tests.sandbox.conftest import _jail_or_skip

CALC = """\"\"\"A few small functions; clamp has the bug.\"\"\"


def add(a, b):
    return a + b


def sub(a, b):
    return a - b


def clamp(x, lo, hi):
    if x < lo:
        return lo
    if x > hi:
        return lo
    return x


def mean(xs):
    return sum(xs) / len(xs)
"""
CALC_TESTS = """from calc import add, clamp, mean, sub


def test_add():
    assert add(2, 3) == 5


def test_sub():
    assert sub(5, 3) == 2


def test_clamp_low():
    assert clamp(-4, 0, 10) == 0


def test_clamp_mid():
    assert clamp(5, 0, 10) == 5


def test_clamp_high():
    assert clamp(15, 0, 10) == 10


def test_mean():
    assert mean([1, 2, 3]) == 2
"""
BUGGY_LINE = 16  # `return lo` under `if x > hi`


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


@pytest.fixture(scope="module")
def sandbox():
    from tanuki_ollama.sandbox import Sandbox

    return Sandbox(_jail_or_skip().backend, allow_weak=True)


@pytest.fixture(scope="module")
def registry():
    return default_registry()


def run(registry, ctx) -> Results:
    return Results.from_observation(registry.call("run_tests", {"timeout_s": 120}, ctx))


# --------------------------------------------------------------------------------------------- spans
def test_function_spans_python():
    text = ("import functools\n\n\nclass Calc:\n    @functools.cache\n    @staticmethod\n    def add(a, b):\n"
            "        return a + b\n\n    async def run(self):\n        def inner():\n            return 1\n"
            "        return inner()\n\n\nX = 1\n")
    assert function_spans("calc.py", text) == [("Calc.add", 5, 8), ("Calc.run", 10, 13), ("Calc.run.inner", 11, 12)]
    broken = text.replace("def inner():", "def inner(:")  # does not parse: indentation, decorators left out
    assert function_spans("calc.py", broken) == [("Calc.add", 7, 8), ("Calc.run", 10, 13),
                                                 ("Calc.run.inner", 11, 12)]


JAVA = """package demo;

import java.util.*;

public class Solution {
    private final Map<String, Integer> seen = new HashMap<>();

    @Override
    public String toString() {
        return "} not a brace {";
    }

    public static int find(int[] arr,
                           int target) {
        char open = '{';  // } in a comment
        for (int i = 0; i < arr.length; i++) {
            if (arr[i] == target) { return i; }
        }
        Comparator<Integer> cmp = new Comparator<>() {
            public int compare(Integer a, Integer b) { return a - b; }
        };
        return -1;
    }
}
"""
JS = """const limit = 10
function add(a, b) {
  return a + b  // }
}
const mul = (a, b) => {
  return `${a} * ${b} }` && a * b
}
class Calc {
  constructor(v) { this.v = v }
  async sub(x) {
    if (x > limit) { throw new Error('too big {') }
    return this.v - x
  }
}
describe('calc', () => {
  it('adds', function () { add(1, 2) })
})
"""


def test_function_spans_brace_languages():
    expected_java = [("Solution.toString", 8, 11), ("Solution.find", 13, 23)]
    assert [s for s in brace_spans(JAVA) if s[0] in ("Solution.toString", "Solution.find")] == expected_java
    assert [s[:3] for s in function_spans("demo/Solution.java", JAVA) if not s[0].endswith("compare")] == expected_java
    expected_js = [("add", 2, 4), ("mul", 5, 7), ("Calc.constructor", 9, 9), ("Calc.sub", 10, 13)]
    assert brace_spans(JS) == expected_js  # callbacks of describe/it are not functions
    assert function_spans("calc.js", JS) == expected_js  # tree-sitter agrees
    go = "package m\n\nimport \"fmt\"\n\nfunc (c *Calc) Add(x int) int {\n\treturn c.v + x\n}\n"
    assert brace_spans(go) == [("Calc.Add", 5, 7)]
    rust = "pub fn longest<'a>(a: &'a str) -> &'a str {\n    a\n}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n" \
           "    fn t() { assert_eq!('{', '{'); }\n}\n"
    assert brace_spans(rust, rust=True) == [("longest", 1, 3), ("tests.t", 7, 8)]


# --------------------------------------------------------------------------------------------- pure evidence
def test_python_traceback_deepest_source_frame_first(tmp_path):
    write(tmp_path, {"stats.py": "def mean(xs):\n    return sum(xs) / len(xs)\n\n\ndef report(xs):\n"
                                 "    return f'{mean(xs):.1f}'\n",
                     "test_stats.py": "from stats import report\n\n\ndef test_empty():\n"
                                      "    assert report([]) == '0.0'\n"})
    output = ("_____ test_empty _____\n\n    def test_empty():\n>       assert report([]) == '0.0'\n\n"
              "test_stats.py:5: \n_ _ _ _\nstats.py:6: in report\n    return f'{mean(xs):.1f}'\n_ _ _ _\n\n"
              "    def mean(xs):\n>       return sum(xs) / len(xs)\nE       ZeroDivisionError: division by zero\n\n"
              "stats.py:2: ZeroDivisionError\n")
    tests = Results(failed=["test_stats.py::test_empty"], output=output,
                  messages={"test_stats.py::test_empty": "ZeroDivisionError: division by zero"})
    loc = localise(tmp_path, tests, registry=None, ctx=None, coverage=False)
    assert [(s.path, s.line, s.function) for s in loc.lines[:2]] == [("stats.py", 2, "mean"), ("stats.py", 6, "report")]
    assert loc.lines[0].evidence == {"traceback": 1.0}
    assert [f.function for f in loc.functions] == ["mean", "report"]
    assert loc.functions[1].why == "traceback, assertion"  # report() is what the failing assert calls
    assert loc.methods == ["traceback", "assertion"] and loc.summary() == "stats.py:2 mean (traceback)"
    assert all(not s.path.startswith("test_") for s in loc.lines)


def test_assertion_resolves_calls_through_imports(tmp_path):
    write(tmp_path, {"shop/__init__.py": "from .cart import Cart\n",
                     "shop/cart.py": "class Cart:\n    def __init__(self):\n        self.items = []\n\n"
                                     "    def add(self, price):\n        self.items.append(price)\n\n"
                                     "    def total(self):\n        return sum(self.items) * 2\n",
                     "tests/test_cart.py": "from shop import Cart\n\n\ndef test_total():\n    c = Cart()\n"
                                           "    c.add(3)\n    assert c.total() == 3\n"})
    tests = Results(failed=["tests/test_cart.py::test_total"],
                  messages={"tests/test_cart.py::test_total": "assert 6 == 3\n +  where 6 = total()"},
                  output="tests/test_cart.py:7: AssertionError\n")
    loc = localise(tmp_path, tests, registry=None, ctx=None, coverage=False)
    funcs = {f.function: f for f in loc.functions}
    assert loc.functions[0].function == "Cart.total" and loc.functions[0].line == 9  # its first body line
    assert (loc.functions[0].start, loc.functions[0].end) == (8, 9) and loc.functions[0].why == "assertion"
    assert funcs["Cart.total"].score > funcs["Cart.add"].score > 0  # in the assert vs. before it
    assert "Cart.__init__" in funcs and loc.functions[0].path == "shop/cart.py"


def test_a_function_passed_to_a_checker_is_implicated(tmp_path):
    write(tmp_path, {"solution.py": "def is_palindrome(s):\n    return s == s[::-1]\n\n\n"
                                    "def make_palindrome(s):\n    return s + s[::-1]\n",
                     "test_solution.py": "from solution import make_palindrome\n\n\ndef check(candidate):\n"
                                         "    assert candidate('ab') == 'aba'\n\n\ndef test_solution():\n"
                                         "    check(make_palindrome)\n"})
    tests = Results(failed=["test_solution.py::test_solution"], output="test_solution.py:9: \n\n"
                    "test_solution.py:5: AssertionError\n",
                    messages={"test_solution.py::test_solution": "AssertionError: assert 'abba' == 'aba'"})
    loc = localise(tmp_path, tests, registry=None, ctx=None, coverage=False)
    assert [(f.function, f.line, f.why) for f in loc.functions] == [("make_palindrome", 6, "assertion")]


def test_without_coverage_tooling_tracebacks_remain(tmp_path, registry, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "coverage" else real(name, *a))
    write(tmp_path, {"stats.py": "def mean(xs):\n    return sum(xs) / len(xs)\n",
                     "test_stats.py": "from stats import mean\n\n\ndef test_empty():\n    assert mean([]) == 0\n"})
    tests = Results(failed=["test_stats.py::test_empty"], messages={"test_stats.py::test_empty": "ZeroDivisionError"},
                    output='  File "/work/stats.py", line 2, in mean\n    return sum(xs) / len(xs)\n')
    ctx = ToolContext(workspace=tmp_path, sandbox=object(), timeout_s=30.0)  # refused before the sandbox runs
    loc = localise(tmp_path, tests, registry=registry, ctx=ctx)
    assert len(loc.notes) == 1 and loc.notes[0].startswith("coverage unavailable for pytest: ")
    assert "coverage.py is not installed" in loc.notes[0]
    assert loc.methods == ["traceback", "assertion"] and loc.summary() == "stats.py:2 mean (traceback, assertion)"


def test_java_messages_without_a_trace_and_compile_errors(tmp_path):
    write(tmp_path, {"Solution.java": "public class Solution {\n    public static int find(int[] a, int t) {\n"
                                      "        return -2;\n    }\n\n    public static int other() {\n"
                                      "        return 0;\n    }\n}\n",
                     "Main.java": "public class Main {\n    public static void main(String[] args) {\n"
                                  "        System.out.println(Solution.find(new int[0], 1));\n    }\n}\n"})
    tests = Results(failed=["Main"], messages={"Main": "FAIL find in empty: got -2, want -1"})
    loc = localise(tmp_path, tests, registry=None, ctx=None, coverage=False)
    assert [(f.path, f.function, f.why) for f in loc.functions] == [("Solution.java", "Solution.find", "assertion")]
    tests = Results(errors=["compile"], messages={"compile": "./Solution.java:7: error: ';' expected\n  return 0\n"})
    loc = localise(tmp_path, tests, registry=None, ctx=None, coverage=False)
    assert (loc.lines[0].path, loc.lines[0].line, loc.lines[0].function) == ("Solution.java", 7, "Solution.other")


def test_feature_task_uses_the_repo_map(tmp_path):
    write(tmp_path, {"calculator.py": "class Calculator:\n    def add(self, a, b):\n        return a + b\n\n"
                                      "    def multiply(self, a, b):\n        return a * b\n",
                     "io_utils.py": "def read_config(path):\n    return open(path).read()\n\n\n"
                                    "def write_report(path, text):\n    open(path, 'w').write(text)\n",
                     "test_io.py": "from io_utils import read_config\n\n\ndef test_read(tmp_path):\n"
                                   "    (tmp_path / 'c').write_text('x')\n    assert read_config(tmp_path / 'c') == 'x'\n"})
    repomap = RepoMap.build(tmp_path, cache_dir=tmp_path / ".cache")
    tests = Results(found=True, ok=True, passed=1, summary="pytest: 1 passed, 0 failed")
    loc = localise(tmp_path, tests, registry=None, ctx=None, task="the Calculator should divide too, "
                   "like multiply", repomap=repomap)
    assert loc.methods == ["repo map"] and "coverage skipped: no failing test" in loc.notes
    assert loc.functions[0].path == "calculator.py" and loc.functions[0].function == "Calculator.multiply"
    assert all(0 < f.score <= 0.1 and f.why == "repo map" for f in loc.functions)
    assert all(s.path != "test_io.py" for s in loc.lines)
    empty = localise(tmp_path, Results(found=False), registry=None, ctx=None, coverage=False)
    assert empty.lines == [] and empty.summary().startswith("no suspects (no failing test and no task")


def test_report_shapes():
    s = Suspect(path="a.py", line=3, score=1.25, function="f", start=1, end=4, why="traceback, ochiai",
                evidence={"ochiai": 1.0, "traceback": 0.5})
    loc = Localisation(lines=[s] * 12, functions=[s], methods=["traceback", "ochiai"], seconds=0.5)
    d = loc.as_dict()
    assert len(d["lines"]) == 10 and d["functions"][0]["function"] == "f" and d["seconds"] == 0.5
    assert loc.summary() == "a.py:3 f (traceback, ochiai 1.00)"


# --------------------------------------------------------------------------------------------- real runs
def test_ochiai_ranks_the_buggy_line_first(tmp_path, sandbox, registry):
    write(tmp_path, {"calc.py": CALC, "tests/test_calc.py": CALC_TESTS})
    ctx = ToolContext(workspace=tmp_path, sandbox=sandbox, timeout_s=120.0)
    tests = run(registry, ctx)
    assert tests.failed == ["tests/test_calc.py::test_clamp_high"] and tests.passed == 5
    loc = localise(tmp_path, tests, registry=registry, ctx=ctx, task="fix clamp")
    best = loc.lines[0]
    assert (best.path, best.line, best.function, best.start, best.end) == ("calc.py", BUGGY_LINE, "clamp", 12, 17)
    assert best.evidence["ochiai"] == 1.0 and best.why == "assertion, ochiai", loc
    second = loc.lines[1]  # `if x > hi`: also run by the passing test_clamp_mid
    assert second.line == BUGGY_LINE - 1 and second.evidence["ochiai"] == pytest.approx(0.7071, abs=1e-3)
    assert loc.functions[0].function == "clamp" and loc.functions[0].line == BUGGY_LINE
    assert {s.function for s in loc.lines} == {"clamp"}  # add/sub/mean ran only in passing tests
    assert loc.methods == ["assertion", "ochiai"] and loc.notes == []
    assert loc.summary() == f"calc.py:{BUGGY_LINE} clamp (assertion, ochiai 1.00)"
    assert loc.seconds < 60
    print(f"localise with coverage: {loc.seconds:.2f} s")


def test_java_stack_trace_points_at_the_method(tmp_path, sandbox, registry):
    if shutil.which("javac") is None:
        pytest.skip("the JDK is not installed (apt-get install -y default-jdk-headless)")
    from tests.tools.test_testing_extra import MAIN, SOLUTION

    write(tmp_path, {"Solution.java": SOLUTION.replace("int hi = arr.length - 1;", "int hi = arr.length;"),
                     "Main.java": MAIN})
    ctx = ToolContext(workspace=tmp_path, sandbox=sandbox, timeout_s=120.0)
    tests = run(registry, ctx)
    assert tests.failed == ["Main"]
    loc = localise(tmp_path, tests, registry=registry, ctx=ctx)
    assert (loc.lines[0].path, loc.lines[0].line, loc.lines[0].function) == ("Solution.java", 8, "Solution.find")
    assert (loc.functions[0].start, loc.functions[0].end) == (3, 17)
    assert loc.functions[0].why == "traceback, assertion" and [f.function for f in loc.functions] == ["Solution.find"]
    assert all(s.path != "Main.java" for s in loc.lines)  # the harness is a test
    assert loc.notes == ["coverage unavailable for java: spectra are measured for pytest only"]
