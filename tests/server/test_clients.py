"""The official `ollama` and `openai` Python clients against `tanuki serve` over the real Ollama with the micro
model: a conversation, a streamed conversation, a tool call and a structured-output call, for each client."""

from __future__ import annotations

import json

import jsonschema
import ollama
import openai
import pytest

from tanuki_ollama.server.app import create_app
from tanuki_ollama.server.config import ServeConfig
from tanuki_ollama.server.runner import BackgroundServer
from tanuki_ollama.server.store import open_store

pytestmark = [pytest.mark.slow, pytest.mark.ollama]

OPTS = {"num_predict": 8, "temperature": 0, "seed": 7}
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
PERSON = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["name", "age"]}
CALL = {"type": "object", "required": ["name", "arguments"],
        "properties": {"name": {"const": "get_weather"}, "arguments": WEATHER["function"]["parameters"]}}


@pytest.fixture(scope="module")
def served(ollama, micro_model, tmp_path_factory):
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('serve') / 'server.db'}")
    app = create_app(ServeConfig(), ollama, store)
    with BackgroundServer(app) as url:
        yield url


# ---------------------------------------------------------------------------------------------- ollama client
def test_ollama_client_models_and_conversation(served, micro_model):
    client = ollama.Client(host=served)
    names = {m.model for m in client.list().models}
    assert {"tanuki:latest", f"{micro_model}:latest"} <= names
    shown = client.show(micro_model)
    assert "completion" in shown.capabilities and ".Tools" in shown.template
    assert shown.modelinfo["general.architecture"] == "llama"
    history = [{"role": "user", "content": "Write a Python function that adds two numbers."}]
    first = client.chat(model=micro_model, messages=history, options=OPTS)
    assert first.done and first.message.role == "assistant" and first.message.content.strip()
    assert first.eval_count and first.prompt_eval_count
    history += [{"role": "assistant", "content": first.message.content},
                {"role": "user", "content": "Now name it plus."}]
    second = client.chat(model=micro_model, messages=history, options=OPTS)
    assert second.done and second.message.content.strip()
    assert second.prompt_eval_count > first.prompt_eval_count  # the whole conversation reached the model


def test_ollama_client_streamed_conversation(served, micro_model):
    client = ollama.Client(host=served)
    parts = list(client.chat(model=micro_model, stream=True, options=OPTS,
                             messages=[{"role": "user", "content": "Say hello in one short sentence."}]))
    assert len(parts) >= 3 and parts[-1].done and not any(p.done for p in parts[:-1])
    assert "".join(p.message.content for p in parts).strip()
    assert parts[-1].eval_count == OPTS["num_predict"] or parts[-1].done_reason == "stop"


def test_ollama_client_tool_call(served, micro_model):
    client = ollama.Client(host=served)
    history = [{"role": "user", "content": "What is the weather in Paris?"}]
    r = client.chat(model=micro_model, messages=history, tools=[WEATHER], format=CALL,
                    options=OPTS | {"num_predict": 40})
    assert r.message.tool_calls, r.message.content
    call = r.message.tool_calls[0].function
    assert call.name == "get_weather" and isinstance(call.arguments, dict) and isinstance(call.arguments["city"], str)
    history += [r.message, {"role": "tool", "content": "sunny, 24 C", "tool_name": "get_weather"}]
    answer = client.chat(model=micro_model, messages=history, tools=[WEATHER], options=OPTS | {"num_predict": 4})
    assert answer.message.content.strip() and not answer.message.tool_calls


def test_ollama_client_structured_output(served, micro_model):
    client = ollama.Client(host=served)
    r = client.chat(model=micro_model, format=PERSON, options=OPTS | {"num_predict": 40},
                    messages=[{"role": "user", "content": "Invent a person; answer as JSON with name and age."}])
    jsonschema.validate(json.loads(r.message.content), PERSON)


# ---------------------------------------------------------------------------------------------- openai client
def _openai(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused-on-loopback", max_retries=0, timeout=300)


def test_openai_client_models_and_conversation(served, micro_model):
    client = _openai(served)
    ids = {m.id for m in client.models.list()}
    assert {"tanuki", micro_model} <= ids
    r = client.chat.completions.create(model=micro_model, max_tokens=8, temperature=0, seed=7, messages=[
        {"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is Python?"}])
    choice = r.choices[0]
    assert choice.message.role == "assistant" and choice.message.content.strip()
    assert choice.finish_reason in ("stop", "length") and r.usage.completion_tokens > 0


def test_openai_client_streamed_conversation(served, micro_model):
    client = _openai(served)
    stream = client.chat.completions.create(model=micro_model, max_tokens=8, temperature=0, stream=True,
                                            stream_options={"include_usage": True},
                                            messages=[{"role": "user", "content": "Count to five."}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip() and sum(1 for c in chunks if c.choices and c.choices[0].delta.content) >= 2
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] in ("stop", "length")
    assert chunks[-1].usage.completion_tokens > 0


def test_openai_client_tool_call(served, micro_model):
    client = _openai(served)
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    r = client.chat.completions.create(model=micro_model, max_tokens=40, temperature=0, messages=messages,
                                       tools=[WEATHER],
                                       tool_choice={"type": "function", "function": {"name": "get_weather"}})
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather" and isinstance(json.loads(call.function.arguments)["city"], str)
    messages += [choice.message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "sunny, 24 C"}]
    answer = client.chat.completions.create(model=micro_model, max_tokens=4, temperature=0, messages=messages,
                                            tools=[WEATHER])
    assert answer.choices[0].message.content.strip()


def test_openai_client_structured_output(served, micro_model):
    client = _openai(served)
    r = client.chat.completions.create(
        model=micro_model, max_tokens=40, temperature=0,
        messages=[{"role": "user", "content": "Invent a person; answer as JSON with name and age."}],
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON}})
    jsonschema.validate(json.loads(r.choices[0].message.content), PERSON)


def test_keep_alive_load_and_unload(served, micro_model):  # last: it unloads the model
    client = ollama.Client(host=served)
    assert client.generate(model=micro_model, prompt="", keep_alive=-1).done_reason == "load"
    assert micro_model in {m.model.removesuffix(":latest") for m in client.ps().models}
    assert client.chat(model=micro_model, messages=[], keep_alive=0).done_reason == "unload"
    assert micro_model not in {m.model.removesuffix(":latest") for m in client.ps().models}
