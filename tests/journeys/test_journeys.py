"""Newcomer journeys through a real terminal (tmux) and a real browser (Chromium): what a new user types, and
what they see. Each test is the journey the docs name with ``<!-- doc: journey NAME -->`` (test_NAME).

The rough edges these journeys found, and their fixes, are in docs/journeys.md.
"""

from __future__ import annotations

import re
import shutil
import socket

import httpx
import pytest

from tanuki_ollama.ollama_server import free_port

from .conftest import REPO
from .term import PROMPT_RE, TRACEBACK, assert_helpful

pytestmark = pytest.mark.slow
QUESTION = "write is_palindrome in Python"
# the report's title, as rich renders its Markdown heading
REPORT = re.compile(r"tanuki run (\d{8}-\d{6}-[0-9a-f]+): (succeeded|partial|failed|timed_out|cancelled)\b")
SERVE_PORT = 11435  # what the docs type: `tanuki serve`, then OLLAMA_HOST=127.0.0.1:11435


def readme_command(name: str) -> str:
    """The command of the README's block marked ``<!-- doc: journey NAME -->``, exactly as written."""
    text = (REPO / "README.md").read_text()
    match = re.search(rf"<!-- doc: journey {name} -->\s*```bash\n(.+?)\n```", text, re.DOTALL)
    assert match, f"README.md has no `doc: journey {name}` block"
    return match.group(1).strip()


def no_traceback(shown: str) -> None:
    assert TRACEBACK not in shown, f"a traceback reached the user:\n{shown}"


@pytest.mark.timeout(1800)  # a quiet warm machine needs ~3 min; a busy one or a llama.cpp rebuild much more
def test_quickstart(terminal, checkout):
    """A fresh checkout: the README's first command, typed as written. Progress is shown, the report says how it
    went, and the bundled example is left as it was."""
    example = checkout / "examples" / "buggy-calculator" / "calculator.py"
    before = example.read_text()
    term = terminal(cwd=checkout)
    command = readme_command("quickstart")
    assert command.startswith("./install.sh && .venv/bin/tanuki run ")
    rc, shown = term.run(command, timeout=1700)
    # install.sh on a machine where it ran before: every step checked and skipped, then `tanuki doctor`
    assert "==> Python environment" in shown and "Python packages up to date" in shown
    assert re.search(r"==> done in \d+s", shown), shown[-3000:]
    # the live view of the run, then the report
    assert re.search(r"tanuki run: make the failing test pass \(\d+m\d\ds\)", shown)  # the clock ticks
    assert "tests before: pytest: 2 passed, 1 failed" in shown
    assert "micro family: --num-predict 384 --max-revisions 1 --max-replans 0" in shown
    report = REPORT.search(shown)
    assert report, f"no report header:\n{shown[-4000:]}"
    assert rc == 0 and "Evidence" in shown and "tests after:" in shown and "Diff" in shown
    assert f"runs/{report.group(1)}/workspace" in shown
    no_traceback(shown)
    assert example.read_text() == before  # the run worked on a copy


def test_ask(terminal):
    term = terminal()
    rc, shown = term.run(f'tanuki ask "{QUESTION}"', timeout=300)
    assert rc == 0, shown
    answer, _, usage = shown.rpartition("tanuki-micro: ")
    assert "palindrome" in answer.lower(), shown
    assert re.match(r"\d+ prompt \+ \d+ answer tokens, [\d.]+s", usage), shown
    no_traceback(shown)


@pytest.mark.timeout(1200)
def test_run_task(terminal, tmp_path):
    """Ctrl-C while the team works: the journal is kept and the run continues with --resume."""
    repo = tmp_path / "calc"
    shutil.copytree(REPO / "examples" / "buggy-calculator", repo)
    term = terminal(cwd=tmp_path)
    term.type('tanuki run "make the failing test pass" --repo calc')
    term.wait_for("tests before: pytest: 2 passed, 1 failed", timeout=240)
    term.ctrl_c()
    shown = term.wait_for(re.compile(r"resume with: tanuki run --resume (\S+)"), timeout=120)
    assert "stopping: the journal is kept, continue with --resume" in shown
    report = REPORT.search(shown)
    assert report and report.group(2) == "cancelled", shown[-3000:]
    run_id = report.group(1)
    assert (tmp_path / "home" / ".tanuki" / "runs" / run_id / "state.json").is_file()
    term.wait_prompt(2, timeout=30)

    # bounded for CI: no revisions, and a run timeout (the report then says `timed_out` if it was reached)
    rc, shown = term.run(f"tanuki run --resume {run_id} --max-revisions 0 --timeout 120", timeout=600)
    assert rc == 0
    assert f"tanuki run: resume {run_id}" in shown  # the live view's title
    resumed = REPORT.search(shown)
    assert resumed and resumed.group(1) == run_id and resumed.group(2) != "cancelled", shown[-3000:]
    assert "tests before: pytest: 2 passed, 1 failed" in shown
    no_traceback(shown)
    assert (repo / "calculator.py").read_text() == (REPO / "examples" / "buggy-calculator" / "calculator.py").read_text()


def test_register(terminal):
    """Register the micro family (untrained stand-ins: seconds), then use an agent straight from `ollama run`."""
    term = terminal()
    rc, shown = term.run("tanuki setup-micro --family", timeout=300)
    assert rc == 0, shown
    assert "micro family: tanuki-micro-coder, tanuki-micro-reviewer" in shown
    assert f'try: ollama run tanuki-micro-coder "{QUESTION}"' in shown
    rc, shown = term.run("tanuki models", timeout=60)
    assert rc == 0 and "tanuki-micro-coder" in shown
    rc, shown = term.run(f'ollama run tanuki-micro-coder "{QUESTION}"', timeout=300)
    assert rc == 0 and "palindrome" in shown.lower() and "Error" not in shown, shown
    no_traceback(shown)


def test_serve(terminal, micro_model):
    """`tanuki serve` in one window; the ollama CLI, the ollama Python client and the web UI talk to it."""
    from playwright.sync_api import expect, sync_playwright

    from tests.server.test_webui import chromium

    port = SERVE_PORT if _port_free(SERVE_PORT) else free_port()  # the docs' port, unless something holds it
    serve = "tanuki serve" if port == SERVE_PORT else f"tanuki serve --port {port}"
    url, host = f"http://127.0.0.1:{port}", f"127.0.0.1:{port}"
    term = terminal()
    term.type(serve)
    shown = term.wait_for('"msg": "serving"', timeout=120)
    assert f"starting tanuki serve on {url}: web UI {url}/" in shown and f"OLLAMA_HOST={host}" in shown

    term.new_window("client")
    rc, shown = term.run(f"OLLAMA_HOST={host} ollama list", timeout=60, window="client")
    assert rc == 0 and micro_model in shown, shown
    rc, shown = term.run(f'OLLAMA_HOST={host} ollama run {micro_model} "{QUESTION}"', timeout=300,
                         window="client")
    assert rc == 0 and "palindrome" in shown.lower() and "Error" not in shown, shown
    client = (f"python -c 'import ollama; c = ollama.Client(host=\"{url}\"); "
              f"print(c.chat(model=\"{micro_model}\", messages=[{{\"role\": \"user\", \"content\": \"{QUESTION}\"}}])"
              ".message.content)'")
    rc, shown = term.run(client, timeout=300, window="client")
    assert rc == 0 and "palindrome" in shown.lower(), shown
    no_traceback(shown)

    assert httpx.get(url + "/", timeout=10).text == "Ollama is running"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.goto(url + "/")
        page.select_option("#model", micro_model)
        page.fill("#prompt", QUESTION)
        page.click("#send")
        answer = page.locator(".msg.assistant[data-done=true] .body").last
        expect(answer).to_contain_text(re.compile("palindrome", re.IGNORECASE), timeout=240_000)
        browser.close()

    term.ctrl_c()
    rc = _last_rc(term.wait_prompt(2, timeout=60))
    assert rc == 0, term.screen()[-3000:]  # Ctrl-C is a clean shutdown
    assert TRACEBACK not in term.screen()


def test_errors(terminal):
    """The mistakes a newcomer makes, and what they see: a message, a hint that names the fix, no traceback."""
    term = terminal()
    rc, shown = term.run('tanuki ask -m no-such-model "hi"', timeout=120)
    assert rc != 0
    assert_helpful(shown, "Ollama does not know the model 'no-such-model'", "tanuki models", "tanuki setup-micro")

    rc, shown = term.run('tanuki run "make the failing test pass" --repo exmaples/buggy-calculator', timeout=120)
    assert rc != 0 and "┏" not in shown, shown  # no live view for a run that cannot start
    assert_helpful(shown, "repository exmaples/buggy-calculator is not a folder", "--repo PATH")

    rc, shown = term.run("tanuki run", timeout=60)
    assert rc != 0
    assert_helpful(shown, "no task given", 'tanuki run "make the failing test pass" --repo PATH')

    with socket.socket() as taken:  # a port another program holds
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        rc, shown = term.run(f"tanuki serve --port {port}", timeout=120)
    assert rc != 0
    assert_helpful(shown, f"127.0.0.1:{port} is already in use", "another --port")

    rc, shown = term.run("tanuki serve --host 0.0.0.0 --no-auth", timeout=120)
    assert rc != 0
    assert_helpful(shown, "refusing to listen on 0.0.0.0 without authentication", "tanuki keys create")

    # keys required (--auth, the default off loopback) but none created: tanuki warns at start; the ollama CLI
    # cannot send a key and shows its own generic error (an unfixed rough edge, see docs/journeys.md)
    port = free_port()
    term.new_window("server")
    term.type(f"tanuki serve --auth --port {port}", window="server")
    shown = term.wait_for("auth is on and the store has no active key", timeout=120, window="server")
    assert "tanuki keys create NAME" in shown
    rc, shown = term.run(f"OLLAMA_HOST=127.0.0.1:{port} ollama list", timeout=60)
    assert rc != 0 and "Error" in shown, shown
    term.ctrl_c(window="server")
    term.wait_prompt(2, timeout=60, window="server")

    down = f"127.0.0.1:{free_port()}"
    rc, shown = term.run(f"OLLAMA_HOST={down} tanuki models", timeout=120)
    assert rc != 0
    assert_helpful(shown, f"cannot reach Ollama at http://{down}", "tanuki ollama start")

    rc, shown = term.run("tanuki rnu", timeout=60)
    assert rc != 0 and "No such command 'rnu'" in shown and "tanuki --help" in shown, shown
    assert TRACEBACK not in shown


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _last_rc(text: str) -> int:
    return int(PROMPT_RE.findall(text)[-1])

