"""run_tests: the workspace's tests inside the sandbox, parsed into ``{passed, failed: [names], errors}``.

Frameworks: pytest (the venv's pytest, mounted read-only), node's built-in test runner, ``go test``, ``cargo
test`` and Maven/JUnit. The workspace is copied into the sandbox's private ``/work`` (the host workspace is never
writable from inside); reports come back as files (JUnit XML) or are parsed from the output.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import sysconfig
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
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
FRAMEWORKS = ("pytest", "node", "go", "cargo", "maven")
JUNIT = ".tanuki-junit.xml"


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
    for f in walk_files(root, max_files=5000):
        if f.suffix == ".py":
            return "pytest"
    return None


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


def _parse(framework: str, outcome: Any, collected: dict[str, str]) -> TestReport | None:
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
    return None


class RunTests:
    name = "run_tests"
    description = ("Run the workspace's tests in the sandbox (pytest, node --test, go test, cargo test, mvn test) "
                   "and report passed/failed test names.")
    parameters: ClassVar[dict[str, Any]] = {"type": "object", "additionalProperties": False, "properties": {
        "framework": {"type": "string", "enum": ["auto", *FRAMEWORKS], "default": "auto"},
        "path": {"type": "string", "description": "sub-folder holding the project (default: the workspace)"},
        "args": {"type": "array", "items": {"type": "string"},
                 "description": "extra arguments, e.g. a test file or -k expression"},
        "timeout_s": {"type": "number", "minimum": 1, "maximum": 1800}}}

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
        sandbox = ctx.get_sandbox()
        plan = {"pytest": lambda: _pytest_plan(extra), "node": lambda: _node_plan(extra),
                "go": lambda: _go_plan(extra, sandbox), "cargo": lambda: _cargo_plan(extra, sandbox),
                "maven": lambda: _maven_plan(extra)}[framework]()
        timeout = float(args.get("timeout_s", ctx.timeout_s))
        heavy = framework in ("go", "cargo", "maven")
        limits = Limits(wall_s=timeout, cpu_s=timeout * 2, memory_mb=2048 if heavy else 1024,
                        processes=512 if heavy else 256, workdir_mb=1024, tmp_mb=2048 if heavy else 256,
                        output_bytes=4 * 1024 * 1024, cpus=2.0, file_size_mb=512)
        phase = Phase(argv=plan.argv, limits=limits, files=collect_files(root), binds=plan.binds, env=plan.env,
                      export=plan.export, export_limit_bytes=16 * 1024 * 1024)
        outcome = sandbox.backend.execute(phase)
        res = outcome.result
        collected: dict[str, str] = {}
        if outcome.archive:
            collected = read_text_files(outcome.archive, 16 * 1024 * 1024)
        report = _parse(framework, outcome, collected)
        output, cut = clip(res.stdout + ("\n" + res.stderr if res.stderr else ""), 6000)
        data: dict[str, Any] = {"framework": framework, "exit_code": res.exit_code, "timed_out": res.timed_out,
                                "limit_hit": res.limit_hit, "output_tail": output[-3000:]}
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
