"""Keys, scopes, rate limits, size limits, CORS and the loopback rule, over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from tanuki_ollama.cli.main import main
from tanuki_ollama.errors import ConfigError
from tanuki_ollama.server.config import ServeConfig
from tanuki_ollama.server.store import RateLimit

from .helpers import PacedEngine

CHAT = {"model": "paced", "messages": [{"role": "user", "content": "hi"}], "stream": False}


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_keys_and_scopes(serve, store):
    url = serve(PacedEngine(delay_s=0), auth=True)
    _, chat_key = store.create_key("editor", ["chat"])
    _, models_key = store.create_key("lister", ["models"])
    _, admin_key = store.create_key("ops", ["admin"])

    assert httpx.post(f"{url}/api/chat", json=CHAT).status_code == 401
    assert httpx.post(f"{url}/api/chat", json=CHAT, headers=bearer("tk_000000000000_nope")).status_code == 401
    ok = httpx.post(f"{url}/api/chat", json=CHAT, headers=bearer(chat_key))
    assert ok.status_code == 200 and ok.json()["message"]["content"] == "one two three"

    assert httpx.get(f"{url}/v1/models", headers=bearer(chat_key)).status_code == 403
    listed = httpx.get(f"{url}/v1/models", headers=bearer(models_key))
    assert listed.status_code == 200 and {"tanuki", "paced"} <= {m["id"] for m in listed.json()["data"]}
    assert httpx.post(f"{url}/api/chat", json=CHAT, headers=bearer(models_key)).status_code == 403
    team = httpx.post(f"{url}/api/chat", json=CHAT | {"model": "tanuki"}, headers=bearer(chat_key))
    assert team.status_code == 403 and "tools" in team.json()["error"]  # team runs need the tools scope
    assert httpx.get(f"{url}/metrics", headers=bearer(chat_key)).status_code == 403
    metrics = httpx.get(f"{url}/metrics", headers=bearer(admin_key))
    assert metrics.status_code == 200 and 'tanuki_requests_total{method="POST",route="/api/chat",status="200"}' in metrics.text
    # probes stay public
    assert httpx.get(f"{url}/healthz").status_code == 200
    assert httpx.get(f"{url}/api/version").json()["version"] == "0.32.15"


def test_revocation_reaches_every_replica(serve, store):
    engine = PacedEngine(delay_s=0)
    a, b = serve(engine, auth=True), serve(engine, auth=True)  # two replicas, one store
    key, secret = store.create_key("temp", ["chat"])
    assert httpx.post(f"{a}/api/chat", json=CHAT, headers=bearer(secret)).status_code == 200
    store.revoke_key(key.id)
    r = httpx.post(f"{b}/api/chat", json=CHAT, headers=bearer(secret))
    assert r.status_code == 401 and "revoked" in r.json()["error"]


def test_openai_errors_have_openai_shape(serve, store):
    url = serve(PacedEngine(delay_s=0), auth=True)
    r = httpx.post(f"{url}/v1/chat/completions", json={"model": "paced", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 401 and r.json()["error"]["type"] == "invalid_request_error"


def test_request_rate_limit_is_shared_by_replicas(serve, store):
    engine = PacedEngine(delay_s=0)
    limit = RateLimit(window_s=1e9, requests=4, tokens=0)
    a, b = serve(engine, auth=True, rate_limit=limit), serve(engine, auth=True, rate_limit=limit)
    _, secret = store.create_key("burst", ["chat"])
    codes = [httpx.post(f"{u}/api/chat", json=CHAT, headers=bearer(secret)) for u in (a, b, a, b, a, b)]
    assert [r.status_code for r in codes] == [200, 200, 200, 200, 429, 429]
    assert all(int(r.headers["Retry-After"]) >= 1 for r in codes[4:])
    _, other = store.create_key("other", ["chat"])
    assert httpx.post(f"{a}/api/chat", json=CHAT, headers=bearer(other)).status_code == 200


def test_token_rate_limit(serve, store):
    url = serve(PacedEngine(delay_s=0), auth=True, rate_limit=RateLimit(window_s=1e9, requests=0, tokens=40))
    _, secret = store.create_key("tokens", ["chat"])
    long = {"model": "paced", "stream": False, "messages": [{"role": "user", "content": "x" * 400}]}
    r = httpx.post(f"{url}/api/chat", json=long, headers=bearer(secret))
    assert r.status_code == 429 and "token" in r.json()["error"] and "Retry-After" in r.headers
    assert httpx.post(f"{url}/api/chat", json=CHAT, headers=bearer(secret)).status_code == 200


def test_body_size_limit(serve):
    url = serve(PacedEngine(delay_s=0), max_body_bytes=2048)
    big = {"model": "paced", "messages": [{"role": "user", "content": "x" * 4096}]}
    assert httpx.post(f"{url}/api/chat", json=big).status_code == 413

    def chunked():  # no Content-Length: counted while read
        for _ in range(8):
            yield b" " * 1024

    assert httpx.post(f"{url}/api/chat", content=chunked(), headers={"content-type": "application/json"}).status_code == 413
    assert httpx.post(f"{url}/api/chat", json=CHAT).status_code == 200


def test_cors_is_off_by_default(serve):
    preflight = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    off = serve(PacedEngine(delay_s=0))
    r = httpx.options(f"{off}/api/chat", headers=preflight)
    assert "access-control-allow-origin" not in r.headers
    assert "access-control-allow-origin" not in httpx.get(f"{off}/api/tags", headers={"Origin": "https://evil.example"}).headers
    on = serve(PacedEngine(delay_s=0), cors_origins=["https://ide.example"])
    ok = httpx.options(f"{on}/api/chat", headers=preflight | {"Origin": "https://ide.example"})
    assert ok.headers["access-control-allow-origin"] == "https://ide.example"
    assert "access-control-allow-origin" not in httpx.options(f"{on}/api/chat", headers=preflight).headers


def test_non_loopback_without_auth_is_refused(capsys):
    with pytest.raises(ConfigError, match="refusing to listen on 0.0.0.0"):
        ServeConfig(host="0.0.0.0", auth=False).check_binding()
    assert ServeConfig(host="0.0.0.0").auth_required()  # default elsewhere: keys required
    assert not ServeConfig(host="127.0.0.1").auth_required()
    assert main(["serve", "--host", "0.0.0.0", "--no-auth", "--engine", "scripted"]) == 1
    err = " ".join(capsys.readouterr().err.split())  # rich wraps lines
    assert "refusing to listen" in err and "tanuki keys create" in err


def test_keys_cli(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'k.db'}"
    assert main(["keys", "create", "laptop", "--scope", "chat", "--store", url, "--json"]) == 0
    import json

    created = json.loads(capsys.readouterr().out)
    assert created["secret"].startswith("tk_") and created["scopes"] == ["chat"]
    assert main(["keys", "list", "--store", url, "--json"]) == 0
    listed = capsys.readouterr().out
    assert created["id"] in listed and created["secret"] not in listed
    assert main(["keys", "revoke", created["id"], "--store", url]) == 0
    assert main(["keys", "revoke", created["id"], "--store", url]) == 1


def test_official_clients_send_keys(serve, store):
    import ollama
    import openai

    url = serve(PacedEngine(delay_s=0), auth=True)
    _, secret = store.create_key("clients", ["models", "chat"])
    names = {m.model for m in ollama.Client(host=url, headers={"Authorization": f"Bearer {secret}"}).list().models}
    assert "paced:latest" in names
    with pytest.raises(ollama.ResponseError) as denied:
        ollama.Client(host=url).list()
    assert denied.value.status_code == 401
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=secret, max_retries=0)
    assert "paced" in {m.id for m in client.models.list()}
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{url}/v1", api_key="tk_000000000000_wrong", max_retries=0).models.list()


def test_without_keys_only_loopback_host_names_are_answered(serve):
    """DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1 sends Host: evil.example."""
    import httpx

    from tanuki_ollama.engines.scripted import ScriptedEngine

    url = serve(ScriptedEngine(["hi"], models=["m"]))
    port = url.rsplit(":", 1)[1]
    assert httpx.get(f"{url}/api/tags").status_code == 200
    assert httpx.get(f"{url}/api/tags", headers={"host": f"localhost:{port}"}).status_code == 200
    rebound = httpx.get(f"{url}/api/tags", headers={"host": f"evil.example:{port}"})
    assert rebound.status_code == 421 and "--auth" in rebound.json()["hint"]
