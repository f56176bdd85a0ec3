"""Wire details of both APIs over real HTTP, with a scripted engine that records what reached it."""

from __future__ import annotations

import json

import httpx

from tanuki_ollama.engines.scripted import ScriptedEngine

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
ASK = [{"role": "user", "content": "weather in Paris?"}]


def ndjson(r: httpx.Response) -> list[dict]:
    return [json.loads(line) for line in r.text.splitlines() if line]


def test_textual_tool_calls_become_tool_calls(serve):
    engine = ScriptedEngine(['<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
                             '{"name": "get_weather", "arguments": {"city": "Rome"}}',
                             '{"name": "unknown", "arguments": {}}', "plain words"], models=["m"])
    url = serve(engine)
    streamed = ndjson(httpx.post(f"{url}/api/chat", json={"model": "m", "messages": ASK, "tools": [WEATHER]}))
    assert streamed[-1]["message"]["tool_calls"] == [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]
    assert "".join(c["message"]["content"] for c in streamed) == ""
    whole = httpx.post(f"{url}/api/chat", json={"model": "m", "messages": ASK, "tools": [WEATHER], "stream": False}).json()
    assert whole["message"]["tool_calls"][0]["function"]["arguments"] == {"city": "Rome"}
    other = ndjson(httpx.post(f"{url}/api/chat", json={"model": "m", "messages": ASK, "tools": [WEATHER]}))
    assert "unknown" in "".join(c["message"]["content"] for c in other)  # not an offered tool: plain text
    plain = ndjson(httpx.post(f"{url}/api/chat", json={"model": "m", "messages": ASK, "tools": [WEATHER]}))
    assert "".join(c["message"]["content"] for c in plain) == "plain words" and len(plain) >= 3  # still streamed


def test_openai_tool_choice_and_response_format_reach_the_engine(serve):
    engine = ScriptedEngine(['{"name": "get_weather", "arguments": {"city": "Paris"}}', '{"a": 1}', "x"],
                            models=["m"])
    url = serve(engine)
    body = {"model": "m", "messages": ASK, "tools": [WEATHER],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}
    r = httpx.post(f"{url}/v1/chat/completions", json=body).json()
    assert r["choices"][0]["finish_reason"] == "tool_calls"
    assert json.loads(r["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
    assert engine.calls[0]["format"]["properties"]["name"] == {"const": "get_weather"}
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    httpx.post(f"{url}/v1/chat/completions", json={"model": "m", "messages": ASK, "max_tokens": 5, "seed": 3,
                                                   "response_format": {"type": "json_schema",
                                                                       "json_schema": {"name": "s", "schema": schema}}})
    assert engine.calls[1]["format"] == schema and engine.calls[1]["options"] == {"num_predict": 5, "seed": 3}
    httpx.post(f"{url}/v1/chat/completions", json=body | {"tool_choice": "none"})
    assert engine.calls[2]["tools"] is None


def test_generate_show_and_errors(serve):
    engine = ScriptedEngine(["    return a + b"], models=["coder"])
    url = serve(engine)
    r = httpx.post(f"{url}/api/generate", json={"model": "coder", "prompt": "def add(a, b):\n", "suffix": "\n\nprint(add(1, 2))",
                                                "stream": False, "options": {"num_predict": 16}})
    assert r.json()["response"] == "    return a + b" and r.json()["done"]
    assert engine.calls[0]["suffix"] == "\n\nprint(add(1, 2))" and engine.calls[0]["options"] == {"num_predict": 16}
    show = httpx.post(f"{url}/api/show", json={"name": "coder"}).json()  # older clients send `name`
    assert show["capabilities"] == ["completion", "tools"] and show["model_info"]["unknown.context_length"] == 8192
    assert httpx.post(f"{url}/api/show", json={"model": "tanuki"}).json()["details"]["family"] == "tanuki-team"
    missing = httpx.post(f"{url}/api/chat", json={"model": "nope", "messages": ASK})
    assert missing.status_code == 404 and "nope" in missing.json()["error"]
    bad = httpx.post(f"{url}/api/chat", json={"model": "coder", "messages": ASK, "format": "yaml"})
    assert bad.status_code == 400
    assert httpx.post(f"{url}/api/chat", json={"messages": ASK}).status_code == 400
    assert httpx.get(f"{url}/", headers={"Accept": "text/html"}).text.startswith("<!doctype html>")
    assert httpx.head(f"{url}/").status_code == 200
    assert httpx.get(f"{url}/readyz").json() == {"ready": True, "draining": False, "store": True, "engine": True}


def test_bodies_are_json_whatever_the_content_type_says(serve):
    """`curl -d '{...}'` (form content type), as Ollama's docs write it, and a body with no content type at all."""
    url = serve(ScriptedEngine(["one", "two", "three"], models=["m"]))
    body = json.dumps({"model": "m", "messages": ASK, "stream": False})
    form = httpx.post(f"{url}/api/chat", content=body,
                      headers={"content-type": "application/x-www-form-urlencoded"})
    assert form.status_code == 200 and form.json()["message"]["content"] == "one"
    bare = httpx.post(f"{url}/v1/chat/completions", content=body, headers={"content-type": ""})
    assert bare.status_code == 200 and bare.json()["choices"][0]["message"]["content"] == "two"
    bad = httpx.post(f"{url}/api/chat", content=b"model=m", headers={"content-type": "application/x-www-form-urlencoded"})
    assert bad.status_code in (400, 422) and "invalid" in bad.text.lower()
