"""Every command block of README.md, CONTRIBUTING.md and docs/**/*.md, one test each (ids ``file:line``).

Every ``tanuki`` command is parsed against the real click tree; ``<!-- doc: run -->`` blocks are executed with
``bash -euo pipefail`` against the session's real Ollama in a throwaway HOME/TANUKI_HOME; ``journey`` blocks
must have their journey test in tests/journeys; ``covered`` blocks name existing tests whose source runs the
same commands; ``skip`` blocks are listed with their reasons (``pytest -rs``).
The convention is described in tests/docs/doccmd.py.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tanuki_ollama.ollama_server import free_port, spawn_logged, stop_process
from tanuki_ollama.settings import Settings
from tests.docs.doccmd import (
    REPO,
    Block,
    DocCommandError,
    all_blocks,
    check_tanuki,
    command_paths,
    covering_source,
    names_command,
    other_commands,
    tanuki_invocations,
)

try:
    BLOCKS, COLLECT_ERROR = all_blocks(), None
except DocCommandError as exc:  # a malformed annotation: reported by test_blocks_found, not a collection crash
    BLOCKS, COLLECT_ERROR = [], str(exc)
JOURNEYS = REPO / "tests" / "journeys"
DOC_PORT = re.compile(r"(127\.0\.0\.1|localhost):11435\b")


def parse_all(block: Block) -> None:
    """Parse every tanuki command of the block; fail listing every bad one."""
    problems: list[str] = []
    for command in block.commands:
        try:
            for args in tanuki_invocations(command.text):
                check_tanuki(args)
        except DocCommandError as exc:
            problems.append(f"{block.path}:{command.line}: {exc}")
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def check_covered(block: Block) -> None:
    """Each named test exists, and every tanuki command of the block is run by one of them."""
    sources = {spec: covering_source(spec) for spec in block.annotation.tests}
    missing = [spec for spec, source in sources.items() if source is None]
    assert not missing, f"{block.id}: `doc: covered` names tests that do not exist: {missing}"
    paths = {check_tanuki(args) for c in block.commands for args in tanuki_invocations(c.text)}
    uncovered = sorted(p for p in paths if not any(names_command(src, alias) for src in sources.values()
                                                   for alias in command_paths(p)))
    assert paths and not uncovered, f"{block.id}: no test of {sorted(sources)} runs {uncovered or 'tanuki'}"


def journey_exists(name: str) -> bool:
    test_name = "test_" + name.replace("-", "_")
    if not JOURNEYS.is_dir():
        return False
    for path in JOURNEYS.rglob("test_*.py"):
        if path.stem == test_name or re.search(rf"^\s*(async\s+)?def {test_name}\b", path.read_text(), re.MULTILINE):
            return True
    return False


def copy_repo(dest: Path) -> Path:
    """The working tree as a user's checkout has it (tracked + untracked, not ignored), .venv linked."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                           capture_output=True, timeout=30).stdout.decode().split("\0")
    for name in filter(None, files):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    (dest / ".venv").symlink_to(REPO / ".venv")
    return dest


def doc_env(tmp_path: Path, ollama_url: str, tanuki_home: str) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TANUKI_", "PYTEST_"))}
    env.update(
        HOME=str(home),
        TANUKI_HOME=tanuki_home,
        TANUKI_CACHE=str(Settings.from_env().cache),  # built toolchains and fixtures stay shared
        OLLAMA_HOST=ollama_url,
        PATH=f"{REPO / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        NO_COLOR="1",
        TERM="dumb",
    )
    return env


@pytest.fixture(scope="module")
def doc_server(ollama_server, micro_model, tmp_path_factory):
    """One real `tanuki serve` (over the session's Ollama) for every `doc: run serve` block of the module."""
    root = tmp_path_factory.mktemp("doc-serve")
    env = doc_env(root, ollama_server.url, str(root / "tanuki-home"))
    port, log = free_port(), root / "serve.log"
    process = spawn_logged([str(REPO / ".venv" / "bin" / "tanuki"), "serve", "--port", str(port), "--plain-logs"],
                           log, env=env, cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while not _healthy(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"tanuki serve did not come up:\n{log.read_text()[-3000:]}", pytrace=False)
            time.sleep(0.3)
        yield port
    finally:
        stop_process(process)


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def run_script(script: str, *, cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    process = subprocess.Popen(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate(timeout=10)
        pytest.fail(f"timed out after {timeout:.0f} s; output so far:\n{out[-4000:]}", pytrace=False)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(process.args, process.returncode, out, "")


def execute(block: Block, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    ollama_url = request.getfixturevalue("ollama_env")
    request.getfixturevalue("micro_model")  # registered once per session, as `tanuki ask` would on first use
    params = block.annotation.params
    env = doc_env(tmp_path, ollama_url, os.environ["TANUKI_HOME"])  # the test's throwaway (tests/conftest.py)
    cwd = {"repo": lambda: REPO, "copy": lambda: copy_repo(tmp_path / "checkout"),
           "tmp": lambda: tmp_path / "home"}[params.get("cwd", "repo")]()
    script = block.script()
    if "serve" in params:
        port = request.getfixturevalue("doc_server")
        script = DOC_PORT.sub(lambda m: f"{m.group(1)}:{port}", script)
    result = run_script(script, cwd=cwd, env=env, timeout=block.annotation.timeout)
    shown = result.stdout[-6000:]
    assert result.returncode == 0, f"{block.id} exited {result.returncode}:\n{shown}"
    expect = params.get("expect")
    if expect:
        assert expect in result.stdout, f"{block.id}: output lacks {expect!r}:\n{shown}"


def _param(block: Block):
    """Executed blocks talk to the real Ollama and take seconds to minutes: marked like the other such tests."""
    marks = [pytest.mark.slow, pytest.mark.ollama] if block.annotation.kind == "run" else []
    return pytest.param(block, id=block.id, marks=marks)


@pytest.mark.parametrize("block", [_param(b) for b in BLOCKS])
def test_doc_block(block: Block, request, tmp_path):
    assert block.commands, f"{block.id}: a {block.lang} block without commands (use ```text for output)"
    parse_all(block)
    kind = block.annotation.kind
    if kind is None:
        others = sorted({p for c in block.commands for p in other_commands(c.text)})
        assert not others, (f"{block.id}: runs {others} but has no annotation; add <!-- doc: run -->, "
                            '<!-- doc: journey NAME --> or <!-- doc: skip reason="..." --> before it')
    elif kind == "journey":
        assert journey_exists(block.annotation.name), (
            f"{block.id}: no journey test `test_{block.annotation.name.replace('-', '_')}` in tests/journeys")
    elif kind == "covered":
        check_covered(block)
    elif kind == "skip":
        pytest.skip(f"{block.id}: {block.annotation.reason}")
    else:
        execute(block, request, tmp_path)


def test_blocks_found():
    """The collection itself: README's quickstart is among the blocks, and ids are unique."""
    assert COLLECT_ERROR is None, COLLECT_ERROR
    ids = [b.id for b in BLOCKS]
    assert len(ids) == len(set(ids))
    readme = [b for b in BLOCKS if b.path == "README.md"]
    assert any("tanuki run" in c.text for b in readme for c in b.commands), [b.id for b in readme]


if __name__ == "__main__":  # pragma: no cover - a quick listing: python -m tests.docs.test_doc_commands
    for b in BLOCKS:
        print(b.id, b.annotation.kind or "parse", b.annotation.reason or b.annotation.name or "", file=sys.stdout)
