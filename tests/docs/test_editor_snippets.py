"""The editor config snippets of docs/guides/editors/*.md, taken from the pages themselves: their shape (Continue's
own JSON schema; Zed's documented keys), then the HTTP calls each editor makes with those settings, against a
real ``tanuki serve`` over the session's Ollama and the micro model.

What the editors send is taken from their sources: Continue's Ollama provider (core/llm/llms/Ollama.ts: ``POST
/api/show {"name"}`` at start-up, parsing ``parameters`` line by line and looking for ``.Suffix`` in the template;
``POST /api/chat`` with ``options.num_ctx``/``num_predict`` and ``keep_alive: 1800``), its OpenAI provider
(``POST {apiBase}/chat/completions``, SSE), and Zed's Ollama crate (crates/ollama/src/ollama.rs: ``GET /api/tags``
parsed into name/modified_at/size/digest/details, ``POST /api/show {"model"}`` for ``capabilities``, ``POST
/api/chat`` with ``keep_alive``, ``options.num_ctx = max_tokens``, ``tools: []`` and ``think: null``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import jsonschema
import pytest
import yaml

from tanuki_ollama.server.app import create_app
from tanuki_ollama.server.config import ServeConfig
from tanuki_ollama.server.runner import BackgroundServer
from tanuki_ollama.server.store import open_store
from tests.docs.doccmd import REPO

pytestmark = [pytest.mark.slow, pytest.mark.ollama]

EDITORS = REPO / "docs" / "guides" / "editors"
# Generated from Continue's own zod schema: npm @continuedev/config-yaml@1.42.0, its dist/scripts/generateJsonSchema.js
# (with zod-to-json-schema 3.24.5); regenerate the same way when Continue's config format changes.
CONTINUE_SCHEMA = Path(__file__).parent / "data" / "continue-config-yaml-schema.json"
SNIPPET = re.compile(r"<!--\s*snippet:\s*(?P<name>[\w-]+)\s*-->\s*\n```(?P<lang>\w+)\n(?P<body>.*?)\n```", re.DOTALL)
# Continue parses each line of /api/show's `parameters` with this expression and fails on lines it does not match.
CONTINUE_PARAM_LINE = re.compile(r'^(\S+)\s+((?:".*")|\S+)$')
DOC_HOSTS = {("127.0.0.1", 11435), ("localhost", 11435)}
NUM_PREDICT = 8  # the tests cap generation; the snippets' maxTokens are for real use
PROMPT = [{"role": "user", "content": "Say hello."}]


def snippet(page: str, name: str) -> str:
    text = (EDITORS / page).read_text(encoding="utf-8")
    found = [m for m in SNIPPET.finditer(text) if m.group("name") == name]
    assert len(found) == 1, f"{page}: expected one `<!-- snippet: {name} -->` block, found {len(found)}"
    return found[0].group("body")


def rebase(doc_url: str, served: str) -> str:
    """The documented URL with the test server's address (the page documents the default 127.0.0.1:11435)."""
    parts = urlsplit(doc_url)
    assert parts.scheme == "http" and (parts.hostname, parts.port) in DOC_HOSTS, doc_url
    return served.rstrip("/") + parts.path.rstrip("/")


@pytest.fixture(scope="module")
def served(ollama, micro_model, tmp_path_factory) -> str:
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('editors') / 'server.db'}")
    app = create_app(ServeConfig(), ollama, store)
    with BackgroundServer(app) as url:
        yield url


def ndjson(response: httpx.Response) -> list[dict]:
    return [json.loads(line) for line in response.iter_lines() if line.strip()]


# ---------------------------------------------------------------------------------------------- Continue
def continue_config(name: str) -> dict:
    config = yaml.safe_load(snippet("continue.md", name))
    schema = json.loads(CONTINUE_SCHEMA.read_text())
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in jsonschema.Draft7Validator(schema).iter_errors(config)]
    assert not errors, errors
    return config


def test_continue_snippets_match_continues_schema():
    for name in ("continue-ollama", "continue-openai"):
        config = continue_config(name)
        assert config["schema"] == "v1" and config["models"]
    broken = continue_config("continue-ollama")
    broken["models"][0]["contextLenght"] = 8192  # a typo must not pass: the schema forbids unknown keys
    schema = json.loads(CONTINUE_SCHEMA.read_text())
    assert list(jsonschema.Draft7Validator(schema).iter_errors(broken))


def test_continue_ollama_provider_calls(served, micro_model):
    models = continue_config("continue-ollama")["models"]
    assert {m["provider"] for m in models} == {"ollama"}
    assert micro_model in {m["model"] for m in models}
    with httpx.Client(timeout=300) as http:
        for entry in models:
            base = rebase(entry["apiBase"], served)
            shown = http.post(f"{base}/api/show", json={"name": entry["model"]})
            assert shown.status_code == 200, shown.text
            body = shown.json()
            for line in filter(None, body.get("parameters", "").split("\n")):
                assert CONTINUE_PARAM_LINE.match(line), f"Continue cannot parse parameter line {line!r}"
            fim = ".Suffix" in (body.get("template") or "")
            roles = entry.get("roles", [])
            assert fim or "autocomplete" not in roles, f"{entry['model']}: autocomplete needs FIM (.Suffix)"
            if entry["model"] == "tanuki":
                continue  # the team: a run per message; see test_continue_team_model_without_workspace
            options = entry.get("defaultCompletionOptions", {})
            request = {"model": entry["model"], "messages": PROMPT, "keep_alive": 1800, "stream": True,
                       "options": {"num_ctx": options.get("contextLength"),
                                   "num_predict": min(options.get("maxTokens", NUM_PREDICT), NUM_PREDICT),
                                   "temperature": options.get("temperature"), "top_p": options.get("topP")}}
            with http.stream("POST", f"{base}/api/chat", json=request) as response:
                assert response.status_code == 200, response.read()
                chunks = ndjson(response)
            assert chunks[-1]["done"] is True and not any(c["done"] for c in chunks[:-1])
            assert all(c["message"]["role"] == "assistant" for c in chunks)
            assert "".join(c["message"]["content"] for c in chunks).strip()


def test_continue_micro_model_has_no_fim(served, micro_model):
    """The page says the micro model's template has no `.Suffix` (so no autocomplete role): keep it true."""
    body = httpx.post(f"{served}/api/show", json={"name": micro_model}, timeout=60).json()
    assert ".Suffix" not in body["template"]
    assert "autocomplete" not in continue_config("continue-ollama")["models"][0]["roles"]


def test_continue_team_model_without_workspace(served):
    """The page's troubleshooting row: the `tanuki` model on a server without --workspace says so."""
    with httpx.stream("POST", f"{served}/api/chat", timeout=60,
                      json={"model": "tanuki", "messages": PROMPT, "stream": True}) as response:
        text = response.read().decode()
    assert "needs a workspace" in text and "--workspace" in text, text


def test_continue_openai_provider_calls(served, micro_model):
    (entry,) = continue_config("continue-openai")["models"]
    assert entry["provider"] == "openai" and entry["model"] == micro_model
    base = rebase(entry["apiBase"], served)
    assert base.endswith("/v1")
    request = {"model": entry["model"], "messages": PROMPT, "stream": True,
               "max_tokens": min(entry["defaultCompletionOptions"]["maxTokens"], NUM_PREDICT)}
    with httpx.stream("POST", f"{base}/chat/completions", json=request, timeout=300) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        data = [line[len("data: "):] for line in response.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]).strip()


# ---------------------------------------------------------------------------------------------- Zed
ZED_MODEL_KEYS = {"name": str, "display_name": str, "max_tokens": int, "keep_alive": (int, str),
                  "supports_tools": bool, "supports_images": bool, "supports_thinking": bool}
ZED_OLLAMA_KEYS = {"api_url": str, "auto_discover": bool, "available_models": list}


def zed_settings() -> dict:
    settings = json.loads(snippet("zed.md", "zed-ollama"))
    assert set(settings) == {"language_models"} and set(settings["language_models"]) == {"ollama"}
    ollama = settings["language_models"]["ollama"]
    assert set(ollama) <= set(ZED_OLLAMA_KEYS), set(ollama) - set(ZED_OLLAMA_KEYS)
    for key, kind in ZED_OLLAMA_KEYS.items():
        assert key not in ollama or isinstance(ollama[key], kind), key
    for model in ollama.get("available_models", []):
        assert {"name", "max_tokens"} <= set(model) <= set(ZED_MODEL_KEYS), model
        assert all(isinstance(model[k], ZED_MODEL_KEYS[k]) for k in model), model
        assert model["max_tokens"] > 0
    return ollama


def test_zed_settings_shape():
    assert zed_settings()["available_models"]


def test_zed_ollama_provider_calls(served, micro_model):
    settings = zed_settings()
    base = rebase(settings["api_url"], served)
    with httpx.Client(timeout=300) as http:
        tags = http.get(f"{base}/api/tags", headers={"Accept": "application/json"})
        assert tags.status_code == 200
        listed = set()
        for model in tags.json()["models"]:  # Zed's LocalModelListing: every field is required
            assert isinstance(model["name"], str) and isinstance(model["modified_at"], str)
            assert isinstance(model["size"], int) and model["size"] >= 0 and isinstance(model["digest"], str)
            details = model["details"]
            assert all(isinstance(details[k], str) for k in ("format", "family", "parameter_size",
                                                             "quantization_level"))
            assert details.get("families") is None or isinstance(details["families"], list)
            listed |= {model["name"], model["name"].removesuffix(":latest")}
        for model in settings["available_models"]:
            assert model["name"] in listed, f"{model['name']} is not in /api/tags"
            shown = http.post(f"{base}/api/show", json={"model": model["name"]})
            assert shown.status_code == 200 and isinstance(shown.json()["capabilities"], list)
            if model.get("supports_tools"):
                assert "tools" in shown.json()["capabilities"]
            if model["name"] == "tanuki":
                continue  # the team: see test_continue_team_model_without_workspace
            request = {"model": model["name"], "messages": PROMPT, "stream": True,
                       "keep_alive": model.get("keep_alive", -1), "tools": [], "think": None,
                       "options": {"num_ctx": model["max_tokens"], "num_predict": NUM_PREDICT,
                                   "stop": None, "temperature": None, "top_p": None}}
            with http.stream("POST", f"{base}/api/chat", json=request) as response:
                assert response.status_code == 200, response.read()
                chunks = ndjson(response)
            for chunk in chunks:  # Zed's ChatResponseDelta
                assert isinstance(chunk["model"], str) and isinstance(chunk["created_at"], str)
                assert chunk["message"]["role"] == "assistant" and isinstance(chunk["message"]["content"], str)
                assert isinstance(chunk["done"], bool)
            assert chunks[-1]["done"] and "".join(c["message"]["content"] for c in chunks).strip()
