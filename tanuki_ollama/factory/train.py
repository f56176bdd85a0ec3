"""LoRA / QLoRA training of one agent's adapter (or the backbone) with peft + trl, on CPU or GPU.

Reads the dataset format written by ``tanuki data synth`` (``messages`` per line) as conversational
prompt/completion pairs, so the loss covers the answer only. Every run:

- checkpoints every ``save_every`` steps and resumes from the last one (``--resume``, the default);
- measures the eval loss of the base (LoRA at zero) before training and of the adapter after, and **refuses** an
  adapter that does worse than the base (``AdapterRegressed``);
- writes ``report.json`` (losses, throughput, timings, the resolved recipe) and ``loss.png``;
- shows throughput and ETA; on out-of-memory or divergence it stops with what to change.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, TanukiError
from .backbones import Backbone
from .recipe import Recipe


class TrainingFailed(TanukiError):
    """Training stopped (OOM, divergence, bad data)."""


class AdapterRegressed(TanukiError):
    """The trained adapter is worse than the base on its own eval set."""


@dataclass
class TrainReport:
    agent: str
    recipe: dict[str, Any]
    backbone: str
    steps: int
    train_examples: int
    eval_examples: int
    eval_loss_base: float
    eval_loss_adapter: float
    train_loss_last: float | None
    seconds: float
    tokens_per_second: float
    resumed_from: str | None
    accepted: bool
    history: list[dict[str, Any]] = field(default_factory=list)


def _to_prompt_completion(rows: list[dict]) -> list[dict]:
    out = []
    for r in rows:
        msgs = r["messages"]
        if not msgs or msgs[-1]["role"] != "assistant":
            raise ConfigError(f"example {r.get('id')} does not end with an assistant message",
                              hint="fix or drop it in the dataset, or rebuild it with `tanuki data synth`")
        out.append({"prompt": msgs[:-1], "completion": [msgs[-1]]})
    return out


def _plot(history: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tr = [(h["step"], h["loss"]) for h in history if "loss" in h]
    ev = [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    if tr:
        ax.plot(*zip(*tr), label="train loss")
    if ev:
        ax.plot(*zip(*ev), "o-", label="eval loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _last_checkpoint(out_dir: Path) -> Path | None:
    ckpts = sorted(out_dir.glob("checkpoints/checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return ckpts[-1] if ckpts else None


def load_base_model(backbone: Backbone, recipe: Recipe):
    """The backbone in transformers, 4-bit for QLoRA recipes."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, Any] = {}
    if recipe.quantization != "none":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type=recipe.quantization,
            bnb_4bit_compute_dtype=torch.bfloat16 if recipe.bf16 else torch.float32,
        )
        kwargs["device_map"] = "auto" if torch.cuda.is_available() else "cpu"
    elif recipe.bf16:
        kwargs["dtype"] = torch.bfloat16
    tok = AutoTokenizer.from_pretrained(backbone.hf_dir)
    if not tok.chat_template:
        raise ConfigError(f"the tokenizer in {backbone.hf_dir} has no chat template",
                          hint="add chat_template.jinja to the model folder; agents are chat models")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(backbone.hf_dir, **kwargs)
    if recipe.quantization != "none":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=recipe.gradient_checkpointing)
    return model, tok


def train_adapter(
    *,
    backbone: Backbone,
    recipe: Recipe,
    agent: Any,  # roster AgentSpec
    train_rows: list[dict],
    eval_rows: list[dict],
    out_dir: Path,
    resume: bool = True,
    console=None,
    launch: Any = None,  # distributed.Launch: run in N data-parallel processes (accelerate)
) -> TrainReport:
    """Train ``agent``'s LoRA on its rows; the adapter lands in ``out_dir/adapter``.

    Inside an ``accelerate launch`` (``WORLD_SIZE`` > 1) each process takes ``batch_size / N`` examples per
    micro-step, so the global batch, the data order and the checkpoints are those of a one-process run.
    """
    from . import distributed

    if launch is not None and launch.distributed:
        return distributed.launch_training(launch, backbone=backbone, recipe=recipe, agent=agent,
                                           train_rows=train_rows, eval_rows=eval_rows, out_dir=out_dir,
                                           resume=resume, console=console)
    import datasets
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    datasets.disable_progress_bars()  # our own progress bar says what matters
    if not train_rows:
        raise ConfigError(f"no training examples for {agent.name}", hint="run `tanuki data synth` first")
    if recipe.threads:
        torch.set_num_threads(recipe.threads)
    if recipe.max_train_examples:
        train_rows = train_rows[: recipe.max_train_examples]
    eval_rows = (eval_rows or train_rows[: max(1, len(train_rows) // 10)])[: recipe.max_eval_examples]
    world, main_process = distributed.world_size(), distributed.is_main_process()
    batch = distributed.per_device_batch(recipe, world)
    console = console if main_process else None
    from transformers import set_seed

    set_seed(recipe.seed)  # the LoRA's initialisation depends on it: the same in every process and every run
    model, tok = load_base_model(backbone, recipe)
    lora = LoraConfig(
        r=recipe.lora_rank or agent.lora.rank,
        lora_alpha=agent.lora.alpha if not recipe.lora_rank else 2 * recipe.lora_rank,
        lora_dropout=agent.lora.dropout,
        target_modules=recipe.lora_targets or agent.lora.target_modules,
        task_type="CAUSAL_LM",
    )
    if recipe.lora_last_layers:
        # Backpropagation then stops at the first adapted layer: on a CPU this halves the cost of a step.
        n_layers = model.config.num_hidden_layers
        lora.layers_to_transform = list(range(max(0, n_layers - recipe.lora_last_layers), n_layers))
    cuda = torch.cuda.is_available()
    args = SFTConfig(
        output_dir=str(out_dir / "checkpoints"),
        max_length=recipe.max_length,
        per_device_train_batch_size=batch,
        per_device_eval_batch_size=batch,
        gradient_accumulation_steps=recipe.grad_accum,
        learning_rate=recipe.learning_rate,
        max_steps=recipe.max_steps,
        warmup_steps=max(0, round(recipe.warmup_ratio * recipe.max_steps)),
        lr_scheduler_type="cosine",
        logging_steps=1,
        save_steps=recipe.save_every,
        save_total_limit=2,
        eval_strategy="steps" if recipe.eval_every else "no",
        eval_steps=recipe.eval_every or None,
        bf16=recipe.bf16 and cuda,
        use_cpu=not cuda,
        gradient_checkpointing=recipe.gradient_checkpointing,
        report_to="none",
        disable_tqdm=True,
        seed=recipe.seed,
        data_seed=recipe.seed,
        dataloader_num_workers=0,
        completion_only_loss=True,
        save_only_model=False,
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(_to_prompt_completion(train_rows)),
        eval_dataset=Dataset.from_list(_to_prompt_completion(eval_rows)),
        processing_class=tok,
        peft_config=lora,
    )

    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # our progress bar reports instead of raw dicts
    for split, ds in (("train", trainer.train_dataset), ("eval", trainer.eval_dataset)):
        if len(ds) == 0:
            raise ConfigError(
                f"{agent.name}: every {split} example lost its answer to truncation at max_length={recipe.max_length}",
                hint="raise max_length in the recipe, or synthesise shorter examples",
            )
    report_path = out_dir / "report.json"
    state_path = out_dir / "base_eval.json"
    ckpt = _last_checkpoint(out_dir) if resume else None
    if state_path.is_file() and ckpt is not None:
        eval_base = json.loads(state_path.read_text())["eval_loss"]
    else:
        eval_base = trainer.evaluate()["eval_loss"]  # LoRA B starts at zero: this is the base model
        if main_process:
            state_path.write_text(json.dumps({"eval_loss": eval_base}))
        if world > 1:
            # evaluate() marks the model as prepared (accelerate 1.15), and train() then skips wrapping it in
            # DDP/FSDP: every process would train alone, silently. Clear the mark so train() wraps it.
            trainer.model._is_accelerate_prepared = False

    n_tokens = sum(len(x) for x in trainer.train_dataset["input_ids"]) / max(1, len(trainer.train_dataset))
    progress = _Progress(console, agent.name, recipe.max_steps, n_tokens * recipe.batch_size * recipe.grad_accum)

    class Watch(TrainerCallback):
        first: float | None = None

        def on_log(self, args, state, control, logs=None, **kw):
            loss = (logs or {}).get("loss")
            if loss is None:
                return
            if not math.isfinite(loss):
                raise TrainingFailed(
                    f"{agent.name}: the loss became {loss} at step {state.global_step} (divergence)",
                    hint=f"lower learning_rate (now {recipe.learning_rate}) or raise warmup_ratio; "
                    "the last checkpoint is kept, fix the recipe and rerun to resume",
                )
            self.first = self.first if self.first is not None else loss
            if state.global_step > 10 and loss > 4 * self.first:
                raise TrainingFailed(f"{agent.name}: the loss rose from {self.first:.3f} to {loss:.3f} (divergence)",
                                     hint="lower learning_rate, or check the data for garbage examples")
            progress.update(state.global_step, loss)

    trainer.add_callback(Watch())
    started = time.monotonic()
    try:
        with progress:
            trainer.train(resume_from_checkpoint=str(ckpt) if ckpt else None)
    except torch.OutOfMemoryError as exc:
        raise TrainingFailed(
            f"{agent.name}: out of memory at step {trainer.state.global_step}",
            hint=f"lower batch_size (now {recipe.batch_size}) and raise grad_accum, lower max_length "
            f"(now {recipe.max_length}), set gradient_checkpointing: true, or use quantization: nf4",
        ) from exc
    seconds = time.monotonic() - started
    eval_adapter = trainer.evaluate()["eval_loss"]
    accepted = eval_adapter <= eval_base + recipe.regression_tolerance
    history = [h for h in trainer.state.log_history if "loss" in h or "eval_loss" in h]
    train_losses = [h["loss"] for h in history if "loss" in h]
    steps_done = trainer.state.global_step - (int(ckpt.name.split("-")[-1]) if ckpt else 0)
    report = TrainReport(
        agent=agent.name,
        recipe=recipe.model_dump(),
        backbone=backbone.name,
        steps=trainer.state.global_step,
        train_examples=len(train_rows),
        eval_examples=len(eval_rows),
        eval_loss_base=float(eval_base),
        eval_loss_adapter=float(eval_adapter),
        train_loss_last=train_losses[-1] if train_losses else None,
        seconds=seconds,
        tokens_per_second=steps_done * n_tokens * recipe.batch_size * recipe.grad_accum / max(seconds, 1e-9),
        resumed_from=str(ckpt) if ckpt else None,
        accepted=accepted,
        history=history,
    )
    if main_process:
        _plot(history + [{"step": trainer.state.global_step, "eval_loss": eval_adapter}],
              out_dir / "loss.png", f"{agent.name} ({backbone.name})")
        report_path.write_text(json.dumps(asdict(report), indent=2))
    if not accepted:
        raise AdapterRegressed(
            f"{agent.name}: the adapter's eval loss {eval_adapter:.4f} is worse than the base's {eval_base:.4f}",
            hint="more or cleaner data, more steps, or a lower learning rate; the adapter was not exported "
            f"(report: {report_path})",
        )
    if not main_process:
        return report
    trainer.model.save_pretrained(out_dir / "adapter")
    (out_dir / "DONE").write_text(json.dumps({"eval_loss_base": eval_base, "eval_loss_adapter": eval_adapter}))
    return report


class _Progress:
    """Rich progress with throughput and ETA (a no-op without a console)."""

    def __init__(self, console, name: str, total: int, tokens_per_step: float):
        self.console, self.name, self.total, self.tps = console, name, total, tokens_per_step
        self.start = time.monotonic()
        self.first_step: int | None = None
        self._progress = None

    def __enter__(self):
        if self.console is not None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                                      console=self.console, transient=False)
            self._progress.__enter__()
            self._task = self._progress.add_task(f"train {self.name}", total=self.total, info="")
        return self

    def update(self, step: int, loss: float) -> None:
        if self._progress is None:
            return
        if self.first_step is None:
            self.first_step, self.start = step, time.monotonic()
        rate = (step - self.first_step) / max(time.monotonic() - self.start, 1e-9)
        info = f"loss {loss:.3f}  {rate * self.tps:,.0f} tok/s"
        self._progress.update(self._task, completed=step, info=info)

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.__exit__(*exc)


def train_threads_default() -> int:
    return max(1, (os.cpu_count() or 1))
