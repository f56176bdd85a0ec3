"""Registration strategy ``engine``: `tanuki factory build|register --strategy engine` writes the family manifest,
and ``create_engine("hotswap", family=...)`` starts the hot-swap engine from it (what `tanuki serve --engine
hotswap` calls)."""

from __future__ import annotations

import json
import shutil
import sysconfig
from pathlib import Path

import pytest
from click.testing import CliRunner

from tanuki_ollama.cli.main import cli
from tanuki_ollama.engines import create_engine
from tanuki_ollama.errors import ModelNotFound
from tanuki_ollama.types import Message

FAMILY = "tanuki-tiny-llama"


def test_unregistered_family_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TANUKI_HOME", str(tmp_path))
    with pytest.raises(ModelNotFound) as err:
        create_engine("hotswap", family="tanuki-nope")
    assert "tanuki factory register --strategy engine" in err.value.hint
    assert "tanuki-nope" in err.value.message


@pytest.mark.ollama
def test_engine_registration_equals_adapter_registration(ollama, tiny_llama, tmp_path, monkeypatch):
    """The same artifacts registered both ways: the engine (from its manifest) answers exactly as Ollama with
    the Modelfile of strategy `adapter` (same TEMPLATE, SYSTEM, PARAMETERs, FROM base + ADAPTER)."""
    from tanuki_ollama.agents.prompts import render_system_prompt
    from tanuki_ollama.agents.roster import load_roster
    from tanuki_ollama.factory.modelfile import CHATML_STOPS, builtin_template
    from tanuki_ollama.factory.register import AgentArtifact, register_family

    monkeypatch.setenv("TANUKI_HOME", str(tmp_path))
    arts = [AgentArtifact(load_roster().get("tanuki-coder"), lora_gguf=tiny_llama.lora)]
    common = {"prefix": "tanuki-tinyreg-", "base_gguf": tiny_llama.q4_k_m, "artifacts": arts,
              "template": builtin_template("chatml"), "stops": tuple(CHATML_STOPS),
              "render_system": render_system_prompt}
    reg = register_family(None, **common, modelfiles_dir=tmp_path / "engine", strategy="engine")
    assert list(reg) == ["tanuki-tinyreg-coder"] and reg["tanuki-tinyreg-coder"]["strategy"] == "engine"
    register_family(ollama, **common, modelfiles_dir=tmp_path / "adapter", strategy="adapter")
    msgs = [Message(role="user", content="def fib(n):")]
    opts = {"temperature": 0, "top_k": 1, "num_predict": 12}
    with create_engine("hotswap", family="tanuki-tinyreg", parallel=1) as eng:
        got = eng.chat("tanuki-tinyreg-coder", msgs, options=opts)
    want = ollama.chat("tanuki-tinyreg-coder", msgs, options=opts)
    assert got.message.content == want.message.content
    assert got.usage.prompt_tokens == want.usage.prompt_tokens  # the SYSTEM prompt and template are the same


@pytest.fixture(scope="module")
def engine_family(tmp_path_factory):
    """`tanuki factory build --strategy engine` on the tiny llama fixture: one agent, a small local corpus."""
    home = tmp_path_factory.mktemp("home")
    corpus = tmp_path_factory.mktemp("corpus")
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for name in ("colorsys",):
        shutil.copy(stdlib / f"{name}.py", corpus)
    env = {"TANUKI_HOME": str(home)}
    args = ["factory", "build", "--backbone", "tiny-llama", "--recipe", "tiny-ci", "--agents", "coder",
            "--per-agent", "8", "--source", str(corpus), "--strategy", "engine", "--name", "engine-fam", "--json"]
    res = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    manifest = json.loads(res.stdout[res.stdout.rindex("\n{\n") + 1:])  # after the progress bars
    return home, env, manifest


@pytest.mark.slow
def test_factory_build_strategy_engine_writes_the_manifest(engine_family):
    home, _, built = engine_family
    reg = built["stages"]["register"]["result"]
    assert reg["strategy"] == "engine" and reg["models"] == [f"{FAMILY}-coder"]
    data = json.loads((home / "engines" / f"{FAMILY}.json").read_text())
    agent = data["agents"][f"{FAMILY}-coder"]
    assert Path(data["base"]) == Path(built["stages"]["base"]["result"]["gguf"]).resolve()
    assert Path(agent["lora"]) == Path(built["stages"]["export"]["result"]["tanuki-coder"]).resolve()
    assert agent["template"] == "chatml" and "<|im_end|>" in agent["parameters"]["stop"]
    assert agent["system"].startswith("You are tanuki-")


@pytest.mark.slow
def test_engine_starts_from_the_family_and_answers(engine_family, monkeypatch):
    from tanuki_ollama.engines.hotswap import AgentModel, HotSwapEngine

    home, _, _ = engine_family
    monkeypatch.setenv("TANUKI_HOME", str(home))
    data = json.loads((home / "engines" / f"{FAMILY}.json").read_text())
    model = f"{FAMILY}-coder"
    msgs = [Message(role="user", content="def add(a, b):")]
    opts = {"temperature": 0, "num_predict": 8}
    with create_engine("hotswap", family=FAMILY, parallel=1) as eng:
        assert eng.family == FAMILY and [m.name for m in eng.list_models()] == [model]
        got = eng.chat(model, msgs, options=opts)
    assert got.usage.completion_tokens > 0
    spec = data["agents"][model]
    # the same agent spelled out by hand (no manifest) answers the same: the manifest carries everything
    with HotSwapEngine(data["base"], {model: AgentModel(model, Path(spec["lora"]), spec["system"],
                                                        spec["parameters"])}, ctx=data["ctx"], parallel=1) as eng:
        assert eng.chat(model, msgs, options=opts).message.content == got.message.content


@pytest.mark.slow
def test_factory_register_strategy_engine_cli(engine_family):
    home, env, _ = engine_family
    path = home / "engines" / f"{FAMILY}.json"
    path.unlink()
    args = ["factory", "register", "--backbone", "tiny-llama", "--recipe", "tiny-ci", "--agents", "coder",
            "--per-agent", "8", "--strategy", "engine", "--name", "engine-fam"]
    res = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert f"registered (engine): {FAMILY}-coder" in res.output
    assert json.loads(path.read_text())["family"] == FAMILY
