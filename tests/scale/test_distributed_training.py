"""Data-parallel training through `accelerate launch`: 2 CPU processes (gloo) on the tiny llama fixture.

Checked for real: the 2-process adapter equals a 1-process adapter trained on the same data order (same global
batch: per-device 2 x 2 processes = 4 x 1 process), and a checkpoint written by 2 processes resumes with 1 (and one
written by 1 resumes with 2) to the same weights. Dropout is 0 here: with dropout each process draws its own masks,
so runs agree statistically but not bit for bit.

Tolerance: max |a - b| <= 1e-5 + 1e-3 * max |a| over every LoRA tensor (float32; gloo sums gradients in another
order than one process does).
"""

from __future__ import annotations

import json
import shutil
import sysconfig
from pathlib import Path
from types import SimpleNamespace

import pytest

from tanuki_ollama.agents.roster import LoraSpec
from tanuki_ollama.errors import ConfigError
from tanuki_ollama.factory.backbones import resolve_backbone
from tanuki_ollama.factory.distributed import Launch, per_device_batch
from tanuki_ollama.factory.recipe import load_recipe
from tanuki_ollama.factory.train import train_adapter

pytestmark = pytest.mark.slow
ATOL, RTOL = 1e-5, 1e-3
TWO = Launch("accelerate", 2, "ddp")


def _rows(n: int) -> list[dict]:
    """Real code as answers: the first functions of a few stdlib modules (deterministic)."""
    import ast

    rows = []
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for mod in ("textwrap", "heapq", "bisect", "fnmatch", "shlex", "colorsys", "calendar", "glob"):
        src = (stdlib / f"{mod}.py").read_text()
        for node in ast.parse(src).body:
            if isinstance(node, ast.FunctionDef) and len(rows) < n:
                body = ast.get_source_segment(src, node)[:400]
                rows.append({"id": f"{mod}.{node.name}", "messages": [
                    {"role": "user", "content": f"Write `{node.name}` from the {mod} module."},
                    {"role": "assistant", "content": body}]})
    assert len(rows) == n, "not enough stdlib functions for the test data"
    return rows


@pytest.fixture(scope="module")
def setup():
    backbone = resolve_backbone("tiny-llama")
    recipe = load_recipe("tiny-ci").model_copy(update={
        "max_length": 160, "batch_size": 4, "max_steps": 4, "save_every": 2, "max_train_examples": 16,
        "max_eval_examples": 2, "warmup_ratio": 0.0, "regression_tolerance": 100.0, "threads": 1})
    agent = SimpleNamespace(name="tanuki-coder", lora=LoraSpec(rank=4, alpha=8, dropout=0.0))
    rows = _rows(20)
    return backbone, recipe, agent, rows[:16], rows[16:]


def _train(setup, out: Path, launch=None):
    backbone, recipe, agent, train_rows, eval_rows = setup
    return train_adapter(backbone=backbone, recipe=recipe, agent=agent, train_rows=train_rows, eval_rows=eval_rows,
                         out_dir=out, launch=launch)


def _weights(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path / "adapter_model.safetensors"))


def _assert_close(a: Path, b: Path) -> float:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys() and wa
    worst = 0.0
    for k in wa:
        diff = (wa[k] - wb[k]).abs().max().item()
        assert diff <= ATOL + RTOL * wa[k].abs().max().item(), f"{k}: max diff {diff}"
        worst = max(worst, diff)
    return worst


def _truncate_to(run: Path, step: int) -> None:
    """Leave ``run`` as a job killed right after its checkpoint at ``step``."""
    for ckpt in (run / "checkpoints").glob("checkpoint-*"):
        if int(ckpt.name.split("-")[-1]) > step:
            shutil.rmtree(ckpt)
    for name in ("adapter", "DONE", "report.json"):
        p = run / name
        shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def runs(setup, tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    one = _train(setup, root / "one")
    two = _train(setup, root / "two", TWO)
    return root, one, two


def test_two_processes_train_the_same_adapter_as_one(runs):
    root, one, two = runs
    assert one.steps == two.steps == 4 and one.accepted and two.accepted
    assert (root / "two" / "checkpoints" / "checkpoint-2" / "rng_state_1.pth").is_file()  # really 2 processes
    log = (root / "two" / "launch" / "accelerate.log").read_text()
    assert "Traceback" not in log
    worst = _assert_close(root / "one" / "adapter", root / "two" / "adapter")
    assert abs(one.eval_loss_base - two.eval_loss_base) < 1e-3
    # the only files written once per job, by the main process
    assert json.loads((root / "two" / "report.json").read_text())["steps"] == 4
    print(f"max |w1 - w2| = {worst:.2e}")


def test_checkpoints_resume_with_another_process_count(runs, setup, tmp_path):
    root, _, _ = runs
    for src, launch in (("two", None), ("one", TWO)):  # 2 -> 1 process, then 1 -> 2
        run = tmp_path / f"from-{src}"
        shutil.copytree(root / src, run)
        _truncate_to(run, 2)
        report = _train(setup, run, launch)
        assert report.resumed_from and report.resumed_from.endswith("checkpoint-2")
        assert report.steps == 4
        _assert_close(root / "one" / "adapter", run / "adapter")


def test_a_batch_that_does_not_split_is_refused(setup):
    recipe = setup[1].model_copy(update={"batch_size": 3})
    with pytest.raises(ConfigError, match="multiple of 2"):
        per_device_batch(recipe, 2)


def test_shipped_accelerate_configs_are_valid():
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils import DistributedType

    from tanuki_ollama.factory.distributed import ACCELERATE_CONFIGS

    kinds = {p.stem: load_config_from_file(str(p)).distributed_type for p in ACCELERATE_CONFIGS.glob("*.yaml")}
    assert kinds == {"ddp": DistributedType.MULTI_GPU, "fsdp": DistributedType.FSDP,
                     "deepspeed-zero2": DistributedType.DEEPSPEED, "deepspeed-zero3": DistributedType.DEEPSPEED}


@pytest.mark.parametrize("args, message", [
    (["--num-processes", "2"], "needs a launcher"),
    (["--launcher", "accelerate", "--num-processes", "2", "--accelerate-config", "nope"], "no accelerate config"),
])
def test_cli_refuses_bad_launch_options(args, message, monkeypatch):
    from tanuki_ollama.cli.main import main

    monkeypatch.setenv("TANUKI_RAISE_ERRORS", "1")
    with pytest.raises(ConfigError, match=message):
        main(["train", "adapter", "--recipe", "tiny-ci", "--agent", "coder", *args])
