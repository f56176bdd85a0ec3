"""The model factory's real code path on the tiny fixtures of both architectures: synthesis from a local corpus,
LoRA training, LoRA GGUF export, HF-vs-GGUF parity on llama.cpp, registration in the real Ollama."""

from __future__ import annotations

import json
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

from tanuki_ollama.agents.roster import load_roster
from tanuki_ollama.errors import ConfigError, TanukiError
from tanuki_ollama.factory.backbones import resolve_backbone
from tanuki_ollama.factory.family import Family, FamilyPlan
from tanuki_ollama.factory.recipe import load_recipe
from tanuki_ollama.factory.train import train_adapter
from tanuki_ollama.types import Message

pytestmark = pytest.mark.slow
AGENTS = ["tanuki-coder", "tanuki-debugger"]


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for name in ("textwrap", "heapq", "bisect", "colorsys", "fnmatch", "shlex", "glob", "calendar"):
        shutil.copy(stdlib / f"{name}.py", root)
    return root


@pytest.fixture(scope="session")
def dataset(corpus, tmp_path_factory) -> Path:
    from tanuki_ollama.factory.data.synth import SynthConfig, synthesize

    res = synthesize(SynthConfig(agents=AGENTS, per_agent=24, sources=[str(corpus)]),
                     out=tmp_path_factory.mktemp("datasets"), progress=False)
    return res.path


@pytest.fixture(scope="session", params=["tiny-mistral3", "tiny-llama"])
def built_family(request, dataset, ollama, tmp_path_factory):
    plan = FamilyPlan(name=request.param, backbone=request.param, recipe=load_recipe("tiny-ci"), agents=AGENTS,
                      dataset=dataset, root=tmp_path_factory.mktemp(request.param))
    return Family(plan, engine=ollama).build()


def test_family_builds_end_to_end(built_family):
    stages = built_family["stages"]
    assert list(stages) == ["backbone", "synth", "base", "train", "export", "parity", "register"]
    assert "template parity ok" in stages["base"]["result"]["template_parity"]
    for agent in AGENTS:
        tr = stages["train"]["result"][agent]
        assert tr["eval_loss_adapter"] <= tr["eval_loss_base"] + 0.5
        par = stages["parity"]["result"][agent]
        assert par["token_agreement"] == 1.0 and par["max_logprob_diff"] < 0.05
    reg = stages["register"]["result"]
    assert reg["strategy"] == "adapter"
    assert reg["models"] == sorted(f"tanuki-{built_family['backbone']}-{a.split('-', 1)[1]}" for a in AGENTS)


def test_registered_agents_answer_through_ollama(built_family, ollama):
    model = built_family["stages"]["register"]["result"]["models"][0]
    res = ollama.chat(model, [Message(role="user", content="write add(a, b)")],
                      options={"temperature": 0, "num_predict": 8})
    assert res.usage.completion_tokens > 0
    shown = ollama.raw_request("POST", "/api/show", {"model": model})
    assert "ADAPTER" in shown["modelfile"] and "You are tanuki-" in shown["modelfile"]


def test_modelfiles_are_written(built_family):
    fam_dir = Path(built_family["stages"]["export"]["result"][AGENTS[0]]).parents[1]
    files = sorted(p.name for p in (fam_dir / "modelfiles").glob("*.Modelfile"))
    assert files == [f"{m}.Modelfile" for m in built_family["stages"]["register"]["result"]["models"]]
    text = (fam_dir / "modelfiles" / files[0]).read_text()
    assert text.startswith("FROM ") and "\nADAPTER " in text and "PARAMETER num_ctx" in text


def test_rebuild_resumes_without_redoing_work(built_family, dataset, ollama, tmp_path_factory):
    fam_dir = Path(built_family["stages"]["export"]["result"][AGENTS[0]]).parents[1]
    plan = FamilyPlan(name=built_family["name"], backbone=built_family["backbone"], recipe=load_recipe("tiny-ci"),
                      agents=AGENTS, dataset=dataset, root=fam_dir)
    again = Family(plan, engine=ollama).build()
    assert all(v.get("skipped") for v in again["stages"]["train"]["result"].values())


def test_interrupted_training_resumes_from_its_checkpoint(dataset, tmp_path, monkeypatch):
    import trl
    from transformers import TrainerCallback

    from tanuki_ollama.factory.data import load_dataset_split

    backbone = resolve_backbone("tiny-llama")
    recipe = load_recipe("tiny-ci")
    agent = load_roster().get("coder")
    rows = load_dataset_split(dataset, agent.name, "train")
    evals = load_dataset_split(dataset, agent.name, "eval")

    class Boom(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == recipe.save_every + 1:
                raise KeyboardInterrupt

    class Interrupting(trl.SFTTrainer):  # a run killed mid-way, right after its first checkpoint
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.add_callback(Boom())

    with monkeypatch.context() as m:
        m.setattr(trl, "SFTTrainer", Interrupting)
        with pytest.raises(KeyboardInterrupt):
            train_adapter(backbone=backbone, recipe=recipe, agent=agent, train_rows=rows, eval_rows=evals,
                          out_dir=tmp_path)
    assert (tmp_path / "checkpoints" / f"checkpoint-{recipe.save_every}").is_dir()
    report = train_adapter(backbone=backbone, recipe=recipe, agent=agent, train_rows=rows, eval_rows=evals,
                           out_dir=tmp_path)
    assert report.resumed_from and report.resumed_from.endswith(f"checkpoint-{recipe.save_every}")
    assert report.steps == recipe.max_steps and (tmp_path / "adapter" / "adapter_config.json").is_file()
    assert (tmp_path / "loss.png").stat().st_size > 1000
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["eval_loss_base"] == report.eval_loss_base


def test_tokenizer_without_chat_template_is_refused(tmp_path):
    tiny = resolve_backbone("tiny-llama")
    hf = tmp_path / "hf"
    shutil.copytree(tiny.hf_dir, hf)
    (hf / "chat_template.jinja").unlink()
    cfg = json.loads((hf / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (hf / "tokenizer_config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match="chat template"):
        resolve_backbone(f"hf:{hf}")


def test_unknown_recipe_key_is_refused(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nbackbone: micro\nlearning_rat: 0.1\n")
    with pytest.raises(ConfigError, match="learning_rat"):
        load_recipe(bad)


def test_full_disk_is_a_clear_error_and_loses_nothing(dataset, tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        keep = mnt / "keep.txt"
        keep.write_text("earlier stage output")
        plan = FamilyPlan(name="full", backbone="tiny-llama", recipe=load_recipe("tiny-ci"), agents=AGENTS[:1],
                          dataset=dataset, root=mnt, register=False)
        with pytest.raises(TanukiError) as err:
            Family(plan).build()
        assert "disk filled up" in err.value.message and "rerun" in err.value.hint
        assert keep.read_text() == "earlier stage output"
    finally:
        subprocess.run(["umount", str(mnt)])


def test_qlora_backbone_then_adapter(dataset, tmp_path):
    """bitsandbytes nf4 QLoRA on the backbone, merged, exported and checked, then an adapter on top of it."""
    plan = FamilyPlan(name="qlora", backbone="tiny-llama", recipe=load_recipe("tiny-qlora"), agents=AGENTS[:1],
                      dataset=dataset, root=tmp_path, register=False, train_backbone=True)
    manifest = Family(plan).build()
    assert "train-backbone" in manifest["stages"] and (tmp_path / "backbone-hf" / "config.json").is_file()
    assert (tmp_path / "runs" / "backbone" / "report.json").is_file()
    assert manifest["stages"]["parity"]["result"]["base"]["token_agreement"] == 1.0
    assert manifest["stages"]["parity"]["result"][AGENTS[0]]["max_logprob_diff"] < 0.05
