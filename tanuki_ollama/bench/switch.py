"""Placeholder, replaced below."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from ..settings import Settings


def _dir_key(hf_dir: Path) -> str:
    h = hashlib.sha256()
    for name in ("config.json", "model.safetensors"):
        p = Path(hf_dir) / name
        if p.is_file():
            h.update(name.encode())
            h.update(str(p.stat().st_size).encode())
            with open(p, "rb") as fh:
                h.update(fh.read(1 << 20))
    return h.hexdigest()[:12]


def random_loras(base_hf_dir: Path, n: int, *, rank: int = 8, std: float = 0.2, seed: int = 0,
                 cache: Path | None = None) -> list[Path]:
    """``n`` train-free random LoRA GGUFs (peft, q/k/v/o, non-zero B) for ``base_hf_dir``, cached by content.

    Adapter ``i`` uses seed ``seed + i``, so asking for more adapters later reuses the first ones.
    """
    from importlib.metadata import version

    from ..factory.gguf import convert_lora_to_gguf

    libs = "|".join(version(p) for p in ("torch", "transformers", "peft"))
    key = hashlib.sha256(json.dumps([_dir_key(base_hf_dir), rank, std, libs]).encode()).hexdigest()[:12]
    root = (cache or Settings.from_env().cache) / "fixtures" / f"random-loras-{key}"
    root.mkdir(parents=True, exist_ok=True)
    out: list[Path] = []
    model = None
    for i in range(n):
        gguf = root / f"lora-{seed + i:02d}.gguf"
        out.append(gguf)
        if gguf.is_file():
            continue
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM

        if model is None:
            model = AutoModelForCausalLM.from_pretrained(base_hf_dir, dtype=torch.float32)
        torch.manual_seed(seed + i)
        cfg = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                         init_lora_weights=False, task_type="CAUSAL_LM")
        peft_model = get_peft_model(model, cfg)
        with torch.no_grad():
            for name, p in peft_model.named_parameters():
                if "lora_B" in name:
                    p.normal_(0.0, std)
        adapter_dir = root / f"lora-{seed + i:02d}.peft"
        shutil.rmtree(adapter_dir, ignore_errors=True)
        peft_model.save_pretrained(adapter_dir)
        model = peft_model.unload()  # back to the plain base for the next adapter
        convert_lora_to_gguf(adapter_dir, base_hf_dir, gguf)
    return out
