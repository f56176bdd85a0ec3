"""The web UI in headless Chromium (Playwright driving the system Chromium, no browser download): pick an agent,
send a message, see the streamed answer; ask the team, see the run's plan and diff. A screenshot is saved."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from tests.orchestrator.conftest import EXAMPLE

from .test_team import team_engine

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
AGENT_ANSWER = "def add(a, b):\n    return a + b"


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    pytest.fail("no system Chromium: run ./install.sh (it installs the Debian package `chromium`)")


def test_chat_and_run_view(serve, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    workspace = tmp_path / "buggy-calculator"
    shutil.copytree(EXAMPLE, workspace)
    url = serve(team_engine(AGENT_ANSWER), workspace=workspace)
    assert httpx.get(url).text == "Ollama is running"  # what non-browser clients see at /
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(url + "/")
        expect(page.locator("#model option")).to_have_count(2)
        page.select_option("#model", "tanuki-coder")
        page.fill("#prompt", "write add(a, b)")
        page.click("#send")
        answer = page.locator(".msg.assistant[data-done=true] .body").last
        expect(answer).to_have_text(AGENT_ANSWER, timeout=30_000)

        page.select_option("#model", "tanuki")
        page.fill("#prompt", "make the failing test pass")
        page.click("#send")
        expect(page.locator("#run-diff")).to_contain_text("+    return a + b", timeout=240_000)
        expect(page.locator("#run-diff .del")).to_contain_text("-    return a - b")
        expect(page.locator("#run-head")).to_contain_text("succeeded")
        expect(page.locator("#run-steps li").first).to_be_visible()
        page.locator("#run-diff").scroll_into_view_if_needed()
        shot = tmp_path / "webui.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shot.stat().st_size > 10_000
    (REPO / "docs" / "img").mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, REPO / "docs" / "img" / "webui.png")
