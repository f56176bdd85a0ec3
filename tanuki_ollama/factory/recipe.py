"""Training recipes (``training/*.yaml``): flat, commented, validated (unknown keys are errors)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ConfigError

RECIPES_DIR = Path(__file__).resolve().parents[2] / "training"


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    backbone: str = Field(description="micro | tiny-mistral3 | tiny-llama | hf:/path")
    quantization: Literal["none", "nf4", "fp4"] = "none"  # nf4 = QLoRA (bitsandbytes 4-bit base)
    max_length: int = Field(512, ge=32)
    batch_size: int = Field(4, ge=1)
    grad_accum: int = Field(1, ge=1)
    learning_rate: float = Field(2e-4, gt=0)
    max_steps: int = Field(40, ge=1)
    warmup_ratio: float = Field(0.05, ge=0, lt=1)
    eval_every: int = Field(0, ge=0, description="0 = evaluate only before and after")
    save_every: int = Field(20, ge=1)
    max_eval_examples: int = Field(64, ge=1)
    max_train_examples: int | None = None
    gradient_checkpointing: bool = False
    bf16: bool = False
    threads: int | None = None
    seed: int = 0
    lora_rank: int | None = Field(None, description="override the roster's rank (small fixtures)")
    lora_targets: list[str] | None = None
    lora_last_layers: int | None = Field(None, ge=1, description="put LoRA only on the last N layers (CPU speed)")
    regression_tolerance: float = Field(0.0, ge=0, description="refuse an adapter whose eval loss exceeds base + this")
    notes: str = ""


def load_recipe(name_or_path: str | Path) -> Recipe:
    path = Path(name_or_path)
    if not path.is_file():
        path = RECIPES_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in RECIPES_DIR.glob("*.yaml")))
        raise ConfigError(f"no training recipe {name_or_path!r}", hint=f"known recipes: {known}, or pass a YAML path")
    try:
        data = yaml.safe_load(path.read_text()) or {}
        return Recipe(**data)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}",
                          hint="fix the syntax at the position shown") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}", hint="see training/README.md for the recipe keys") from exc
