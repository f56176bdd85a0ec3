"""run_tests and gdb: real test runners and a real crashing program, inside the real jail."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


def write(ws: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(text)


def test_pytest_in_the_sandbox(registry, sctx, workspace):
    write(workspace, {"calc.py": "def add(a, b):\n    return a - b\n",
                      "tests/test_calc.py": "from calc import add\n\n"
                                            "def test_add():\n    assert add(2, 2) == 4\n\n"
                                            "def test_zero():\n    assert add(0, 0) == 0\n\n"
                                            "def test_escape():\n    open('/tmp/x', 'w').write('ok')\n"
                                            "    assert not __import__('os').path.exists('/work/../root/.ssh')\n\n"
                                            "class TestMore:\n    def test_neg(self):\n"
                                            "        assert add(1, -1) == 0\n"})
    obs = registry.call("run_tests", {}, sctx, allowed=["run_tests"])
    assert not obs.ok and obs.data["framework"] == "pytest"
    assert obs.data["failed"] == ["tests/test_calc.py::test_add", "tests/test_calc.py::TestMore::test_neg"]
    assert obs.data["passed"] == 2  # failures are named by pytest node id
    assert "assert 0 == 4" in obs.data["messages"]["tests/test_calc.py::test_add"]
    write(workspace, {"calc.py": "def add(a, b):\n    return a + b\n"})
    obs = registry.call("run_tests", {"args": [obs.data["failed"][0]]}, sctx)  # rerun just the failing test
    assert obs.ok and obs.data["passed"] == 1 and obs.summary == "pytest: 1 passed, 0 failed"
    assert not (workspace / ".tanuki-junit.xml").exists()  # the host workspace is never written by the run


def test_pytest_collection_errors_and_timeouts(registry, sctx, workspace):
    write(workspace, {"test_broken.py": "import nonexistent_module\n\ndef test_x():\n    pass\n"})
    obs = registry.call("run_tests", {"framework": "pytest"}, sctx)
    assert not obs.ok and obs.data["errors"] and "nonexistent_module" in obs.data["output_tail"]
    write(workspace, {"test_broken.py": "import time\n\ndef test_slow():\n    time.sleep(60)\n"})
    obs = registry.call("run_tests", {"timeout_s": 3}, sctx)
    assert not obs.ok and obs.data["timed_out"] and "timeout" in obs.data["errors"]


def test_node_test_runner(registry, sctx, workspace):
    write(workspace, {"package.json": '{"name": "t", "version": "1.0.0"}\n',
                      "test/math.test.js": "const test = require('node:test');\nconst assert = require('assert');\n"
                                           "test('adds', () => assert.strictEqual(1 + 1, 2));\n"
                                           "test('breaks', () => assert.strictEqual(1 + 1, 3));\n"})
    obs = registry.call("run_tests", {}, sctx)
    assert obs.data["framework"] == "node" and obs.data["passed"] == 1 and obs.data["failed"] == ["breaks"]


@pytest.mark.slow
def test_go_test(registry, sctx, workspace):
    if not Path("/usr/local/go/bin/go").exists():
        pytest.skip("Go is not installed")
    write(workspace, {"go.mod": "module example.com/m\n\ngo 1.22\n",
                      "m.go": "package m\n\nfunc Add(a, b int) int { return a - b }\n",
                      "m_test.go": "package m\n\nimport \"testing\"\n\n"
                                   "func TestAdd(t *testing.T) { if Add(2, 2) != 4 { t.Fatal(\"bad add\") } }\n"
                                   "func TestZero(t *testing.T) { if Add(0, 0) != 0 { t.Fatal(\"bad zero\") } }\n"})
    obs = registry.call("run_tests", {"timeout_s": 240}, sctx)
    assert obs.data["framework"] == "go" and obs.data["failed"] == ["TestAdd"] and obs.data["passed"] == 1, obs


@pytest.mark.slow
def test_cargo_test(registry, sctx, workspace):
    if shutil.which("cargo") is None:
        pytest.skip("cargo is not installed")
    write(workspace, {"Cargo.toml": '[package]\nname = "m"\nversion = "0.1.0"\nedition = "2021"\n',
                      "src/lib.rs": "pub fn add(a: i32, b: i32) -> i32 { a - b }\n\n#[cfg(test)]\nmod tests {\n"
                                    "    use super::*;\n    #[test]\n    fn adds() { assert_eq!(add(2, 2), 4); }\n"
                                    "    #[test]\n    fn zero() { assert_eq!(add(0, 0), 0); }\n}\n"})
    obs = registry.call("run_tests", {"timeout_s": 240}, sctx)
    assert obs.data["framework"] == "cargo" and obs.data["failed"] == ["tests::adds"] and obs.data["passed"] == 1, obs
    assert "left: 0" in obs.data["messages"]["tests::adds"]


def test_maven_needs_its_local_repository(registry, sctx, workspace, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home-without-m2"))
    write(workspace, {"pom.xml": "<project/>\n"})
    obs = registry.call("run_tests", {}, sctx)
    assert not obs.ok and "~/.m2/repository" in obs.error


def test_run_tests_refuses_paths_outside(registry, sctx, workspace):
    write(workspace, {"test_a.py": "def test_a():\n    pass\n"})
    obs = registry.call("run_tests", {"args": ["../../etc/passwd"]}, sctx)
    assert not obs.ok and "'..'" in obs.error


CRASH_C = """#include <stdio.h>
#include <string.h>

struct item { int *value; };

static int read_value(struct item *it) {
    return *it->value;
}

int main(int argc, char **argv) {
    struct item it = {0};
    if (argc > 1 && strcmp(argv[1], "safe") == 0) { puts("fine"); return 0; }
    printf("%d\\n", read_value(&it));
    return 0;
}
"""


def test_gdb_backtrace_of_a_crash(registry, sctx, workspace):
    write(workspace, {"prog/main.c": CRASH_C})
    obs = registry.call("gdb", {"path": "prog"}, sctx, allowed=["gdb"])
    assert obs.ok and obs.data["crashed"], obs
    top = obs.data["frames"][0]
    assert (top["function"], top["file"], top["line"]) == ("read_value", "prog/main.c", 7)
    assert [f["function"] for f in obs.data["frames"][:2]] == ["read_value", "main"]
    assert any(word in obs.data["reason"] for word in ("SEGV", "null pointer"))  # gdb's signal, or ASan/UBSan
    safe = registry.call("gdb", {"path": "prog/main.c", "args": ["safe"]}, sctx)
    assert safe.ok and not safe.data["crashed"] and "fine" in safe.data["output"]
    write(workspace, {"bad/main.c": "int main( { }\n"})
    broken = registry.call("gdb", {"path": "bad"}, sctx)
    assert not broken.ok and "compile failed" in broken.summary
