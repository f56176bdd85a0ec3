"""Run one of llama.cpp's convert scripts with tanuki's fix for self-trained BPE tokenizers.

``python -m tanuki_ollama.factory._convert_main SCRIPT ARGS...``

llama.cpp identifies a BPE pre-tokenizer by hashing the ids of a fixed test string and looking the hash up in a
table of published tokenizers, so every self-trained vocabulary is "unrecognized". When (and only when) the
lookup fails, we read the pre-tokenizer from ``tokenizer.json`` itself: a byte-level pre-tokenizer with the
GPT-2 split regex is exactly llama.cpp's ``gpt-2`` pre-tokenizer. Anything else still fails, with the reason.

It also works around llama.cpp's LoRA conversion of ``mistral3`` models (see ``_patch_lora_delegates``).
"""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"


def pre_tokenizer_name(tokenizer_json: Path) -> str | None:
    """llama.cpp's name for the pre-tokenizer described in ``tokenizer.json``, or None when it has none."""
    try:
        spec = json.loads(tokenizer_json.read_text()).get("pre_tokenizer") or {}
    except (OSError, json.JSONDecodeError):
        return None
    steps = spec.get("pretokenizers", [spec]) if spec.get("type") == "Sequence" else [spec]
    kinds = [s.get("type") for s in steps]
    if kinds == ["ByteLevel"] and steps[0].get("use_regex", True):
        return "gpt-2"
    if kinds == ["Split", "ByteLevel"] and not steps[1].get("use_regex", True):
        pattern = (steps[0].get("pattern") or {}).get("Regex")
        if pattern == GPT2_PATTERN:
            return "gpt-2"
    return None


def _patch_lora_delegates() -> None:
    """LoRA conversion subclasses the model class; for ``mistral3`` that class only delegates to an inner
    ``impl`` model, so the LoRA subclass's hooks never run and the *base* weights come out as the "adapter".
    Hand the LoRA converter the inner text-model class instead (Ministral 3 is a Llama-style model)."""
    import conversion

    original = conversion.get_model_class

    def get_model_class(name, mmproj=False):
        cls = original(name, mmproj)
        inner = getattr(cls, "Ministral3Model", None)
        return inner if (inner is not None and not mmproj) else cls

    conversion.get_model_class = get_model_class


def _patch() -> None:
    from conversion import base  # llama.cpp's conversion package, next to the script

    original = base.TextModel.get_vocab_base_pre

    def get_vocab_base_pre(self, tokenizer) -> str:
        try:
            return original(self, tokenizer)
        except NotImplementedError:
            name = pre_tokenizer_name(Path(self.dir_model) / "tokenizer.json")
            if name is None:
                raise NotImplementedError(
                    "unknown BPE pre-tokenizer: tokenizer.json is neither a published tokenizer nor a byte-level "
                    "GPT-2-style one; retrain it with a ByteLevel pre-tokenizer or add its hash to llama.cpp"
                ) from None
            return name

    base.TextModel.get_vocab_base_pre = get_vocab_base_pre


def main(argv: list[str]) -> None:
    script = Path(argv[0]).resolve()
    sys.path.insert(0, str(script.parent))
    sys.argv = [str(script), *argv[1:]]
    _patch()
    if script.name == "convert_lora_to_gguf.py":
        _patch_lora_delegates()
    runpy.run_path(str(script), run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
