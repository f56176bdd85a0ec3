"""Acceptance checks from examples (task text, docstrings) and from the tester's answer: the generated pytest file
runs through real pytest against a correct implementation (passes) and a wrong one (every example fails)."""

from __future__ import annotations

import doctest
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tanuki_ollama.orchestrator import checks as checks_module
from tanuki_ollama.orchestrator.checks import (
    CHECKS_FILE,
    Checks,
    ChecksError,
    example_checks,
    module_name,
    parse_tester_checks,
    review_messages,
)
from tanuki_ollama.orchestrator.checks import tester_messages as ask_tester  # not collected as a test

CALC = {True: "def add(a, b):\n    return a + b\n", False: "def add(a, b):\n    return a - b\n"}
TASK = "Implement add in calc.py. For instance `add(2, 3) == 5`, and add(-1, 1) returns 0."

TOOLS_DOCS = '''
"""Small text and number helpers."""


def shout(word):
    """Upper-case a word and add an exclamation mark.

    >>> shout("hi")
    'HI!'
    >>> print(shout("ok"))
    OK!
    """
    {shout}


def mean(values):
    """The average of a non-empty list.

    mean([1, 2, 3, 4]) -> 2.5
    mean([1, 2]) => 1.5
    mean([10, 20, 25]) ➞ 18.33
    mean([]) raises ValueError
    """
    {mean}


def first_word(text):
    """The first word.

    Example:
        Input: text = "hello big world"
        Output: "hello"

    Examples:
        first_word("a b")
        'a'
    """
    {first_word}


def safe_div(a, b):
    """a divided by b; dividing by zero is an error.

    >>> safe_div(7, 2)
    3.5
    >>> safe_div(1, 0)
    Traceback (most recent call last):
      ...
    ZeroDivisionError: division by zero
    """
    {safe_div}


def maybe_first(xs):
    """The first item, or None.

    >>> maybe_first([])
    >>> maybe_first([4, 5])
    4
    """
    {maybe_first}


def sorted_copy(xs):
    """A sorted copy; the input is left alone.

    >>> xs = [3, 1, 2]
    >>> sorted_copy(xs)
    [1, 2, 3]
    >>> xs
    [3, 1, 2]
    """
    {sorted_copy}


def size(x) -> int:
    """Not an example: size(x) -> int is the signature, and size(3) returns a number."""
    return 0
'''
RIGHT = {"shout": 'return word.upper() + "!"',
         "mean": 'if not values:\n        raise ValueError("empty")\n    return sum(values) / len(values)',
         "first_word": "return text.split()[0]", "safe_div": "return a / b",
         "maybe_first": "return xs[0] if xs else None", "sorted_copy": "return sorted(xs)"}
WRONG = {"shout": "return word.upper()", "mean": "return sum(values) / (len(values) + 1)",
         "first_word": "return text.split()[-1]", "safe_div": "return a // b if b else 0",
         "maybe_first": "return xs[-1] if xs else 0", "sorted_copy": "xs.sort()\n    return xs[::-1]"}


def tools_module(correct: bool) -> str:
    return TOOLS_DOCS.format(**(RIGHT if correct else WRONG)).lstrip()


def workspace(root: Path, correct: bool) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "calc.py").write_text(CALC[correct])
    pkg = root / "src" / "texty"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "tools.py").write_text(tools_module(correct))
    return root


def pytest_run(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", CHECKS_FILE],
                          cwd=root, capture_output=True, text=True, timeout=120, check=False)


def counts(out: str) -> dict[str, int]:
    return {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|error)", out)}


SOURCES = ["calc.py", "src/texty/tools.py"]


def test_doctests():
    result = doctest.testmod(checks_module)
    assert result.attempted > 0 and result.failed == 0


def test_module_names_follow_packages(tmp_path):
    workspace(tmp_path, True)
    assert module_name("src/texty/tools.py", tmp_path) == ("texty.tools", "src")
    assert module_name("calc.py", tmp_path) == ("calc", "")


def test_examples_become_one_test_each(tmp_path):
    checks = example_checks(TASK, workspace(tmp_path, True), SOURCES)
    assert checks is not None and checks.origin == "examples" and checks.path == CHECKS_FILE
    # task: 2; shout: 2; mean: 4; first_word: 2; safe_div: 2; maybe_first: 2; sorted_copy: 2; size: none
    assert checks.cases == len(checks.names) == 16
    assert checks.names[:2] == ["test_add_1", "test_add_2"] and "test_size_1" not in checks.names
    assert "from calc import add" in checks.content and "from texty.tools import" in checks.content
    assert "pytest.raises(ValueError)" in checks.content and "pytest.raises(ZeroDivisionError)" in checks.content
    assert "'src'" in checks.content  # the src/ layout is put on sys.path
    assert checks.node_ids[0] == f"{CHECKS_FILE}::test_add_1"


def test_generated_checks_pass_on_correct_code_and_fail_on_wrong_code(tmp_path):
    good = workspace(tmp_path / "good", True)
    checks = example_checks(TASK, good, SOURCES)
    checks.write(good)
    res = pytest_run(good)
    assert res.returncode == 0, res.stdout[-3000:]
    assert counts(res.stdout) == {"passed": checks.cases}
    bad = workspace(tmp_path / "bad", False)
    assert example_checks(TASK, bad, SOURCES).content == checks.content  # the checks come from the spec only
    checks.write(bad)
    res = pytest_run(bad)
    assert res.returncode == 1 and counts(res.stdout) == {"failed": checks.cases}, res.stdout[-3000:]


def test_task_examples_without_sources_on_disk(tmp_path):
    checks = example_checks("scale(2, 3) should return 6 and scale(0, 9) -> 0.", tmp_path, [],
                            functions={"scale": "geometry"})
    assert checks.cases == 2 and "from geometry import scale" in checks.content


def test_no_examples_and_unsafe_expected_values_are_skipped(tmp_path):
    (tmp_path / "m.py").write_text(textwrap.dedent('''
        import os


        def run(cmd):
            """run("ls") -> os.system("rm -rf /"); run("a") returns a list; run(x) == 3"""
            return cmd
    '''))
    assert example_checks("make run faster", tmp_path, ["m.py"]) is None
    assert example_checks("nothing here", tmp_path, []) is None  # workspace files are scanned when none named


def test_checks_write_refuses_paths_outside(tmp_path):
    with pytest.raises(ChecksError):
        Checks(path="../x.py", content="", origin="tester", cases=0).write(tmp_path)


# ---------------------------------------------------------------------------------------------- the tester
TESTER_FILE = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"


def test_tester_answer_as_json():
    reply = json.dumps({"thought": "t", "steps": [], "answer": {"framework": "pytest", "tests": TESTER_FILE}})
    checks = parse_tester_checks(reply, ["calc"])
    assert checks.origin == "tester" and checks.names == ["test_add"] and checks.cases == 1
    assert checks.content == TESTER_FILE


def test_tester_answer_fenced_with_imports_normalised():
    reply = ("Here are the tests:\n```python\nfrom solution import add\n\n"
             "def test_add():\n    assert math.isclose(add(0.1, 0.2), 0.3)\n```\n")
    checks = parse_tester_checks(reply, ["pkg.calc"])
    assert "from pkg.calc import add" in checks.content and "import math" in checks.content
    rel = parse_tester_checks("from .calc import add\n\nassert add(1, 1) == 2\n", ["pkg.calc"])
    assert "from pkg.calc import add" in rel.content and rel.names == ["test_tester_checks"]


def test_a_pasted_copy_of_the_code_under_test_is_removed():
    reply = "from calc import add\n\n\ndef add(a, b):\n    return a + b\n\n\n" + TESTER_FILE.split("\n\n\n")[1]
    checks = parse_tester_checks(reply, ["calc"])
    assert "return a + b" not in checks.content and checks.names == ["test_add"]


def test_tester_answer_rejected():
    assert parse_tester_checks("def test_add():\n    assert 1 + 1 == 2\n", ["calc", "other"]) is None  # no import
    assert parse_tester_checks("from calc import add\ndef test_add(:\n    assert add(1, 2) == 3\n", ["calc"]) is None
    assert parse_tester_checks("from calc import add\n\ndef test_add():\n    add(1, 2)\n", ["calc"]) is None


def test_tester_answer_runs_through_pytest(tmp_path):
    reply = json.dumps({"answer": {"framework": "pytest", "tests": TESTER_FILE}})
    checks = parse_tester_checks(reply, ["calc"])
    for correct, code in ((True, 0), (False, 1)):
        root = tmp_path / str(correct)
        root.mkdir()
        (root / "calc.py").write_text(CALC[correct])
        checks.write(root)
        assert pytest_run(root).returncode == code


def test_prompts_for_the_tester_and_the_reviewer(tmp_path):
    msgs = ask_tester(TASK, {"calc.py": CALC[False]}, root=tmp_path)
    assert [m.role for m in msgs] == ["system", "user"] and "tanuki-tester" in msgs[0].content
    assert "import it as `calc`" in msgs[1].content and "def add(a, b)" in msgs[1].content
    assert '"tests"' in msgs[1].content and TASK in msgs[1].content
    checks = example_checks(TASK, workspace(tmp_path, True), SOURCES)
    review = review_messages(TASK, checks)
    assert [m.role for m in review] == ["system", "user"] and "tanuki-reviewer" in review[0].content
    assert "test_add_1" in review[1].content and '"verdict"' in review[1].content and '"revise"' in review[1].content
    code_review = review_messages(TASK, checks, reviewer="tanuki-code-reviewer")[1].content
    assert 'the verdict is "approve"' in code_review and '"request_changes"' in code_review
