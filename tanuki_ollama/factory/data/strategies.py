"""Per-agent synthesis strategies: raw code (mined units, module outlines) or seeded templates -> drafts.

Each strategy is ``fn(ctx, rng, n) -> list[Draft]`` and returns up to about ``n`` drafts. A draft carries the
user prompt, the agent's structured answer (ReAct: thought / steps with action, input, observation / answer)
and the execution checks that must hold for it to be kept (``Check(job, expect_pass)``). Observations in the
traces are the real results of running the code (computed while mining/probing, re-verified by the checks).
"""

from __future__ import annotations

import ast
import difflib
import json
import random
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from ...agents.prompts import render_template
from . import analysis
from .execution import Job
from .mutate import text_mutants
from .sources import CodeUnit


@dataclass
class Check:
    job: Job
    expect_pass: bool


@dataclass
class Draft:
    strategy: str
    source: str
    user: str
    answer: dict[str, Any]
    code: str  # the main code of the example (for the difficulty score)
    language: str = "python"
    tests: int = 0
    checks: list[Check] = field(default_factory=list)
    near_dedup: bool = True  # False: variants of one unit on purpose (units are near-deduplicated already)


@dataclass
class ModuleOutline:
    module: str
    source: str
    outline: str
    components: list[dict[str, str]]
    imports: list[str]
    functions: list[str]


@dataclass
class Context:
    units: list[CodeUnit]          # probed Python units (cases and verified mutants filled)
    documented: list[CodeUnit]     # any mined unit with a docstring / doc comment (all languages)
    foreign: list[CodeUnit]        # non-Python units
    modules: list[ModuleOutline]


def react(thought: str, steps: list[tuple[str, str, str, str]], answer: dict[str, Any]) -> dict[str, Any]:
    return {"thought": thought,
            "steps": [{"thought": t, "action": a, "input": i, "observation": o} for t, a, i, o in steps],
            "answer": answer}


def _prompt(strategy: str, **kw: Any) -> str:
    return render_template(f"synth/{strategy}.j2", **kw)


def _summary(unit: CodeUnit) -> str:
    doc = unit.docstring.strip().split("\n\n")[0].replace("\n", " ").strip()
    if not doc or len(doc) > 160 or len(doc.split()) < 4 or not doc[:1].isalpha():
        return ""
    doc = doc.rstrip(".")
    return doc[0].lower() + doc[1:] if doc[:1].isupper() and not doc[1:2].isupper() else doc


def _signature(unit: CodeUnit) -> str:
    fn = ast.parse(unit.function).body[0]
    return f"{unit.name}({ast.unparse(fn.args)})"  # type: ignore[attr-defined]


def _strip_docstring(code: str) -> str:
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body and \
                isinstance(node.body[0], ast.Expr) and isinstance(getattr(node.body[0], "value", None), ast.Constant) \
                and isinstance(node.body[0].value.value, str):
            node.body = node.body[1:] or [ast.Pass()]
    return ast.unparse(tree)


def _pass_job(uid: str, code: str, cases: list[list[Any]]) -> Job:
    return Job(id=uid, code=code, cases=[list(c) for c in cases])


def _pick(rng: random.Random, items: list, n: int) -> list:
    items = list(items)
    rng.shuffle(items)
    return items[:n]


# ------------------------------------------------------------------------------------------------ coder
def implement_function(ctx: Context, rng: random.Random, n: int) -> list[Draft]:
    out = []
    for u in _pick(rng, [u for u in ctx.units if len(u.cases) >= 3], n):
        shown = u.cases[:3]
        user = _prompt("implement_function", variant=rng.randrange(3), signature=_signature(u), name=u.name,
                       params=", ".join(u.params), summary=_summary(u), examples=shown,
                       preamble=u.preamble.replace("\n", "; ") if u.preamble.startswith(("import", "from")) else "")
        k = len(u.cases)
        ans = react(
            f"I need `{u.name}` to satisfy {len(shown)} examples; I will write it, then run the examples as tests.",
            [("Write the implementation.", "write_file", "solution.py", f"wrote {analysis.loc(u.code)} lines"),
             ("Check it against the examples and extra cases.", "run_tests", f"{k} test cases", f"{k} passed")],
            {"language": "python", "code": u.code})
        out.append(Draft("implement_function", u.source, user, ans, u.code, tests=k,
                         checks=[Check(_pass_job(u.uid + ":impl", u.code, u.cases), True)]))
    return out


def implement_from_signature(ctx: Context, rng: random.Random, n: int) -> list[Draft]:
    out = []
    pool = [u for u in ctx.foreign if u.docstring and len(u.docstring) > 20]
    for u in _pick(rng, pool, n):
        sig = u.code.splitlines()[0]
        user = _prompt("implement_from_signature", language=u.language, doc=u.docstring, signature=sig + " ... }")
        ans = react(f"The comment says what `{u.name}` does; I implement it in {u.language} keeping the signature.",
                    [("Write the function.", "write_file", u.source.rsplit("/", 1)[-1], "written")],
                    {"language": u.language, "code": u.code})
        out.append(Draft("implement_from_signature", u.source, user, ans, u.code, language=u.language))
    return out


# ---------------------------------------------------------------------------------------------- debugger
def _failure_text(m: dict[str, Any]) -> str:
    f = m["failing"]
    got = f"raised {f['error']}" if f.get("error") else f"returned {f['got']}"
    return f"FAILED: {f['expr']} {got}, expected {f['expected']}"


def fix_mutant(ctx: Context, rng: random.Random, n: int) -> list[Draft]:
    out = []
    pool = [(u, m) for u in ctx.units for m in u.mutants[:2]]
    for u, m in _pick(rng, pool, n):
        f = m["failing"]
        user = _prompt("fix_mutant", variant=rng.randrange(2), code=m["code"], expr=f["expr"], expected=f["expected"])
        bad_line = m["code"].splitlines()[m["line"] - 1].strip()
        good_line = u.code.splitlines()[m["line"] - 1].strip()
        k = len(u.cases)
        ans = react(
            "Reproduce the failure, find the faulty line, fix it minimally, rerun all tests.",
            [("Run the failing test.", "run_tests", f["expr"], _failure_text(m)),
             (f"Line {m['line']} `{bad_line}` is suspicious: {m['description']}.", "read_file",
              f"solution.py:{m['line']}", bad_line),
             ("Patch that line.", "apply_patch", f"line {m['line']}: {good_line}", "patched"),
             ("Rerun every test.", "run_tests", f"{k} test cases", f"{k} passed")],
            {"bug": m["description"], "line": m["line"], "fixed_code": u.code})
        out.append(Draft("fix_mutant", u.source, user, ans, u.code, tests=k, near_dedup=False,
                         checks=[Check(_pass_job(u.uid + ":bug" + str(m["line"]), m["code"], u.cases), False),
                                 Check(_pass_job(u.uid + ":fix", u.code, u.cases), True)]))
    return out


# ------------------------------------------------------------------------------------------------ tester
def _test_code(u: CodeUnit) -> str:
    lines = [f"from solution import {u.name}", "", ""]
    lines.append(f"def test_{u.name}():")
    for expr, expected in u.cases:
        lines.append(f"    assert {expr} == {expected}")
    return "\n".join(lines) + "\n"


def _test_script(u: CodeUnit, tests: str) -> str:
    body = tests.replace(f"from solution import {u.name}\n", "")
    return body + f"\ntest_{u.name}()\n"


def write_tests(ctx: Context, rng: random.Random, n: int) -> list[Draft]:
    out = []
    for u in _pick(rng, [u for u in ctx.units if u.mutants and len(u.cases) >= 3], n):
        tests = _test_code(u)
        m = u.mutants[0]
        script = _test_script(u, tests)
        user = _prompt("write_tests", name=u.name, code=u.code)
        ans = react(
            f"Cover typical and edge inputs of `{u.name}`; check the tests pass, then that they catch a mutant.",
            [("Write the tests.", "write_file", f"test_{u.name}.py", f"{len(u.cases)} assertions"),
             ("Run them on the code.", "run_tests", f"test_{u.name}.py", "1 passed"),
             (f"Mutate line {m['line']} ({m['description']}) and rerun.", "run_tests",
              f"test_{u.name}.py against mutant", "1 failed: the tests catch the bug")],
            {"framework": "pytest", "tests": tests})
        out.append(Draft("write_tests", u.source, user, ans, u.code, tests=len(u.cases),
                         checks=[Check(Job(u.uid + ":tests", u.code, script=script), True),
                                 Check(Job(u.uid + ":tests-mut", m["code"], script=script), False)]))
    return out


# ---------------------------------------------------------------------------------------------- reviewer
def review_result(ctx: Context, rng: random.Random, n: int) -> list[Draft]:
    out = []
    pool = [(u, False) for u in ctx.units if len(u.cases) >= 3] + \
        [(u, True) for u in ctx.units if len(u.cases) >= 3 and u.mutants]
    for u, broken in _pick(rng, pool, n):
        shown = u.cases[:3]
        code = u.mutants[0]["code"] if broken else u.code
        user = _prompt("review_result", signature=_signature(u), summary=_summary(u), examples=shown, code=code)
        k = len(u.cases)
        if broken:
            m = u.mutants[0]
            steps = [("Run the task's examples and extra cases.", "run_tests", f"{k} test cases", _failure_text(m)),
                     ("Look at the line the failure points to.", "read_file", f"solution.py:{m['line']}",
                      code.splitlines()[m["line"] - 1].strip())]
            answer = {"verdict": "revise", "reasons": [_failure_text(m), f"line {m['line']}: {m['description']}"]}
            checks = [Check(_pass_job(u.uid + ":rev-bad", code, u.cases), False)]
        else:
            steps = [("Run the task's examples and extra cases.", "run_tests", f"{k} test cases", f"{k} passed")]
            answer = {"verdict": "accept", "reasons": [f"all {k} tests pass", "matches the requested signature"]}
            checks = [Check(_pass_job(u.uid + ":rev-ok", code, u.cases), True)]
        ans = react("Judge the result by running the expected behaviour, not by reading alone.", steps, answer)
        out.append(Draft("review_result", u.source, user, ans, code, tests=k, checks=checks, near_dedup=False))
    return out


# ----------------------------------------------------------------------------------------- code-reviewer
def _diff(a: str, b: str, path: str) -> str:
    return "\n".join(difflib.unified_diff(a.splitlines(), b.splitlines(), f"a/{path}", f"b/{path}", lineterm="", n=2))


def find_defect(ctx: Context, rng: random.Random, n: int) -> list[Draft]:
    out = []
    pool: list[tuple[CodeUnit, dict[str, Any] | None]] = []
    for u in ctx.units:
        if u.mutants:
            pool.append((u, u.mutants[-1]))
        if rng.random() < 0.4:
            pool.append((u, None))
    for u in ctx.foreign:
        for m in text_mutants(u.code, random.Random(u.uid), limit=1):
            pool.append((u, {"code": m.code, "line": m.line, "description": m.description, "failing": None}))
    for u, m in _pick(rng, pool, n):
        path = u.source.rsplit("/", 1)[-1] if u.language != "python" else f"{u.name}.py"
        if m is None:  # a clean change: a docstring edit / new function that passes its tests
            base = _strip_docstring(u.code) if u.language == "python" else ""
            diff = _diff(base, u.code, path)
            steps = [("Run the tests touching this change.", "run_tests", path, f"{len(u.cases)} passed")]
            answer = {"verdict": "approve", "findings": []}
            checks = [Check(_pass_job(u.uid + ":cr-ok", u.code, u.cases), True)] if u.language == "python" else []
            code = u.code
        else:
            diff = _diff(u.code, m["code"], path)
            line = m["code"].splitlines()[m["line"] - 1].strip()
            if m.get("failing"):
                steps = [("The change touches a condition/expression; run the tests.", "run_tests", path,
                          _failure_text(m)),
                         ("Map the failure to the changed line.", "read_file", f"{path}:{m['line']}", line)]
                checks = [Check(_pass_job(u.uid + ":cr-bad", m["code"], u.cases), False)]
            else:
                steps = [("Read the changed line in context.", "read_file", f"{path}:{m['line']}", line)]
                checks = []
            answer = {"verdict": "request_changes",
                      "findings": [{"line": m["line"], "severity": "major", "message": m["description"]}]}
            code = m["code"]
        if not diff:
            continue
        user = _prompt("find_defect", path=path, diff=diff)
        ans = react("Check what the change does to behaviour, line by line.", steps, answer)
        out.append(Draft("find_defect", u.source, user, ans, code, language=u.language, tests=len(u.cases),
                         checks=checks))
    return out


# -------------------------------------------------------------------------------------------- documenter
def write_docstring(ctx: Context, rng: random.Random, n: int) -> list[Draft]:
    out = []
    pool = [u for u in ctx.documented if 20 <= len(u.docstring) <= 600 and len(u.docstring.split()) >= 4]
    for u in _pick(rng, pool, n):
        if u.language == "python":
            code = _strip_docstring(u.function)
            doc = u.docstring.strip()
        else:
            code = u.code
            doc = "\n".join(re.sub(r"^\s*(//+|/\*+|\*/?|#)\s?", "", line) for line in u.docstring.splitlines())
            doc = doc.strip().rstrip("*/").strip()
        if not doc:
            continue
        user = _prompt("write_docstring", language=u.language, code=code)
        ans = react(f"Read what `{u.name}` takes, does and returns; state it briefly.",
                    [("Read the body and the callers' view.", "read_file", u.source, f"{analysis.loc(code)} lines")],
                    {"docstring": doc})
        out.append(Draft("write_docstring", u.source, user, ans, code, language=u.language))
    return out


# --------------------------------------------------------------------------------------------- refactorer
class _Obfuscate(ast.NodeTransformer):
    def __init__(self, mapping: dict[str, str]):
        self.mapping = mapping

    def visit_Name(self, node: ast.Name) -> ast.Name:
        node.id = self.mapping.get(node.id, node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.arg = self.mapping.get(node.arg, node.arg)
        return node


def refactor_function(ctx: Context, rng: random.Random, n: int) -> list[Draft]:
    out = []
    for u in _pick(rng, ctx.units, n * 2):
        if len(out) >= n:
            break
        fn = ast.parse(u.function).body[0]
        params = {a.arg for a in fn.args.args}  # type: ignore[attr-defined]
        local = sorted({x.id for x in ast.walk(fn) if isinstance(x, ast.Name) and isinstance(x.ctx, ast.Store)}
                       - params)
        local = [v for v in local if len(v) >= 3]
        if not local:
            continue
        mapping = {v: f"v{i}" for i, v in enumerate(local)}
        bad_fn = ast.unparse(_Obfuscate(mapping).visit(ast.parse(u.function)))
        bad = (u.preamble + "\n\n" + bad_fn) if u.preamble else bad_fn
        user = _prompt("refactor_function", code=bad)
        k = len(u.cases)
        ans = react("The logic is fine but the names hide it; rename each variable after its role and keep tests green.",
                    [("Record current behaviour.", "run_tests", f"{k} test cases", f"{k} passed"),
                     ("Rename variables.", "write_file", "solution.py", f"renamed {len(mapping)} variables"),
                     ("Confirm behaviour is unchanged.", "run_tests", f"{k} test cases", f"{k} passed")],
                    {"code": u.code, "changes": [f"renamed `{b}` to `{a}`" for a, b in mapping.items()]})
        out.append(Draft("refactor_function", u.source, user, ans, u.code, tests=k,
                         checks=[Check(_pass_job(u.uid + ":ref-before", bad, u.cases), True),
                                 Check(_pass_job(u.uid + ":ref-after", u.code, u.cases), True)]))
    return out


# -------------------------------------------------------------------------------------------- performance
_BIGO = {0: "O(1)", 1: "O(n)", 2: "O(n^2)", 3: "O(n^3)"}


def complexity_hotspot(ctx: Context, rng: random.Random, n: int) -> list[Draft]:
    out = []
    for u in _pick(rng, ctx.units, n * 2):
        if len(out) >= n:
            break
        tree = ast.parse(u.function)
        calls = {c.func.id for c in ast.walk(tree) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}
        if u.name in calls or any(isinstance(x, ast.While) for x in ast.walk(tree)):
            continue  # recursion and while loops: not labelled by this rule
        if calls & {"sorted"}:
            continue
        depth, line = analysis.loop_depth(u.function)
        if depth > 3:
            continue
        bigo = _BIGO[depth]
        hot = line if depth else 1
        text = u.function.splitlines()[hot - 1].strip()
        expl = (f"{depth} nested loop(s) over the input; the innermost starts at line {hot}: `{text}`"
                if depth else "no loop depends on the input size; each statement runs once")
        user = _prompt("complexity_hotspot", name=u.name, code=u.function)
        ans = react("Count how deeply loops over the input nest; the innermost loop is the hot spot.",
                    [("Find the loops.", "search", "for |comprehension", f"deepest nesting {depth} at line {hot}")],
                    {"complexity": bigo, "hotspot_line": hot, "explanation": expl})
        out.append(Draft("complexity_hotspot", u.source, user, ans, u.function))
    return out


# --------------------------------------------------------------------------------------------- optimizer
_WORDS = ["items", "values", "records", "names", "scores", "tokens", "orders", "ids", "words", "entries"]


def _opt_templates(rng: random.Random) -> tuple[str, str, str, str, str, list[str]]:
    """(name, slow, fast, rationale, before/after complexity, call args) for one randomised pattern."""
    w = rng.choice(_WORDS)
    f = rng.choice(["find", "pick", "collect", "keep", "select"]) + "_" + w
    k = rng.randint(2, 9)
    pattern = rng.randrange(6)
    if pattern == 0:
        name = f"{f}_common"
        slow = f"def {name}(a, b):\n    out = []\n    for x in a:\n        if x in b and x not in out:\n            out.append(x)\n    return out"
        fast = f"def {name}(a, b):\n    seen = set(b)\n    out = []\n    done = set()\n    for x in a:\n        if x in seen and x not in done:\n            done.add(x)\n            out.append(x)\n    return out"
        return name, slow, fast, "membership tests on lists are O(n); sets make them O(1)", "O(n*m) -> O(n+m)", \
            [f"[{', '.join(str(rng.randint(0, 9)) for _ in range(8))}], [{', '.join(str(rng.randint(0, 9)) for _ in range(6))}]" for _ in range(3)]
    if pattern == 1:
        name = f"join_{w}"
        slow = f"def {name}(parts):\n    s = ''\n    for p in parts:\n        s = s + str(p) + '{',;|'[k % 3]}'\n    return s"
        fast = f"def {name}(parts):\n    return ''.join(str(p) + '{',;|'[k % 3]}' for p in parts)"
        return name, slow, fast, "repeated string concatenation copies the string each time; join builds it once", \
            "O(n^2) -> O(n)", ["['a', 'b', 'c']", "[]", f"list(range({k}))"]
    if pattern == 2:
        name = f"fib_{w}"
        slow = f"def {name}(n):\n    if n < 2:\n        return n\n    return {name}(n - 1) + {name}(n - 2)"
        fast = f"def {name}(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a"
        return name, slow, fast, "the recursion recomputes the same values exponentially often; iterate instead", \
            "O(2^n) -> O(n)", ["0", "1", str(10 + k)]
    if pattern == 3:
        name = f"has_pair_sum_{w}"
        slow = f"def {name}(nums, target):\n    for i in range(len(nums)):\n        for j in range(i + 1, len(nums)):\n            if nums[i] + nums[j] == target:\n                return True\n    return False"
        fast = f"def {name}(nums, target):\n    seen = set()\n    for x in nums:\n        if target - x in seen:\n            return True\n        seen.add(x)\n    return False"
        return name, slow, fast, "one pass with a set of complements replaces the pair loop", "O(n^2) -> O(n)", \
            [f"[{', '.join(str(rng.randint(-5, 9)) for _ in range(7))}], {rng.randint(0, 12)}" for _ in range(3)]
    if pattern == 4:
        name = f"count_{w}"
        slow = f"def {name}(xs):\n    result = {{}}\n    for x in xs:\n        result[x] = xs.count(x)\n    return result"
        fast = f"def {name}(xs):\n    result = {{}}\n    for x in xs:\n        result[x] = result.get(x, 0) + 1\n    return result"
        return name, slow, fast, "list.count rescans the list for every element; count in one pass", \
            "O(n^2) -> O(n)", [f"[{', '.join(str(rng.randint(0, 4)) for _ in range(9))}]", "[]", "['a', 'b', 'a']"]
    name = f"total_{w}"
    slow = f"def {name}(n):\n    total = 0\n    for i in range(n):\n        total += i * {k}\n    return total"
    fast = f"def {name}(n):\n    return {k} * (n * (n - 1) // 2) if n > 0 else 0"
    return name, slow, fast, "the loop sums an arithmetic series; use the closed form", "O(n) -> O(1)", \
        ["0", "1", str(50 + k), "-3"]


_ALIASES = {"a": ["a", "first", "left", "xs"], "b": ["b", "second", "right", "ys"], "parts": ["parts", "chunks", "pieces"],
            "nums": ["nums", "numbers", "values", "data"], "target": ["target", "goal", "total"],
            "xs": ["xs", "seq", "elements", "data"], "out": ["out", "result", "acc"], "s": ["s", "text", "buf"],
            "total": ["total", "acc", "running"], "result": ["result", "counts", "freq"], "x": ["x", "v", "item"],
            "p": ["p", "part", "piece"], "seen": ["seen", "lookup", "known"]}


def optimize_pattern(ctx: Context, rng: random.Random, n: int) -> list[Draft]:
    out = []
    for i in range(n):
        name, slow, fast, why, change, args = _opt_templates(rng)
        mapping = {k: rng.choice(v) for k, v in _ALIASES.items()}
        if len(set(mapping.values())) == len(mapping):  # no two names collapse into one
            slow = ast.unparse(_Obfuscate(mapping).visit(ast.parse(slow)))
            fast = ast.unparse(_Obfuscate(mapping).visit(ast.parse(fast)))
        before, after = change.split(" -> ")
        fast_named = fast.replace(f"def {name}(", f"def {name}_fast(", 1).replace(f"{name}(", f"{name}_fast(")
        cases = [[f"{name}({a}) == {name}_fast({a})", "True"] for a in args]
        user = _prompt("optimize_pattern", code=slow)
        ans = react(f"Find where the time goes in `{name}`, remove it, and prove the results are identical.",
                    [("Measure the baseline behaviour.", "run_tests", f"{len(args)} inputs", f"{len(args)} passed"),
                     (f"The hot spot: {why}.", "write_file", "solution.py", "rewritten"),
                     ("Compare old and new results.", "run_tests", f"{len(args)} inputs", "identical results")],
                    {"code": fast, "rationale": why, "complexity_before": before, "complexity_after": after})
        out.append(Draft("optimize_pattern", f"template:optimize#{i}", user, ans, fast, tests=len(args),
                         checks=[Check(Job(f"opt{i}", slow + "\n\n" + fast_named, cases=cases), True)]))
    return out


# ---------------------------------------------------------------------------------------- planner-critic
_PLAN_TASKS = [
    ("Fix the failing test for `{fn}` in `{mod}`.",
     ["Run the test suite and reproduce the failure of `{fn}`", "Read `{fn}` and locate the faulty line",
      "Patch the line with the smallest change", "Rerun the full test suite", "Ask the reviewer to check the diff"]),
    ("Add a function `{fn}` to `{mod}` with tests.",
     ["Read `{mod}` to follow its conventions", "Write tests for `{fn}` from the specification",
      "Implement `{fn}`", "Run the tests until they pass", "Document `{fn}` with a docstring"]),
    ("Speed up `{fn}` in `{mod}` without changing results.",
     ["Write tests that pin the current results of `{fn}`", "Profile `{fn}` to find the hot spot",
      "Rewrite the hot spot", "Rerun the tests and compare timings", "Summarise the speed-up"]),
    ("Rename `{fn}` to `{fn}_v2` across `{mod}`.",
     ["Search for every use of `{fn}`", "Rename the definition and every call site",
      "Run the linter and the tests", "Commit with a message naming the rename"]),
]
_RISKY = ["Rewrite all of `{mod}` from scratch", "Delete the failing test", "Disable the linter for the module"]


def critique_plan(ctx: Context, rng: random.Random, n: int) -> list[Draft]:
    out = []
    names = [(u.name, u.source.rsplit("/", 1)[-1]) for u in ctx.units + ctx.foreign] or [("parse", "util.py")]
    for i in range(n):
        fn, mod = rng.choice(names)
        task_t, plan_t = rng.choice(_PLAN_TASKS)
        good = [s.format(fn=fn, mod=mod) for s in plan_t]
        task = task_t.format(fn=fn, mod=mod)
        flaw = rng.randrange(4)
        plan = list(good)
        if flaw == 0:
            problems: list[str] = []
        elif flaw == 1:
            j = next((j for j, s in enumerate(good) if "test" in s.lower()), 0)
            removed = plan.pop(j)
            problems = [f"missing step: '{removed}' - nothing verifies the change"]
        elif flaw == 2:
            j = rng.randrange(len(plan) - 1)
            plan[j], plan[j + 1] = plan[j + 1], plan[j]
            problems = [f"steps {j + 1} and {j + 2} are in the wrong order: '{good[j]}' must come first"]
        else:
            risky = rng.choice(_RISKY).format(mod=mod)
            plan.insert(rng.randrange(1, len(plan)), risky)
            problems = [f"'{risky}' is out of scope and risky for this task; drop it"]
        user = _prompt("critique_plan", task=task, plan=plan)
        verdict = "approve" if not problems else "revise"
        ans = react("Check that each step is needed, in order, and that the result is verified.",
                    [("Compare the plan with what the task needs.", "read_file", mod,
                      "the plan has " + (f"{len(problems)} problem(s)" if problems else "no problems"))],
                    {"verdict": verdict, "problems": problems, "plan": good})
        out.append(Draft("critique_plan", f"template:plan#{i}", user, ans, "\n".join(plan), language="text"))
    return out


# ---------------------------------------------------------------------------------------------- security
_VULNS = [
    ("CWE-89", "SQL built by string formatting from user input (SQL injection)",
     "import sqlite3\n\ndef {f}(db, {v}):\n    cur = db.cursor()\n    cur.execute(f\"SELECT * FROM {t} WHERE name = '{{{v}}}'\")\n    return cur.fetchall()",
     "use a parameterised query: cur.execute('SELECT * FROM {t} WHERE name = ?', ({v},))", "cur.execute(f"),
    ("CWE-78", "shell command built from user input (OS command injection)",
     "import subprocess\n\ndef {f}({v}):\n    return subprocess.run('ls -l ' + {v}, shell=True, capture_output=True)",
     "pass an argument list without a shell: subprocess.run(['ls', '-l', {v}], capture_output=True)", "shell=True"),
    ("CWE-95", "eval of untrusted input (code injection)",
     "def {f}({v}):\n    return eval({v})",
     "parse the value instead: ast.literal_eval({v}) or a real parser", "eval("),
    ("CWE-502", "unpickling untrusted data (unsafe deserialisation)",
     "import pickle\n\ndef {f}({v}):\n    return pickle.loads({v})",
     "use a data-only format such as json.loads({v})", "pickle.loads"),
    ("CWE-798", "hard-coded credential",
     "API_KEY = 'sk-{k}'\n\ndef {f}({v}):\n    return {{'Authorization': API_KEY, 'q': {v}}}",
     "read the key from the environment or a secret store: os.environ['API_KEY']", "API_KEY = "),
    ("CWE-22", "file path joined from user input without containment (path traversal)",
     "import os\n\ndef {f}({v}):\n    with open(os.path.join('/srv/{t}', {v})) as fh:\n        return fh.read()",
     "resolve the path and check it stays under the base directory before opening", "with open("),
    ("CWE-327", "MD5 used for password hashing (broken algorithm)",
     "import hashlib\n\ndef {f}({v}):\n    return hashlib.md5({v}.encode()).hexdigest()",
     "use a password KDF: hashlib.scrypt or bcrypt/argon2 with a salt", "hashlib.md5"),
    ("CWE-330", "token generated with the non-cryptographic `random` module",
     "import random\nimport string\n\ndef {f}({v}):\n    return ''.join(random.choice(string.ascii_letters) for _ in range({v}))",
     "use secrets.choice / secrets.token_urlsafe", "random.choice"),
]
_SAFE = [
    "import sqlite3\n\ndef {f}(db, {v}):\n    cur = db.cursor()\n    cur.execute('SELECT * FROM {t} WHERE name = ?', ({v},))\n    return cur.fetchall()",
    "import subprocess\n\ndef {f}({v}):\n    return subprocess.run(['ls', '-l', {v}], capture_output=True)",
    "import ast\n\ndef {f}({v}):\n    return ast.literal_eval({v})",
    "import secrets\n\ndef {f}({v}):\n    return secrets.token_urlsafe({v})",
    "import json\n\ndef {f}({v}):\n    return json.loads({v})",
]


def find_vulnerability(ctx: Context, rng: random.Random, n: int) -> list[Draft]:
    out = []
    for i in range(n):
        f = rng.choice(["load", "fetch", "get", "read", "make", "build"]) + "_" + rng.choice(_WORDS)
        v = rng.choice(["user_input", "name", "value", "data", "arg", "query"])
        t = rng.choice(_WORDS)
        if rng.random() < 0.25:
            code = rng.choice(_SAFE).format(f=f, v=v, t=t)
            findings: list[dict[str, Any]] = []
            obs = "no dangerous sink reached by the input"
        else:
            cwe, msg, tmpl, fix, marker = rng.choice(_VULNS)
            code = tmpl.format(f=f, v=v, t=t, k="".join(rng.choice("abcdef0123456789") for _ in range(16)))
            line = next(n for n, text in enumerate(code.splitlines(), 1) if marker in text)
            findings = [{"cwe": cwe, "line": line, "message": msg, "fix": fix.format(v=v, t=t)}]
            obs = f"line {line}: {code.splitlines()[line - 1].strip()}"
        ast.parse(code)
        user = _prompt("find_vulnerability", code=code)
        ans = react("Trace the untrusted input to every sink (query, shell, eval, deserialiser, file, crypto).",
                    [("Search for dangerous sinks.", "search", "execute|shell=True|eval|pickle|open|md5|random", obs)],
                    {"findings": findings})
        out.append(Draft("find_vulnerability", f"template:security#{i}", user, ans, code))
    return out


# ------------------------------------------------------------------------------------------------- api
_VERBS = {"get": "GET", "list": "GET", "find": "GET", "read": "GET", "is": "GET", "has": "GET", "create": "POST",
          "add": "POST", "make": "POST", "new": "POST", "update": "PUT", "set": "PUT", "delete": "DELETE",
          "remove": "DELETE", "clear": "DELETE"}


def _endpoint(fn: str, params: list[str]) -> dict[str, Any]:
    head, _, rest = fn.partition("_")
    method = _VERBS.get(head.lower())
    resource = (rest or head) if method else fn
    path = "/" + resource.strip("_").replace("_", "-")
    if method in ("GET", "PUT", "DELETE") and params:
        path += "/{" + params[0] + "}"
        params = params[1:]
    return {"method": method or "POST", "path": path, "handler": fn, "params": params}


def design_api(ctx: Context, rng: random.Random, n: int) -> list[Draft]:
    out = []
    for mod in _pick(rng, [m for m in ctx.modules if len(m.functions) >= 2], n):
        sigs = mod.functions[:6]
        eps = []
        for sig in sigs:
            name, _, args = sig.partition("(")
            params = [a.split(":")[0].split("=")[0].strip() for a in args.rstrip(")").split(",") if a.strip()]
            params = [p for p in params if p and not p.startswith("*") and p not in ("self", "cls")]
            eps.append(_endpoint(name, params))
        user = _prompt("design_api", module=mod.module, signatures=sigs)
        ans = react("Map each function to a resource and an HTTP verb by what it does (read, create, change, delete).",
                    [("Read the function names and parameters.", "read_file", mod.module, f"{len(sigs)} functions"),
                     ("Draft the routes.", "design_api", mod.module, f"{len(eps)} endpoints")],
                    {"endpoints": eps})
        out.append(Draft("design_api", mod.source, user, ans, "\n".join(sigs), language="text"))
    return out


def module_architecture(ctx: Context, rng: random.Random, n: int) -> list[Draft]:
    out = []
    for mod in _pick(rng, [m for m in ctx.modules if len(m.components) >= 2], n):
        user = _prompt("module_architecture", module=mod.module, outline=mod.outline)
        kinds = sorted({c["kind"] for c in mod.components})
        ans = react("List the top-level components, their responsibilities from their contracts, and the imports.",
                    [("Read the module outline.", "read_file", mod.module,
                      f"{len(mod.components)} components ({', '.join(kinds)}), {len(mod.imports)} imports")],
                    {"components": mod.components, "dependencies": mod.imports,
                     "notes": f"{mod.module} is a {'library of functions' if kinds == ['function'] else 'module of classes and functions'}"})
        out.append(Draft("module_architecture", mod.source, user, ans, mod.outline, language="text"))
    return out


# ------------------------------------------------------------------------------------------------ devops
def devops_files(ctx: Context, rng: random.Random, n: int) -> list[Draft]:
    out = []
    mods = ctx.modules or [ModuleOutline("app", "template", "", [], ["json"], [])]
    for i in range(n):
        mod = rng.choice(mods)
        project = re.sub(r"[^a-z0-9]+", "-", mod.module.lower().replace(".py", "")).strip("-") or "app"
        py = rng.choice(["3.11", "3.12", "3.13"])
        runner = rng.choice(["pytest", "python -m unittest"])
        wanted_kinds = rng.choice([["a Dockerfile"], ["a GitHub Actions CI workflow"],
                                   ["a Dockerfile", "a GitHub Actions CI workflow"]])
        deps = [d for d in mod.imports if d not in sorted(__import__("sys").stdlib_module_names)][:4]
        files = []
        if "a Dockerfile" in wanted_kinds:
            install = f"RUN pip install --no-cache-dir {' '.join(deps)}\n" if deps else ""
            files.append({"path": "Dockerfile", "content":
                          f"FROM python:{py}-slim\nWORKDIR /app\n{install}COPY . .\nRUN pip install --no-cache-dir .\n"
                          f"RUN useradd -m app\nUSER app\nCMD [\"python\", \"-m\", \"{project.replace('-', '_')}\"]\n"})
        if "a GitHub Actions CI workflow" in wanted_kinds:
            wf = {"name": "ci", "on": {"push": None, "pull_request": None},
                  "jobs": {"test": {"runs-on": "ubuntu-latest", "steps": [
                      {"uses": "actions/checkout@v4"},
                      {"uses": "actions/setup-python@v5", "with": {"python-version": py}},
                      {"run": "pip install ." + (" pytest" if runner == "pytest" else "")},
                      {"run": runner}]}}}
            content = yaml.safe_dump(wf, sort_keys=False).replace("'on':", "on:")
            yaml.safe_load(content)
            files.append({"path": ".github/workflows/ci.yml", "content": content})
        user = _prompt("devops_files", project=project, language=f"Python {py}", test_cmd=runner, deps=deps,
                       wanted=wanted_kinds)
        ans = react("Pin the runtime, install only what is needed, run as non-root, and run the tests in CI.",
                    [("Check how the project is built and tested.", "read_file", "pyproject.toml",
                      f"python {py}; tests: {runner}")] +
                    [("Write the file.", "write_file", f["path"], f"{f['content'].count(chr(10))} lines") for f in files],
                    {"files": files})
        out.append(Draft("devops_files", mod.source, user, ans, "\n".join(f["content"] for f in files), language="text"))
    return out


# --------------------------------------------------------------------------------------------- frontend
_FIELDS = [("Name", "text"), ("Email", "email"), ("Password", "password"), ("Age", "number"), ("Phone", "tel"),
           ("Website", "url"), ("Birthday", "date"), ("Message", "textarea"), ("City", "text"), ("Quantity", "number")]
_TITLES = ["Sign up", "Contact", "Checkout", "Profile", "Feedback", "Booking", "Newsletter", "Support ticket"]


def _html_form(title: str, fields: list[dict[str, Any]], handler: str) -> str:
    lines = [f'<form aria-label="{title}" onsubmit="event.preventDefault(); {handler}(new FormData(this));">']
    for f in fields:
        fid = f["label"].lower().replace(" ", "-")
        req = " required" if f["required"] else ""
        lines.append(f'  <label for="{fid}">{f["label"]}</label>')
        if f["type"] == "textarea":
            lines.append(f'  <textarea id="{fid}" name="{fid}"{req}></textarea>')
        else:
            lines.append(f'  <input id="{fid}" name="{fid}" type="{f["type"]}"{req}>')
    lines += [f'  <button type="submit">{title}</button>', "</form>"]
    return "\n".join(lines)


def _react_form(title: str, fields: list[dict[str, Any]], handler: str) -> str:
    comp = re.sub(r"\W", "", title.title()) + "Form"
    lines = [f"export function {comp}({{ {handler} }}) {{", "  return (",
             f'    <form aria-label="{title}" onSubmit={{(e) => {{ e.preventDefault(); {handler}(new FormData(e.target)); }}}}>']
    for f in fields:
        fid = f["label"].lower().replace(" ", "-")
        req = " required" if f["required"] else ""
        lines.append(f'      <label htmlFor="{fid}">{f["label"]}</label>')
        tag = f'<textarea id="{fid}" name="{fid}"{req} />' if f["type"] == "textarea" else \
            f'<input id="{fid}" name="{fid}" type="{f["type"]}"{req} />'
        lines.append(f"      {tag}")
    lines += [f'      <button type="submit">{title}</button>', "    </form>", "  );", "}"]
    return "\n".join(lines)


def ui_component(ctx: Context, rng: random.Random, n: int) -> list[Draft]:
    from html.parser import HTMLParser

    out = []
    for i in range(n):
        title = rng.choice(_TITLES)
        fields = [{"label": lab, "type": typ, "required": rng.random() < 0.6}
                  for lab, typ in _pick(rng, _FIELDS, rng.randint(2, 5))]
        handler = rng.choice(["onSubmit", "submitForm", "handleSave", "send"])
        kind = rng.choice(["an HTML form", "a React function component"])
        code = _html_form(title, fields, handler) if kind == "an HTML form" else _react_form(title, fields, handler)
        if kind == "an HTML form":
            HTMLParser().feed(code)
        user = _prompt("ui_component", kind=kind, title=title, fields=fields, handler=handler)
        ans = react("One labelled control per field, native validation via required/type, a single submit handler.",
                    [("Write the component.", "write_file", "form.html" if "HTML" in kind else "Form.jsx",
                      f"{len(fields)} fields"),
                     ("Lint it.", "lint", "form", "no problems")],
                    {"language": "html" if "HTML" in kind else "jsx", "code": code})
        out.append(Draft("ui_component", f"template:frontend#{i}", user, ans, code, language="html"))
    return out


_APPS = ["task manager", "online shop", "recipe app", "banking app", "fitness tracker", "chat app", "CRM"]
_FEATURES = {
    "search": (["Search"], ["search field", "filter chips", "result list", "pagination"]),
    "sign-in": (["Sign in", "Reset password"], ["email field", "password field", "submit button", "error banner"]),
    "settings": (["Settings"], ["section list", "toggle switches", "save button", "confirmation toast"]),
    "item details": (["Item list", "Item detail"], ["item cards", "detail header", "action buttons", "back link"]),
    "upload": (["Upload"], ["drop zone", "file list", "progress bar", "cancel button"]),
    "notifications": (["Notifications"], ["notification list", "unread badge", "mark-all-read button"]),
}


def design_spec(ctx: Context, rng: random.Random, n: int) -> list[Draft]:
    out = []
    for i in range(n):
        app = rng.choice(_APPS)
        feature = rng.choice(sorted(_FEATURES))
        screens, comps = _FEATURES[feature]
        states = ["loading", "empty", "error", "success"] + (["offline"] if rng.random() < 0.3 else [])
        answer = {"screens": [{"name": s, "components": comps if j == 0 else comps[:2] + ["back link"],
                               "states": states} for j, s in enumerate(screens)]}
        user = _prompt("design_spec", app=app, feature=feature)
        ans = react("Start from the user's goal, one screen per step, and design every state, not just success.",
                    [("List the user's steps.", "read_file", "requirements.md", f"{len(screens)} screen(s)")], answer)
        out.append(Draft("design_spec", f"template:design#{i}", user, ans, json.dumps(answer), language="text"))
    return out


# -------------------------------------------------------------------------------------------- data / sql
_TABLES = {
    "orders": [("customer", "TEXT", ["ana", "bo", "cy", "dee"]), ("amount", "INTEGER", range(1, 200)),
               ("status", "TEXT", ["paid", "open", "refunded"])],
    "employees": [("name", "TEXT", ["ann", "ben", "cat", "dan", "eve"]), ("dept", "TEXT", ["eng", "ops", "sales"]),
                  ("salary", "INTEGER", range(30, 150))],
    "products": [("title", "TEXT", ["pen", "cup", "lamp", "desk", "mat"]), ("category", "TEXT", ["home", "office"]),
                 ("price", "INTEGER", range(2, 90))],
}


def _sql_task(rng: random.Random) -> tuple[str, list[tuple], str, str, str]:
    table = rng.choice(sorted(_TABLES))
    cols = _TABLES[table]
    rows = [tuple(rng.choice(list(vals)) for _, _, vals in cols) for _ in range(rng.randint(6, 10))]
    schema = f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, " + ", ".join(f"{c} {t}" for c, t, _ in cols) + ");"
    cat, num = cols[0][0] if cols[0][1] == "TEXT" else cols[1][0], next(c for c, t, _ in cols if t == "INTEGER")
    grp = next(c for c, t, _ in cols[1:] if t == "TEXT") if any(t == "TEXT" for _, t, _ in cols[1:]) else cat
    v = rng.choice([r[[c for c, _, _ in cols].index(num)] for r in rows])
    q = rng.randrange(5)
    if q == 0:
        return table, rows, schema, f"count the rows where {num} is greater than {v}.", \
            f"SELECT COUNT(*) FROM {table} WHERE {num} > {v};"
    if q == 1:
        return table, rows, schema, f"total {num} per {grp}, ordered by {grp}.", \
            f"SELECT {grp}, SUM({num}) FROM {table} GROUP BY {grp} ORDER BY {grp};"
    if q == 2:
        k = rng.randint(1, 3)
        return table, rows, schema, f"the {k} rows with the highest {num} (return {cat} and {num}; ties by id).", \
            f"SELECT {cat}, {num} FROM {table} ORDER BY {num} DESC, id LIMIT {k};"
    if q == 3:
        return table, rows, schema, f"the number of distinct values of {grp}.", \
            f"SELECT COUNT(DISTINCT {grp}) FROM {table};"
    return table, rows, schema, f"the average {num} per {grp}, rounded to 1 decimal, only groups with more than 1 row, ordered by {grp}.", \
        f"SELECT {grp}, ROUND(AVG({num}), 1) FROM {table} GROUP BY {grp} HAVING COUNT(*) > 1 ORDER BY {grp};"


def _sql_setup(table: str, schema: str, rows: list[tuple]) -> str:
    cols = [c for c, _, _ in _TABLES[table]]
    inserts = "\n".join(f"con.execute('INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})', {r!r})"
                        for r in rows)
    return f"import sqlite3\ncon = sqlite3.connect(':memory:')\ncon.execute({schema!r})\n{inserts}\n"


def sql_query(ctx: Context, rng: random.Random, n: int) -> list[Draft]:
    out = []
    for i in range(n):
        table, rows, schema, question, sql = _sql_task(rng)
        con = sqlite3.connect(":memory:")  # our own generated SQL on our own rows: computes the claimed result
        con.execute(schema)
        cols = [c for c, _, _ in _TABLES[table]]
        con.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", rows)
        result = con.execute(sql).fetchall()
        con.close()
        sample = ", ".join(str(r) for r in rows[:3])
        user = _prompt("sql_query", schema=schema, sample=sample, question=question)
        ans = react("Translate the question into one query; run it on the data to check the result.",
                    [("Write and run the query.", "run_tests", sql, repr(result))],
                    {"sql": sql, "result": repr(result)})
        job = Job(f"sql{i}", _sql_setup(table, schema, rows), cases=[[f"con.execute({sql!r}).fetchall()", repr(result)]])
        out.append(Draft("sql_query", f"template:sql#{i}", user, ans, sql, language="sql", tests=1,
                         checks=[Check(job, True)]))
    return out


def schema_migration(ctx: Context, rng: random.Random, n: int) -> list[Draft]:
    out = []
    for i in range(n):
        table = rng.choice(sorted(_TABLES))
        cols = _TABLES[table]
        rows = [tuple(rng.choice(list(vals)) for _, _, vals in cols) for _ in range(4)]
        schema = f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, " + ", ".join(f"{c} {t}" for c, t, _ in cols) + ");"
        kind = rng.randrange(3)
        c0 = cols[0][0]
        if kind == 0:
            new = rng.choice(["created_at", "note", "version"])
            change = f"adds a column `{new}` (TEXT, default '')" if new != "version" else \
                "adds a column `version` (INTEGER NOT NULL, default 1)"
            mig = f"ALTER TABLE {table} ADD COLUMN {new} " + ("INTEGER NOT NULL DEFAULT 1;" if new == "version" else "TEXT DEFAULT '';")
            rollback = f"ALTER TABLE {table} DROP COLUMN {new};"
            expect = ["id"] + [c for c, _, _ in cols] + [new]
        elif kind == 1:
            new = c0 + "_" + rng.choice(["label", "key", "ref"])
            change = f"renames column `{c0}` to `{new}`"
            mig = f"ALTER TABLE {table} RENAME COLUMN {c0} TO {new};"
            rollback = f"ALTER TABLE {table} RENAME COLUMN {new} TO {c0};"
            expect = ["id", new] + [c for c, _, _ in cols[1:]]
        else:
            change = f"adds an index on `{c0}`"
            mig = f"CREATE INDEX idx_{table}_{c0} ON {table} ({c0});"
            rollback = f"DROP INDEX idx_{table}_{c0};"
            expect = ["id"] + [c for c, _, _ in cols]
        user = _prompt("schema_migration", old=schema, change=change)
        setup = _sql_setup(table, schema, rows) + f"con.executescript({mig!r})\n"
        cases = [[f"[r[1] for r in con.execute('PRAGMA table_info({table})')]", repr(expect)],
                 [f"con.execute('SELECT COUNT(*) FROM {table}').fetchone()[0]", repr(len(rows))]]
        ans = react("Prefer in-place ALTER statements SQLite supports; verify the columns and that no row is lost.",
                    [("Apply the migration to a copy of the database.", "run_tests", mig,
                      f"columns: {', '.join(expect)}; {len(rows)} rows kept")],
                    {"migration": mig, "rollback": rollback})
        out.append(Draft("schema_migration", f"template:migration#{i}", user, ans, mig, language="sql", tests=2,
                         checks=[Check(Job(f"mig{i}", setup, cases=cases), True)]))
    return out


STRATEGIES: dict[str, Callable[[Context, random.Random, int], list[Draft]]] = {
    f.__name__: f for f in (implement_function, implement_from_signature, fix_mutant, write_tests, review_result,
                            find_defect, write_docstring, refactor_function, complexity_hotspot, optimize_pattern,
                            critique_plan, find_vulnerability, design_api, module_architecture, devops_files,
                            ui_component, design_spec, sql_query, schema_migration)
}
