"""run_tests: the workspace's tests inside the sandbox, parsed into ``{passed, failed: [names], errors}``.

Frameworks: pytest (the venv's pytest, mounted read-only), node's built-in test runner, ``go test``, ``cargo
test``, Maven/JUnit, and ``java`` (no build tool: every ``.java`` file compiled with javac, then each ``Main`` /
``*Test`` / ``*Tests`` class that has a ``main`` run as one test). The workspace is copied into the sandbox's
private ``/work`` (the host workspace is never writable from inside); reports come back as files (JUnit XML) or
are parsed from the output.

``coverage: true`` (pytest only) runs pytest under coverage.py with one dynamic context per test function and
returns ``data["coverage"] = {file: {line: [test ids]}}`` (ids in the form of ``failed``) and
``data["tracebacks"] = {failing test id: its traceback}``, the inputs of spectrum-based fault localisation.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import shutil
import sys
import sysconfig
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from .base import (
    Observation,
    ToolContext,
    ToolError,
    ToolUnavailable,
    clip,
    observe,
    rel_to,
    resolve_path,
    walk_files,
)

MAX_COPY_BYTES = 48 * 1024 * 1024
MAX_FILE_BYTES = 4 * 1024 * 1024
FRAMEWORKS = ("pytest", "node", "go", "cargo", "maven", "java")
JUNIT = ".tanuki-junit.xml"
COVERAGE_RC = ".tanuki-coveragerc"
COVERAGE_JSON = ".tanuki-coverage.json"
COVERAGE_EXPORT_BYTES = 64 * 1024 * 1024
JAVA_CLASSES = "/tmp/classes"
_JAVA_MARK = "@@tanuki-java"


@dataclass
class TestReport:
    passed: int = 0
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: int = 0
    messages: dict[str, str] = field(default_factory=dict)  # failing test -> first lines of its failure

    def as_data(self) -> dict[str, Any]:
        return {"passed": self.passed, "failed": self.failed, "errors": self.errors, "skipped": self.skipped,
                "messages": self.messages}


# --------------------------------------------------------------------------------------------- parsers
def _case_id(case: ET.Element) -> str:
    """pytest's node id where the report names the file (``tests/test_x.py::TestY::test_z``), else
    ``classname::name`` (Maven: ``com.acme.FooTest::testBar``; node: the test's own name)."""
    cls, name, file = case.get("classname") or "", case.get("name") or "?", case.get("file")
    if file and file.endswith(".py"):
        module = file[:-3].replace("/", ".")
        inner = cls[len(module) + 1:] if cls.startswith(module + ".") else ""
        return "::".join([file, *inner.split("."), name] if inner else [file, name])
    return f"{cls}::{name}" if cls and cls != "test" else name


def parse_junit(xml_text: str) -> TestReport:
    """JUnit XML (pytest --junitxml, node --test-reporter=junit, Maven surefire)."""
    rep = TestReport()
    root = ET.fromstring(xml_text)
    for case in root.iter("testcase"):
        full = _case_id(case)
        fail = case.find("failure")
        err = case.find("error")
        if case.find("skipped") is not None:
            rep.skipped += 1
        elif fail is not None or err is not None or case.get("failure"):
            node = fail if fail is not None else err
            (rep.failed if fail is not None or case.get("failure") else rep.errors).append(full)
            msg = (node.get("message") if node is not None else case.get("failure")) or (node.text or "" if node is not None else "")
            rep.messages[full] = msg.strip()[:500]
        else:
            rep.passed += 1
    return rep


def parse_go_json(stream: str) -> TestReport:
    """``go test -json`` events. Build failures arrive as package-level ``fail`` without a test."""
    rep = TestReport()
    outputs: dict[str, list[str]] = {}
    for line in stream.splitlines():
        if not line.startswith("{"):
            continue
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            continue
        test, pkg, action = ev.get("Test"), ev.get("Package", ""), ev.get("Action")
        key = f"{pkg}.{test}" if test else pkg
        if action == "output":
            outputs.setdefault(key, []).append(ev.get("Output", ""))
        elif action == "pass" and test:
            rep.passed += 1
        elif action == "skip" and test:
            rep.skipped += 1
        elif action == "fail" and test:
            rep.failed.append(test)
            rep.messages[test] = "".join(outputs.get(key, []))[-500:].strip()
        elif action == "fail" and not test and not any(f.startswith(pkg) for f in rep.failed):
            rep.errors.append(pkg or "build")
            rep.messages[pkg or "build"] = "".join(outputs.get(key, []))[-500:].strip()
    return rep


_CARGO = re.compile(r"^test (\S+) \.\.\. (ok|FAILED|ignored)", re.MULTILINE)


def parse_cargo(text: str) -> TestReport:
    rep = TestReport()
    for name, status in _CARGO.findall(text):
        if status == "ok":
            rep.passed += 1
        elif status == "ignored":
            rep.skipped += 1
        else:
            rep.failed.append(name)
    for m in re.finditer(r"^---- (\S+) stdout ----\n(.*?)(?=^---- |\n\nfailures:|\Z)", text, re.MULTILINE | re.DOTALL):
        rep.messages[m.group(1)] = m.group(2).strip()[:500]
    if "error[E" in text or "could not compile" in text:
        rep.errors.append("compile")
        m = re.search(r"^error(\[E\d+\])?: .*$", text, re.MULTILINE)
        rep.messages["compile"] = m.group(0) if m else "could not compile"
    return rep


def junit_cases(xml_text: str) -> tuple[list[str], dict[str, str]]:
    """Every test id of a JUnit report (passed ones too) and the failure text (the traceback) of each failing one."""
    ids: list[str] = []
    tracebacks: dict[str, str] = {}
    for case in ET.fromstring(xml_text).iter("testcase"):
        full = _case_id(case)
        ids.append(full)
        node = case.find("failure")
        node = node if node is not None else case.find("error")
        if node is not None and (node.text or "").strip():
            tracebacks[full] = node.text.strip()[-3000:]
    return ids, tracebacks


_PARAMS = re.compile(r"\[.*\]$")


def _dotted(test_id: str) -> list[str]:
    """``tests/test_x.py::TestY::test_z[1-2]`` -> ``["tests", "test_x", "TestY", "test_z"]``."""
    head, *rest = test_id.split("::")
    module = head.removesuffix(".py")
    return [p for p in module.split("/") if p] + [_PARAMS.sub("", r) for r in rest]


class ContextMapper:
    """Maps coverage.py's context names to the report's test ids.

    coverage's ``dynamic_context = test_function`` names a context ``<func.__module__>.<func.__qualname__>``:
    ``test_calc.test_add``, ``tests.test_x.TestY.test_z`` (the module name depends on pytest's import mode and on
    ``__init__.py`` files, so it may be the file's whole dotted path or only its tail). pytest-cov's
    ``--cov-context=test`` names it by node id with a phase: ``tests/test_x.py::TestY::test_z|run``. A dotted
    context matches every id whose dotted path (file parts + class/function, parameters dropped) ends with it, so
    a parametrised function maps to all of its cases; an unmatched one is resolved to a workspace file by its
    module path; anything else is kept as it is.
    """

    def __init__(self, test_ids: Iterable[str], files: Iterable[str] = ()):
        self.index: dict[str, list[str]] = {}
        for tid in test_ids:
            parts = _dotted(tid)
            n_module = len(_dotted(tid.split("::")[0]))
            for i in range(n_module):  # every tail that still names the module
                self.index.setdefault(".".join(parts[i:]), []).append(tid)
        self.files = [f for f in files if f.endswith(".py")]
        self.cache: dict[str, list[str]] = {}

    def __call__(self, context: str) -> list[str]:
        if context not in self.cache:
            self.cache[context] = self._map(context)
        return self.cache[context]

    def _map(self, context: str) -> list[str]:
        name = context.split("|", 1)[0].strip()
        if not name:
            return []
        if "::" in name:
            return [name]
        if name in self.index:
            return list(dict.fromkeys(self.index[name]))
        parts = name.split(".")
        for i in range(len(parts) - 1, 0, -1):
            module = "/".join(parts[:i]) + ".py"
            hit = next((f for f in self.files if f == module or f.endswith("/" + module)), None)
            if hit is not None:
                return ["::".join([hit, *parts[i:]])]
        return [name]


def parse_coverage(json_text: str, mapper: ContextMapper) -> dict[str, dict[int, list[str]]]:
    """coverage.py's JSON report (``--show-contexts``) as ``{file: {line: [test ids]}}``; lines run outside any
    test (imports, fixtures: the empty context) are left out."""
    report = json.loads(json_text)
    out: dict[str, dict[int, list[str]]] = {}
    for path, fdata in (report.get("files") or {}).items():
        lines: dict[int, list[str]] = {}
        for line, contexts in (fdata.get("contexts") or {}).items():
            ids = list(dict.fromkeys(i for c in contexts for i in mapper(c)))
            if ids:
                lines[int(line)] = ids
        if lines:
            out[Path(path).as_posix()] = dict(sorted(lines.items()))
    return out


_JAVA_BLOCK = re.compile(rf"^{_JAVA_MARK} begin (\S+)\n(.*?)(?:^{_JAVA_MARK} end \1 (\d+)$|\Z)", re.MULTILINE | re.DOTALL)


def _java_failure(body: str, status: int | None, timeout_s: float) -> str:
    """The message of one failing Java test: its ``FAIL ...`` lines, else the exception and its stack."""
    lines = body.splitlines()
    if status is None:
        return "did not finish (killed by the run's limits)\n" + "\n".join(lines[-10:])
    if status == 124:
        return f"timed out after {timeout_s:.0f} s\n" + "\n".join(lines[-5:])
    fails = [ln for ln in lines if ln.startswith("FAIL")]
    if fails:
        return "\n".join(fails[:12])
    start = next((i for i, ln in enumerate(lines) if "Exception" in ln or "Error" in ln), None)
    if start is not None:
        return "\n".join(lines[start:start + 20])
    return f"exit status {status}\n" + "\n".join(lines[-10:])


def parse_java_runs(text: str, timeout_s: float = 0.0) -> TestReport:
    """The output of the ``java`` framework's script: a compile failure, or one marked block per test class."""
    rep = TestReport()
    if f"{_JAVA_MARK} compile-failed" in text:
        errors = text.split(f"{_JAVA_MARK} compile-failed", 1)[1].strip().splitlines()
        first = [ln for ln in errors if not re.match(r"^\d+ errors?$", ln)]
        rep.errors.append("compile")
        rep.messages["compile"] = "\n".join(first[:12])[:1000] or "javac failed"
        return rep
    for m in _JAVA_BLOCK.finditer(text):
        name, body, status = m.group(1), m.group(2), m.group(3)
        if status == "0":
            rep.passed += 1
            continue
        rep.failed.append(name)
        rep.messages[name] = _java_failure(body, None if status is None else int(status), timeout_s)[:1000]
    return rep


# --------------------------------------------------------------------------------------------- commands
def detect_framework(root: Path) -> str | None:
    if (root / "pom.xml").is_file():
        return "maven"
    if (root / "Cargo.toml").is_file():
        return "cargo"
    if (root / "go.mod").is_file():
        return "go"
    if (root / "package.json").is_file():
        return "node"
    py = py_tests = java = java_tests = False
    for f in walk_files(root, max_files=5000):
        if f.suffix == ".py":
            py = True
            py_tests = py_tests or f.name.startswith("test_") or f.name.endswith("_test.py")
        elif f.suffix == ".java":
            java = True
            java_tests = java_tests or _JAVA_TEST_FILE.search(f.name) is not None
    if py_tests or (py and not java_tests):
        return "pytest"
    return "java" if java else None


_JAVA_TEST_FILE = re.compile(r"^(Main|\w+Tests?)\.java$")
_JAVA_PACKAGE = re.compile(r"^\s*package\s+([\w.]+)\s*;", re.MULTILINE)
_JAVA_MAIN = re.compile(r"\bpublic\s+static\s+(?:final\s+)?void\s+main\s*\(")


def is_java_test_file(rel: str, text: str) -> bool:
    """A class the ``java`` framework runs as a test: a ``main`` in ``Main.java``, ``*Test.java``, ``*Tests.java``."""
    return _JAVA_TEST_FILE.search(PurePosixPath(rel).name) is not None and _JAVA_MAIN.search(text) is not None


def java_test_classes(files: dict[str, bytes]) -> list[str]:
    """The classes of ``is_java_test_file`` files, by fully qualified name (the file's package + its stem)."""
    out = []
    for rel in sorted(files):
        name = PurePosixPath(rel).name
        if not _JAVA_TEST_FILE.search(name):
            continue
        text = files[rel].decode("utf-8", "replace")
        if not is_java_test_file(rel, text):
            continue
        pkg = _JAVA_PACKAGE.search(text)
        out.append(f"{pkg.group(1)}.{name[:-5]}" if pkg else name[:-5])
    return out


def collect_files(root: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    total = 0
    for f in walk_files(root):
        size = f.stat().st_size
        if size > MAX_FILE_BYTES:
            continue
        total += size
        if total > MAX_COPY_BYTES:
            raise ToolError(f"the workspace holds more than {MAX_COPY_BYTES >> 20} MiB of files",
                            "run the tests of a sub-folder with path=")
        files[f.relative_to(root).as_posix()] = f.read_bytes()
    return files


@dataclass
class Plan:
    argv: list[str]
    binds: list[tuple[Path, str]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    export: list[str] = field(default_factory=list)


def _pytest_plan(extra: list[str]) -> Plan:
    base = Path(sys.base_prefix)
    site = Path(sysconfig.get_paths()["purelib"])
    exe = f"/opt/py/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    if not (base / "bin" / Path(exe).name).exists():
        raise ToolUnavailable(f"no python at {base / 'bin' / Path(exe).name}", "run ./install.sh")
    return Plan([exe, "-B", "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={JUNIT}",
                 "-o", "junit_family=xunit1", *extra],
                binds=[(base, "/opt/py"), (site, "/opt/site")],
                # Autoloading every plugin of tanuki's environment (hypothesis, schemathesis...) costs seconds per
                # run; a project that needs one names it in args (-p name).
                env={"PYTHONPATH": "/opt/site", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8",
                     "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
                export=[JUNIT])


COVERAGE_CONFIG = """[run]
dynamic_context = test_function
source = .
relative_files = True
branch = False
data_file = /tmp/.tanuki-coverage
disable_warnings = no-data-collected, module-not-measured, couldnt-parse
[json]
show_contexts = True
"""


def _coverage_plan(plan: Plan) -> tuple[Plan, dict[str, bytes]]:
    """The pytest plan run under coverage.py (one context per test function), then ``coverage json``; the
    script exits with pytest's status. Returns the plan and the config file to add to the sandbox's copy."""
    if importlib.util.find_spec("coverage") is None:
        raise ToolUnavailable("coverage.py is not installed in tanuki's environment",
                              "pip install coverage (./install.sh installs it)")
    exe = plan.argv[0]
    pytest_args = plan.argv[plan.argv.index("pytest") + 1:]
    rc = f"--rcfile={COVERAGE_RC}"
    script = (f'"$@"; rc=$?; {exe} -B -m coverage json {rc} -q -o {COVERAGE_JSON} >/tmp/coverage-json.log 2>&1 '
              '|| { echo "coverage json failed:"; cat /tmp/coverage-json.log; } >&2; exit $rc')
    argv = ["/bin/sh", "-c", script, "pytest-coverage", exe, "-B", "-m", "coverage", "run", rc, "-m", "pytest",
            *pytest_args]
    return (Plan(argv, binds=plan.binds, env=plan.env, export=[*plan.export, COVERAGE_JSON]),
            {COVERAGE_RC: COVERAGE_CONFIG.encode()})


def _java_plan(extra: list[str], sandbox: Any, files: dict[str, bytes], timeout: float) -> Plan:
    """javac every ``.java`` file into /tmp/classes, then run each test class (see ``java_test_classes``; args
    may name classes or their files) under ``timeout``; the output is marked per class for ``parse_java_runs``.
    The JVM's flags are the language table's (heap, serial GC, C1 only)."""
    lang = sandbox.table.get("java")
    lang.check_toolchain()
    sources = sorted(n for n in files if n.endswith(".java"))
    if not sources:
        raise ToolError("no .java files to compile", "name another framework")
    classes = java_test_classes(files)
    wanted = {PurePosixPath(a.split("::")[0]).name.removesuffix(".java") for a in extra if not a.startswith("-")}
    if wanted:
        classes = [c for c in classes if c in wanted or c.rsplit(".", 1)[-1] in wanted]
    if not classes:
        raise ToolError("no Java test class: no main() in a Main.java, *Test.java or *Tests.java file",
                        "add a Main class whose main() exits non-zero on failure, or use Maven (pom.xml)")
    memory_mb = 2048
    javac = lang.expand(lang.compile or [], {}, "Main.java", memory_mb)
    javac = _replace_after(javac, "-d", JAVA_CLASSES)
    java = _replace_after(lang.expand(lang.run, {}, "Main.java", memory_mb), "-cp", JAVA_CLASSES)[:-1]
    per_class = max(5.0, timeout * 0.9 / len(classes) - 2)
    compile_ = (f"if ! {shlex.join(javac + ['./' + s for s in sources])} >/tmp/javac.txt 2>&1; then "
                f"echo '{_JAVA_MARK} compile-failed'; cat /tmp/javac.txt; exit 3; fi")
    lines = ["exec 2>&1", f"mkdir -p {JAVA_CLASSES}", compile_, "status=0"]
    for cls in classes:
        lines += [f"echo '{_JAVA_MARK} begin {cls}'",
                  f"/usr/bin/timeout -k 2 {per_class:.0f} {shlex.join(java + [cls])} </dev/null; s=$?",
                  f"echo; echo '{_JAVA_MARK} end {cls} '$s", '[ "$s" = 0 ] || status=1']
    lines.append("exit $status")
    return Plan(["/bin/sh", "-c", "\n".join(lines)], env={"HOME": "/tmp", "LANG": "C.UTF-8", **lang.env})


def _replace_after(argv: list[str], flag: str, value: str) -> list[str]:
    out = list(argv)
    if flag in out and out.index(flag) + 1 < len(out):
        out[out.index(flag) + 1] = value
    return out


def _node_plan(extra: list[str]) -> Plan:
    if not Path("/usr/bin/node").exists():
        raise ToolUnavailable("node is not installed", "apt-get install -y nodejs")
    return Plan(["/bin/sh", "-c", (f'/usr/bin/node --test --test-reporter=junit --test-reporter-destination={JUNIT} '
                 '--test-reporter=spec --test-reporter-destination=stdout "$@"'), "node-test", *extra],
                env={"HOME": "/tmp", "NODE_OPTIONS": ""}, export=[JUNIT])


GO_TEST_SEED_TEST = 'package main\n\nimport "testing"\n\nfunc TestSeed(t *testing.T) { t.Log("seed") }\n'


def _go_test_seed(lang: Any) -> Any:
    """The language with a seed for ``go test``: the sandbox's trusted standard-library warm-up program plus a
    test, built by ``go test -json`` so that ``testing`` and test2json's inputs are cached too."""
    if lang.seed is None:
        return lang
    files = {**lang.seed.files, "seed_test.go": GO_TEST_SEED_TEST, "go.mod": "module seed\n\ngo 1.22\n"}
    seed = lang.seed.model_copy(update={
        "files": files, "command": ["/usr/local/go/bin/go", "test", "-json", "-count=1", "."],
        "env": {**lang.seed.env, "GOFLAGS": "-mod=mod", "GOPROXY": "off", "HOME": "/tmp"}})
    return lang.model_copy(update={"seed": seed})


def _go_plan(extra: list[str], sandbox: Any) -> Plan:
    lang = _go_test_seed(sandbox.table.get("go"))
    lang.check_toolchain()
    binds = [(host, mount) for mount, host in lang.mounts().items()]
    seed = sandbox._seed(lang)  # a trusted build cache made once (the sandbox's own seeding, our program)
    prep = "mkdir -p /tmp/gocache"
    if seed is not None and lang.seed is not None:
        binds.append((seed, lang.seed.mount))
        prep += f" && {{ cp -R {lang.seed.mount}/. /tmp/gocache/ 2>/dev/null || true; }}"
    return Plan(["/bin/sh", "-c", prep + ' && exec /usr/local/go/bin/go test -json "$@"', "go-test",
                 *(extra or ["./..."])], binds=binds,
                env={**lang.env, "GOCACHE": "/tmp/gocache", "GOFLAGS": "-mod=mod", "GOPROXY": "off", "HOME": "/tmp"})


def _cargo_plan(extra: list[str], sandbox: Any) -> Plan:
    lang = sandbox.table.get("rust")
    lang.check_toolchain()
    mounts = lang.mounts()
    binds = [(host, mount) for mount, host in mounts.items()]
    rust = next(iter(mounts), "/opt/rust")
    if not (Path(mounts.get(rust, Path("/nonexistent"))) / "bin" / "cargo").exists():
        raise ToolUnavailable("cargo is not installed beside rustc", "install Rust with rustup (it ships cargo)")
    return Plan([f"{rust}/bin/cargo", "test", "--offline", "--color", "never", *extra], binds=binds,
                env={"CARGO_HOME": "/tmp/cargo", "CARGO_TARGET_DIR": "/tmp/target", "HOME": "/tmp",
                     "PATH": f"{rust}/bin:/usr/bin:/bin", "RUSTC": f"{rust}/bin/rustc"})


def _maven_plan(extra: list[str]) -> Plan:
    mvn = shutil.which("mvn")
    repo = Path.home() / ".m2" / "repository"
    if mvn is None or not repo.is_dir():
        raise ToolUnavailable("Maven or its local repository (~/.m2/repository) is missing",
                              "install maven and run `mvn -q test` once online so plugins are cached")
    # Maven needs a writable local repository: the sandbox gets a private copy of the host's (read-only bind).
    return Plan(["/bin/sh", "-c", ('cp -R /opt/m2 /tmp/m2 && exec /usr/bin/mvn -o -q -B -Dmaven.repo.local=/tmp/m2 '
                 '-Dsurefire.printSummary=true test "$@"'), "mvn", *extra],
                binds=[(repo, "/opt/m2")], env={"HOME": "/tmp", "MAVEN_OPTS": "-Xmx512m"},
                export=["target/surefire-reports"])


def _parse(framework: str, outcome: Any, collected: dict[str, str], timeout: float) -> TestReport | None:
    res = outcome.result
    if framework in ("pytest", "node") and JUNIT in collected:
        return parse_junit(collected[JUNIT])
    if framework == "maven":
        reports = [v for k, v in collected.items() if k.endswith(".xml")]
        if reports:
            merged = TestReport()
            for xml in reports:
                r = parse_junit(xml)
                merged.passed += r.passed
                merged.skipped += r.skipped
                merged.failed += r.failed
                merged.errors += r.errors
                merged.messages.update(r.messages)
            return merged
    if framework == "go":
        return parse_go_json(res.stdout)
    if framework == "cargo":
        return parse_cargo(res.stdout + "\n" + res.stderr)
    if framework == "java" and _JAVA_MARK in res.stdout:
        return parse_java_runs(res.stdout, timeout)
    return None


def _coverage_data(collected: dict[str, str], files: dict[str, bytes]) -> dict[str, Any]:
    """``coverage`` / ``tracebacks`` for the observation, or ``coverage_error`` saying why there is none."""
    if JUNIT not in collected:
        return {"coverage_error": "pytest wrote no report"}
    try:
        ids, tracebacks = junit_cases(collected[JUNIT])
    except ET.ParseError as exc:
        return {"coverage_error": f"unreadable JUnit report: {exc}"}
    if COVERAGE_JSON not in collected:
        return {"tracebacks": tracebacks, "coverage_error": "coverage.py wrote no JSON report (see the output)"}
    try:
        cov = parse_coverage(collected[COVERAGE_JSON], ContextMapper(ids, list(files)))
    except (ValueError, AttributeError, TypeError) as exc:
        return {"tracebacks": tracebacks, "coverage_error": f"unreadable coverage report: {exc}"}
    return {"coverage": cov, "tracebacks": tracebacks, "test_ids": ids}


class RunTests:
    name = "run_tests"
    description = ("Run the workspace's tests in the sandbox (pytest, node --test, go test, cargo test, mvn test, "
                   "javac + Main classes) and report passed/failed test names.")
    parameters: ClassVar[dict[str, Any]] = {"type": "object", "additionalProperties": False, "properties": {
        "framework": {"type": "string", "enum": ["auto", *FRAMEWORKS], "default": "auto"},
        "path": {"type": "string", "description": "sub-folder holding the project (default: the workspace)"},
        "args": {"type": "array", "items": {"type": "string"},
                 "description": "extra arguments, e.g. a test file or -k expression"},
        "timeout_s": {"type": "number", "minimum": 1, "maximum": 1800},
        "coverage": {"type": "boolean", "default": False,
                     "description": "pytest only: also report which tests ran each line (data.coverage)"}}}

    def run(self, args: dict[str, Any], ctx: ToolContext) -> Observation:
        from ..sandbox import Limits, Phase
        from ..sandbox.cache import read_text_files

        root = resolve_path(ctx, args.get("path") or ".")
        framework = args.get("framework", "auto")
        if framework == "auto":
            framework = detect_framework(root)
            if framework is None:
                raise ToolError("no tests found (no pom.xml, Cargo.toml, go.mod, package.json or .py files)",
                                "name the framework explicitly")
        extra = list(args.get("args", []))
        for a in extra:  # arguments name files inside the copied project, never host paths
            if not a.startswith("-"):
                resolve_path(ctx, (Path(rel_to(ctx, root)) / a.split("::")[0]).as_posix())
        coverage = bool(args.get("coverage", False))
        if coverage and framework != "pytest":
            raise ToolError(f"coverage is measured for pytest only, not {framework}", "leave coverage out")
        sandbox = ctx.get_sandbox()
        timeout = float(args.get("timeout_s", ctx.timeout_s))
        files = collect_files(root)
        plan = {"pytest": lambda: _pytest_plan(extra), "node": lambda: _node_plan(extra),
                "go": lambda: _go_plan(extra, sandbox), "cargo": lambda: _cargo_plan(extra, sandbox),
                "maven": lambda: _maven_plan(extra),
                "java": lambda: _java_plan(extra, sandbox, files, timeout)}[framework]()
        export_limit = 16 * 1024 * 1024
        if coverage:
            plan, config = _coverage_plan(plan)
            files = {**files, **config}
            export_limit = COVERAGE_EXPORT_BYTES
        heavy = framework in ("go", "cargo", "maven", "java")
        limits = Limits(wall_s=timeout, cpu_s=timeout * 2, memory_mb=2048 if heavy else 1024,
                        processes=512 if heavy else 256, workdir_mb=1024, tmp_mb=2048 if heavy else 256,
                        output_bytes=4 * 1024 * 1024, cpus=2.0, file_size_mb=512)
        phase = Phase(argv=plan.argv, limits=limits, files=files, binds=plan.binds, env=plan.env,
                      export=plan.export, export_limit_bytes=export_limit)
        outcome = sandbox.backend.execute(phase)
        res = outcome.result
        collected: dict[str, str] = {}
        if outcome.archive:
            collected = read_text_files(outcome.archive, export_limit)
        report = _parse(framework, outcome, collected, timeout)
        output, cut = clip(res.stdout + ("\n" + res.stderr if res.stderr else ""), 6000)
        data: dict[str, Any] = {"framework": framework, "exit_code": res.exit_code, "timed_out": res.timed_out,
                                "limit_hit": res.limit_hit, "output_tail": output[-3000:]}
        if coverage:
            data.update(_coverage_data(collected, files))
        if report is None:
            report = TestReport(errors=["no test report"], messages={"no test report": output[-500:]})
        data.update(report.as_data())
        if res.timed_out:
            report.errors.append("timeout")
        ok = res.exit_code == 0 and not report.failed and not report.errors and not res.timed_out
        if framework == "pytest" and res.exit_code == 5:  # no tests collected
            report.errors.append("no tests collected")
            data["errors"] = report.errors
        summary = (f"{framework}: {report.passed} passed, {len(report.failed)} failed"
                   + (f", {len(report.errors)} error(s)" if report.errors else "")
                   + (f", {report.skipped} skipped" if report.skipped else "")
                   + (" [timed out]" if res.timed_out else ""))
        if report.failed:
            summary += "; failing: " + ", ".join(report.failed[:5]) + (" ..." if len(report.failed) > 5 else "")
        return observe(self.name, ok, summary, data, error=None if ok else "tests did not pass", truncated=cut)
