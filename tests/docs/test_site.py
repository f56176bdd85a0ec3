"""The documentation site: it builds offline with warnings as errors, every page is in the nav, and the
generated references (CLI, HTTP API, docs/openapi.json) are what the code generates now; the scopes the HTTP
reference states are the ones the server enforces."""

from __future__ import annotations

import doctest
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tanuki_ollama import docs_gen

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _nav_pages(items) -> list[str]:
    pages = []
    for item in items:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


def test_docs_gen_doctests():
    result = doctest.testmod(docs_gen)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("name", ["openapi.json", "reference/cli.md", "reference/http-api.md"])
def test_generated_reference_is_current(name):
    path = DOCS / name
    render = docs_gen.generated_files(ROOT)[path]
    assert path.is_file() and path.read_text() == render(), (
        f"docs/{name} is stale: run `{docs_gen.REGENERATE}` to regenerate it")


def test_cli_reference_covers_every_command_and_option():
    from tanuki_ollama.cli.main import cli

    text = (DOCS / "reference" / "cli.md").read_text()
    commands = list(docs_gen.walk_commands(cli))
    assert len(commands) > 20
    for doc in commands:
        assert f"\n{'#' * min(len(doc.path) + 1, 6)} {doc.name}\n" in text, f"{doc.name} has no section"
        for param in doc.command.get_params(doc.ctx):
            for opt in param.opts:
                if opt.startswith("-"):
                    assert opt in text, f"{doc.name}: {opt} is missing"


def test_every_page_is_in_the_nav_and_every_nav_entry_exists():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    nav = _nav_pages(config["nav"])
    pages = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    assert [p for p in pages if p not in nav] == [], "add these pages to the nav of mkdocs.yml"
    assert [p for p in nav if p not in pages] == [], "the nav of mkdocs.yml names pages that do not exist"
    assert config["strict"] is True and config["docs_dir"] == "docs"


def _no_network() -> list[str]:
    """``unshare -rn`` (a network namespace with no interfaces) where the kernel allows it, else nothing."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-rn", "true"], capture_output=True, check=False).returncode == 0:
        return [unshare, "-rn"]
    return []


def test_site_builds_strict_and_offline(tmp_path):
    """``mkdocs build --strict``: any warning (broken link or anchor, page missing from the nav, docstring the
    Python handler cannot read) fails. It runs without a network where possible, and its proxies point at a
    closed loopback port, so nothing can be fetched."""
    dead = "http://127.0.0.1:9"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "NO_PROXY": "", "no_proxy": "",
           **{name: dead for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")}}
    site = tmp_path / "site"
    argv = [*_no_network(), sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)]
    proc = subprocess.run(argv, cwd=ROOT, env=env, check=False, capture_output=True, text=True, timeout=300)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert not re.search(r"^WARNING", log, re.MULTILINE), log[-6000:]
    html = {p: p.read_text() for p in site.rglob("*.html")}
    for page in ("index", "architecture", "reference/cli", "reference/http-api", "reference/python/engines"):
        assert site / f"{page}.html" in html, f"{page}.html was not built"
    engines = html[site / "reference/python/engines.html"]
    for symbol in ("create_engine", "ollama.OllamaEngine", "hotswap.HotSwapEngine"):
        assert f'id="tanuki_ollama.engines.{symbol}"' in engines, f"{symbol} is not documented"
    fonts = [p for p, text in html.items() if "fonts.googleapis" in text]
    assert not fonts, "the site must load no web fonts"


# ------------------------------------------------------------------------------------------- scopes, for real

_BODIES = {"/api/chat": {"messages": [{"role": "user", "content": "hi"}]},
           "/v1/chat/completions": {"messages": [{"role": "user", "content": "hi"}]},
           "/api/generate": {"prompt": "hi"}, "/api/embed": {"input": "hi"}, "/api/show": {}}


def _documented_scopes() -> list[tuple[str, str, str]]:
    text = (DOCS / "reference" / "http-api.md").read_text()
    rows = re.findall(r"^\| (GET|POST) \| \[`([^`]+)`\]\([^)]*\) \| [^|]* \| (.+) \|$", text, re.MULTILINE)
    assert rows, "the endpoint table of http-api.md was not found"
    return rows


def test_documented_scopes_are_enforced():
    """Every endpoint, called with a key that lacks the documented scope, answers 403; with a key that has
    exactly that scope it does not refuse the caller (401/403); endpoints documented without a scope need no
    key."""
    from fastapi.testclient import TestClient

    from tanuki_ollama.engines.scripted import ScriptedEngine
    from tanuki_ollama.server.app import create_app
    from tanuki_ollama.server.config import ServeConfig
    from tanuki_ollama.server.store import SCOPES, RateLimit, open_store

    store = open_store("sqlite:///:memory:")
    keys = {s: store.create_key(f"only-{s}", [s])[1] for s in SCOPES}
    engine = ScriptedEngine(["an answer"] * 20, models=["m"])
    app = create_app(ServeConfig(engine="scripted", auth=True, rate_limit=RateLimit(requests=0, tokens=0)),
                     engine, store)
    rows = _documented_scopes()
    assert {path for _, path, _ in rows} >= {"/api/chat", "/api/tags", "/metrics", "/v1/models"}

    with TestClient(app, raise_server_exceptions=False) as client:
        def call(method: str, path: str, scope: str | None, model: str = "m") -> int:
            url = path.replace("{run_id}", "r1").replace("{model_id}", model)
            headers = {"Authorization": f"Bearer {keys[scope]}"} if scope else {}
            if method == "GET":
                return client.get(url, headers=headers).status_code
            body = {"model": model, "stream": False, **_BODIES.get(path, {})}
            return client.post(url, headers=headers, json=body).status_code

        for method, path, documented in rows:
            scopes = re.findall(r"`(\w+)`", documented)
            if documented == "none":
                assert call(method, path, None) not in (401, 403), f"{method} {path} should need no key"
                continue
            needed = scopes[0]
            assert needed in SCOPES, f"{method} {path}: unknown scope {documented}"
            for scope in keys:
                status = call(method, path, scope)
                if scope in (needed, "admin"):  # admin allows everything
                    assert status not in (401, 403), f"{method} {path} refused a `{scope}` key ({status})"
                else:
                    assert status == 403, f"{method} {path} let a `{scope}` key through ({status})"
            if "tanuki" in documented:  # the team model needs `tools`, whatever the route's default scope
                assert call(method, path, "chat", model="tanuki") == 403
                assert call(method, path, "tools", model="tanuki") not in (401, 403)


def test_http_reference_lists_every_operation_of_the_spec():
    spec = json.loads((DOCS / "openapi.json").read_text())
    documented = {(m, p) for m, p, _ in _documented_scopes()}
    operations = {(m.upper(), p) for p, item in spec["paths"].items() for m in item if m in ("get", "post")}
    assert operations == documented
    assert "unknown" not in {s for _, _, s in _documented_scopes()}
