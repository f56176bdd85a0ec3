"""Merging a LoRA into its base (the backbone stage, and the ``merged`` registration strategy)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def merge_lora(base_hf: Path, adapter_dir: Path, out_hf: Path) -> Path:
    """``base + adapter`` as a plain full-precision HF folder (a QLoRA adapter merges into the fp32 base)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out_hf = Path(out_hf)
    tmp = out_hf.with_name(out_hf.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_hf), adapter_dir).merge_and_unload()
    model.save_pretrained(tmp, safe_serialization=True)
    AutoTokenizer.from_pretrained(base_hf).save_pretrained(tmp)
    for extra in Path(base_hf).glob("*.jinja"):  # keep the chat template file the converter embeds
        shutil.copy(extra, tmp / extra.name)
    cfg = json.loads((tmp / "config.json").read_text())
    cfg.pop("quantization_config", None)
    (tmp / "config.json").write_text(json.dumps(cfg, indent=2))
    shutil.rmtree(out_hf, ignore_errors=True)
    tmp.rename(out_hf)
    return out_hf
