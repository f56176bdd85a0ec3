"""run_tests additions: per-test coverage for pytest (``coverage: true``) and the ``java`` framework (javac + Main
classes, no build tool), with the real jail, the venv's coverage.py and the real JDK."""

from __future__ import annotations

import shutil

import pytest

from tanuki_ollama.tools.testing import ContextMapper, detect_framework, parse_java_runs
from tests.tools.test_run_tests import write

SOLUTION = """public class Solution {
    /** Index of target in the sorted array, or -1. */
    public static int find(int[] arr, int target) {
        int lo = 0;
        int hi = arr.length - 1;
        while (lo <= hi) {
            int mid = lo + (hi - lo) / 2;
            if (arr[mid] == target) {
                return mid;
            } else if (arr[mid] < target) {
                lo = mid + 1;
            } else {
                hi = mid - 1;
            }
        }
        return -1;
    }
}
"""
MAIN = """public class Main {
    static int failed = 0;
    static void check(int got, int want, String what) {
        if (got != want) { failed++; System.out.println("FAIL " + what + ": got " + got + ", want " + want); }
    }
    public static void main(String[] args) {
        int[] a = {1, 3, 5, 7, 9, 11, 13};
        for (int i = 0; i < a.length; i++) check(Solution.find(a, a[i]), i, "find " + a[i]);
        check(Solution.find(a, 4), -1, "find 4");
        check(Solution.find(a, 14), -1, "find 14");
        check(Solution.find(new int[0], 1), -1, "find in empty");
        System.out.println(failed == 0 ? "OK" : failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }
}
"""


def need_java():
    if shutil.which("javac") is None or shutil.which("java") is None:
        pytest.skip("the JDK is not installed (apt-get install -y default-jdk-headless)")


# --------------------------------------------------------------------------------------------- pure parsing
def test_context_names_map_to_report_ids():
    ids = ["tests/test_calc.py::test_add", "tests/test_calc.py::TestMore::test_neg",
           "tests/test_calc.py::test_param[1-2]", "tests/test_calc.py::test_param[3-4]", "test_top.py::test_x"]
    m = ContextMapper(ids, ["calc.py", "tests/test_calc.py", "test_top.py", "pkg/test_other.py"])
    assert m("test_calc.test_add") == ["tests/test_calc.py::test_add"]  # rootdir-relative module name (no __init__)
    assert m("tests.test_calc.test_add") == ["tests/test_calc.py::test_add"]  # package-qualified module name
    assert m("test_calc.TestMore.test_neg") == ["tests/test_calc.py::TestMore::test_neg"]
    assert m("test_calc.test_param") == ["tests/test_calc.py::test_param[1-2]", "tests/test_calc.py::test_param[3-4]"]
    assert m("tests/test_calc.py::TestMore::test_neg|run") == ["tests/test_calc.py::TestMore::test_neg"]  # pytest-cov
    assert m("test_other.test_y") == ["pkg/test_other.py::test_y"]  # not in the report: resolved by its file
    assert m("") == [] and m("weird") == ["weird"]


def test_java_output_parsing():
    text = ("@@tanuki-java begin Main\nFAIL find 4: got 2, want -1\nFAIL find 0: got 0, want -1\nnoise\n2 failed\n\n"
            "@@tanuki-java end Main 1\n@@tanuki-java begin demo.CalcTest\nok\n\n@@tanuki-java end demo.CalcTest 0\n"
            "@@tanuki-java begin SlowTest\n\n@@tanuki-java end SlowTest 124\n"
            "@@tanuki-java begin CrashTest\nException in thread \"main\" java.lang.ArithmeticException: / by zero\n"
            "\tat Solution.div(Solution.java:4)\n\tat CrashTest.main(CrashTest.java:3)\n\n"
            "@@tanuki-java end CrashTest 1\n@@tanuki-java begin Last\npartial")
    rep = parse_java_runs(text, timeout_s=30)
    assert rep.passed == 1 and rep.failed == ["Main", "SlowTest", "CrashTest", "Last"]
    assert rep.messages["Main"] == "FAIL find 4: got 2, want -1\nFAIL find 0: got 0, want -1"
    assert rep.messages["SlowTest"].startswith("timed out after 30 s")
    assert rep.messages["CrashTest"].splitlines()[:2] == [
        'Exception in thread "main" java.lang.ArithmeticException: / by zero', "\tat Solution.div(Solution.java:4)"]
    assert rep.messages["Last"].startswith("did not finish")
    rep = parse_java_runs("@@tanuki-java compile-failed\n./Solution.java:3: error: ';' expected\n  int x = 1\n"
                          "           ^\n1 error\n")
    assert rep.errors == ["compile"] and rep.failed == [] and rep.passed == 0
    assert rep.messages["compile"].splitlines()[0] == "./Solution.java:3: error: ';' expected"


def test_detect_java_without_a_build_tool(tmp_path):
    write(tmp_path, {"Solution.java": SOLUTION, "Main.java": MAIN})
    assert detect_framework(tmp_path) == "java"
    write(tmp_path, {"pom.xml": "<project/>"})
    assert detect_framework(tmp_path) == "maven"
    (tmp_path / "pom.xml").unlink()
    write(tmp_path, {"tools/gen.py": "print(1)\n"})  # a helper script does not make it a Python project
    assert detect_framework(tmp_path) == "java"
    write(tmp_path, {"test_gen.py": "def test_x():\n    pass\n"})  # Python tests do
    assert detect_framework(tmp_path) == "pytest"


# --------------------------------------------------------------------------------------------- real runs
def test_pytest_coverage_contexts(registry, sctx, workspace):
    write(workspace, {"calc.py": "def add(a, b):\n    return a - b\n\n\ndef sign(x):\n    if x < 0:\n"
                                 "        return -1\n    return 1\n",
                      "tests/__init__.py": "",
                      "tests/test_calc.py": "import pytest\n\nfrom calc import add, sign\n\n\n"
                                            "def test_add():\n    assert add(2, 2) == 4\n\n\n"
                                            "class TestSign:\n    def test_neg(self):\n        assert sign(-5) == -1\n\n"
                                            "    @pytest.mark.parametrize('x', [1, 2])\n"
                                            "    def test_pos(self, x):\n        assert sign(x) == 1\n"})
    plain = registry.call("run_tests", {}, sctx)
    assert "coverage" not in plain.data and "tracebacks" not in plain.data  # the default run is unchanged
    obs = registry.call("run_tests", {"coverage": True}, sctx)
    assert obs.data["failed"] == plain.data["failed"] == ["tests/test_calc.py::test_add"], obs
    assert obs.data["passed"] == 3
    cov = obs.data["coverage"]
    assert cov["calc.py"][2] == ["tests/test_calc.py::test_add"]  # `return a - b` ran in test_add only
    assert cov["calc.py"][7] == ["tests/test_calc.py::TestSign::test_neg"]
    assert cov["calc.py"][8] == ["tests/test_calc.py::TestSign::test_pos[1]", "tests/test_calc.py::TestSign::test_pos[2]"]
    assert sorted(cov["calc.py"][6]) == sorted(["tests/test_calc.py::TestSign::test_neg",
                                                "tests/test_calc.py::TestSign::test_pos[1]",
                                                "tests/test_calc.py::TestSign::test_pos[2]"])
    assert 1 not in cov["calc.py"]  # `def add` ran at import, outside any test
    assert "assert 0 == 4" in obs.data["tracebacks"]["tests/test_calc.py::test_add"]
    assert "calc.py:2" not in obs.data["tracebacks"]["tests/test_calc.py::test_add"]  # the assert is in the test
    assert not (workspace / ".tanuki-coveragerc").exists() and not (workspace / ".coverage").exists()
    bad = registry.call("run_tests", {"framework": "node", "coverage": True}, sctx)
    assert not bad.ok and "pytest only" in bad.error


def test_java_framework(registry, sctx, workspace):
    need_java()
    buggy = SOLUTION.replace("int hi = arr.length - 1;", "int hi = arr.length;")  # reads past the end
    write(workspace, {"Solution.java": buggy, "Main.java": MAIN})
    obs = registry.call("run_tests", {"timeout_s": 120}, sctx)
    assert obs.data["framework"] == "java" and not obs.ok, obs
    assert obs.data["failed"] == ["Main"] and obs.data["passed"] == 0
    msg = obs.data["messages"]["Main"]
    assert "ArrayIndexOutOfBoundsException" in msg and "at Solution.find(Solution.java:8)" in msg, msg

    wrong = SOLUTION.replace("return -1;", "return lo;")  # a wrong value, no exception
    write(workspace, {"Solution.java": wrong})
    obs = registry.call("run_tests", {"timeout_s": 120}, sctx)
    assert obs.data["failed"] == ["Main"]
    assert obs.data["messages"]["Main"] == ("FAIL find 4: got 2, want -1\nFAIL find 14: got 7, want -1\n"
                                            "FAIL find in empty: got 0, want -1")

    write(workspace, {"Solution.java": SOLUTION.replace("int lo = 0;", "int lo = 0")})
    obs = registry.call("run_tests", {"timeout_s": 120}, sctx)
    assert not obs.ok and obs.data["errors"] == ["compile"] and obs.data["failed"] == []
    assert obs.data["messages"]["compile"].startswith("./Solution.java:4: error: ';' expected")

    write(workspace, {"Solution.java": SOLUTION})
    obs = registry.call("run_tests", {"timeout_s": 120}, sctx)
    assert obs.ok and obs.data["passed"] == 1 and obs.summary == "java: 1 passed, 0 failed", obs
