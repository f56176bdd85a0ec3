"""Data-parallel training through Hugging Face Accelerate: ``tanuki train ... --launcher accelerate --num-processes N``.

The parent process writes one job (backbone, recipe, agent, rows) to ``<run>/launch/job.json`` and runs::

    accelerate launch --config_file training/accelerate/<config>.yaml --num_processes N \\
        -m tanuki_ollama.factory.distributed <run>/launch/job.json

Every worker calls the same :func:`~tanuki_ollama.factory.train.train_adapter` as a one-process run; the
``transformers`` Trainer picks up the process group that the launcher set up (gloo on CPU, NCCL on GPUs, FSDP or
DeepSpeed ZeRO when the config says so).

**The global batch is the recipe's**: each of N processes takes ``batch_size / N`` examples per micro-step, so one
optimizer step always sees ``batch_size x grad_accum`` examples in the same order, whatever N is. That is what makes
an N-process run equal (within float tolerance) to a one-process run, and a checkpoint written by N processes
resumable by M (the checkpoint holds the full LoRA, optimizer and scheduler state plus the global step).

Tiny CPU invocation (2 processes, gloo)::

    tanuki train adapter --recipe tiny-ci --agent coder --launcher accelerate --num-processes 2
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

from ..errors import ConfigError, TanukiError
from .backbones import Backbone
from .recipe import RECIPES_DIR, Recipe

ACCELERATE_CONFIGS = RECIPES_DIR / "accelerate"
LAUNCH_TIMEOUT_S = 6 * 3600


@dataclass(frozen=True)
class Launch:
    """How training processes are started (``launcher="none"``: in this process)."""

    launcher: Literal["none", "accelerate"] = "none"
    num_processes: int = 1
    config: str = "ddp"  # training/accelerate/<config>.yaml, or a path
    main_process_port: int | None = None
    timeout_s: float = LAUNCH_TIMEOUT_S

    @property
    def distributed(self) -> bool:
        return self.launcher == "accelerate"


def world_size() -> int:
    """Processes in this training job (``WORLD_SIZE``, set by the launcher; 1 when not launched)."""
    return max(1, int(os.environ.get("WORLD_SIZE", "1")))


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def per_device_batch(recipe: Recipe, processes: int) -> int:
    """The per-process batch that keeps the recipe's global batch whatever the process count."""
    if recipe.batch_size % processes:
        raise ConfigError(
            f"batch_size {recipe.batch_size} of recipe {recipe.name!r} does not split over {processes} processes",
            hint=f"use a batch_size that is a multiple of {processes} (the global batch is kept, so results and "
            "checkpoints stay comparable across process counts)",
        )
    return recipe.batch_size // processes


def accelerate_config(name: str) -> Path:
    path = Path(name)
    if path.is_file():
        return path
    path = ACCELERATE_CONFIGS / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in ACCELERATE_CONFIGS.glob("*.yaml")))
        raise ConfigError(f"no accelerate config {name!r}", hint=f"known configs: {known}, or pass a YAML path")
    return path


# ---------------------------------------------------------------------------------------------- the parent side
def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_job(*, backbone: Backbone, recipe: Recipe, agent: Any, train_rows: list[dict], eval_rows: list[dict],
              out_dir: Path, resume: bool) -> Path:
    launch_dir = Path(out_dir) / "launch"
    launch_dir.mkdir(parents=True, exist_ok=True)
    _write_jsonl(launch_dir / "train.jsonl", train_rows)
    _write_jsonl(launch_dir / "eval.jsonl", eval_rows)
    job = {
        "backbone": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(backbone).items()},
        "recipe": recipe.model_dump(),
        "agent": {"name": agent.name, "lora": agent.lora.model_dump()},
        "out_dir": str(Path(out_dir).resolve()),
        "resume": resume,
    }
    path = launch_dir / "job.json"
    path.write_text(json.dumps(job, indent=2))
    return path


def launch_argv(launch: Launch, job: Path, port: int) -> list[str]:
    return [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(accelerate_config(launch.config)),
        "--num_processes", str(launch.num_processes),
        "--main_process_port", str(port),
        "-m", "tanuki_ollama.factory.distributed", str(job),
    ]


def _raise_worker_error(out_dir: Path, log: Path, returncode: int) -> None:
    from . import train

    err_path = out_dir / "launch" / "error.json"
    if err_path.is_file():
        err = json.loads(err_path.read_text())
        cls = getattr(train, err["type"], None) or {"ConfigError": ConfigError}.get(err["type"], train.TrainingFailed)
        raise cls(err["message"], hint=err.get("hint"))
    tail = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
    raise train.TrainingFailed(
        f"the {out_dir.name} training processes exited with {returncode}:\n{tail}",
        hint=f"full log: {log}; a checkpoint, if any, is kept: rerun to resume (with any process count)",
    )


def launch_training(launch: Launch, *, backbone: Backbone, recipe: Recipe, agent: Any, train_rows: list[dict],
                    eval_rows: list[dict], out_dir: Path, resume: bool = True, console=None):
    """Run :func:`train_adapter` in ``launch.num_processes`` processes; returns the main process's TrainReport."""
    from ..ollama_server import free_port, spawn_logged, stop_process
    from .train import TrainReport

    per_device_batch(recipe, launch.num_processes)  # refuse a bad split before starting anything
    out_dir = Path(out_dir)
    job = write_job(backbone=backbone, recipe=recipe, agent=agent, train_rows=train_rows, eval_rows=eval_rows,
                    out_dir=out_dir, resume=resume)
    (out_dir / "launch" / "error.json").unlink(missing_ok=True)
    log = out_dir / "launch" / "accelerate.log"
    threads = max(1, (os.cpu_count() or 1) // launch.num_processes)
    env = os.environ | {"OMP_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
    argv = launch_argv(launch, job, launch.main_process_port or free_port())
    if console is not None:
        console.print(f"    accelerate: {launch.num_processes} processes ({launch.config}), log {log}", soft_wrap=True)
    proc = spawn_logged(argv, log, env=env, start_new_session=True)
    try:
        returncode = proc.wait(timeout=launch.timeout_s)
    except subprocess.TimeoutExpired:
        stop_process(proc)
        returncode = -1
    finally:
        stop_process(proc)
    if returncode != 0:
        _raise_worker_error(out_dir, log, returncode)
    report = json.loads((out_dir / "report.json").read_text())
    return TrainReport(**report)


# ---------------------------------------------------------------------------------------------- the worker side
def run_job(job_path: Path) -> None:
    import torch

    from ..agents.roster import LoraSpec
    from .train import train_adapter

    job = json.loads(Path(job_path).read_text())
    b = job["backbone"]
    backbone = Backbone(b["name"], Path(b["hf_dir"]), Path(b["gguf"]) if b["gguf"] else None, b["template"],
                        tuple(b["stops"]), b["default_system"], b["family_prefix"])
    recipe = Recipe(**job["recipe"])
    agent = SimpleNamespace(name=job["agent"]["name"], lora=LoraSpec(**job["agent"]["lora"]))
    launch_dir = Path(job_path).parent
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    console = None
    if is_main_process():
        from rich.console import Console

        console = Console(stderr=True)
    train_adapter(backbone=backbone, recipe=recipe.model_copy(update={"threads": None}), agent=agent,
                  train_rows=_read_jsonl(launch_dir / "train.jsonl"), eval_rows=_read_jsonl(launch_dir / "eval.jsonl"),
                  out_dir=Path(job["out_dir"]), resume=job["resume"], console=console)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m tanuki_ollama.factory.distributed JOB.json (started by `accelerate launch`)",
              file=sys.stderr)
        return 2
    job = Path(argv[0])
    ok = False
    try:
        run_job(job)
        ok = True
    except TanukiError as exc:
        if is_main_process():
            (job.parent / "error.json").write_text(
                json.dumps({"type": type(exc).__name__, "message": exc.message, "hint": exc.hint}))
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        _close_process_group(wait_for_others=ok)
    return 0


def _close_process_group(*, wait_for_others: bool) -> None:
    """Tear the gloo/NCCL group down before the interpreter exits.

    Left to interpreter shutdown, c10d's background threads can be destroyed while still joinable, and the process
    aborts ("terminate called without an active exception") after its work is done; the launcher then kills the
    other ranks and the run reads as failed.
    """
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch is a train dependency
        return
    if dist.is_available() and dist.is_initialized():
        try:
            if wait_for_others:  # a failed rank does not wait: the others may never reach the barrier
                dist.barrier()
        finally:
            dist.destroy_process_group()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
