"""Tiny models built here, of the backbone's real classes, for tests of the real pipeline.

- a BPE tokenizer trained locally (byte-level, GPT-2 split regex) on real code from this machine, wrapped as a
  ``PreTrainedTokenizerFast`` with a ChatML chat template;
- random-init ``Ministral3ForCausalLM`` (GGUF arch ``mistral3``, the default backbone's class) and
  ``LlamaForCausalLM`` (GGUF arch ``llama``, the micro backbone's class);
- a random LoRA per model (peft, non-zero B so it really changes outputs).

Everything is deterministic (fixed seeds) and cached under ``$TANUKI_CACHE/fixtures/<key>``, where the key
hashes the builder's parameters and the library versions, so a test session builds each fixture once.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from ..settings import Settings

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<unk>"]
FIXTURE_VERSION = "1"


@dataclass(frozen=True)
class TinySpec:
    arch: str  # "mistral3" | "llama"
    vocab_size: int = 1024
    hidden_size: int = 64
    intermediate_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    max_positions: int = 2048
    seed: int = 0

    def key(self) -> str:
        libs = "|".join(version(p) for p in ("torch", "transformers", "tokenizers", "peft"))
        raw = json.dumps(self.__dict__, sort_keys=True) + libs + FIXTURE_VERSION
        return hashlib.sha256(raw.encode()).hexdigest()[:12]


def corpus_files(limit: int = 60) -> list[Path]:
    """Real code that is on every machine: the Python standard library."""
    import sysconfig

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    return sorted(p for p in stdlib.glob("*.py") if p.stat().st_size < 60_000)[:limit]


def train_tokenizer(out_dir: Path, vocab_size: int) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    texts = [p.read_text(errors="replace") for p in corpus_files()]
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        unk_token="<unk>",
        pad_token="<|endoftext|>",
    )
    fast.chat_template = CHATML_TEMPLATE
    fast.save_pretrained(out_dir)
    return out_dir


def _config(spec: TinySpec, vocab_size: int, tokenizer):
    common = dict(
        vocab_size=vocab_size,
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_kv_heads,
        max_position_embeddings=spec.max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    if spec.arch == "mistral3":
        from transformers import Ministral3Config

        rope = dict(Ministral3Config().rope_parameters)
        rope.update(original_max_position_embeddings=spec.max_positions // int(rope["factor"]),
                    max_position_embeddings=spec.max_positions)
        return Ministral3Config(head_dim=spec.hidden_size // spec.num_heads, rope_parameters=rope, **common)
    if spec.arch == "llama":
        from transformers import LlamaConfig

        return LlamaConfig(**common)
    raise ValueError(f"unknown tiny architecture {spec.arch!r} (mistral3 or llama)")


def _model_class(arch: str):
    from transformers import LlamaForCausalLM, Ministral3ForCausalLM

    return {"mistral3": Ministral3ForCausalLM, "llama": LlamaForCausalLM}[arch]


@dataclass(frozen=True)
class TinyModel:
    spec: TinySpec
    root: Path

    @property
    def hf_dir(self) -> Path:
        return self.root / "hf"

    @property
    def lora_dir(self) -> Path:
        return self.root / "lora"


def build_tiny(spec: TinySpec, cache: Path | None = None) -> TinyModel:
    """Build (or reuse) the tokenizer, the random-init HF model and a random LoRA for ``spec``."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import PreTrainedTokenizerFast

    root = (cache or Settings.from_env().cache) / "fixtures" / f"tiny-{spec.arch}-{spec.key()}"
    done = root / "DONE"
    tiny = TinyModel(spec, root)
    if done.is_file():
        return tiny
    tmp = root.with_name(root.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    hf = tmp / "hf"
    train_tokenizer(hf, spec.vocab_size)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(hf)
    torch.manual_seed(spec.seed)
    model = _model_class(spec.arch)(_config(spec, len(tokenizer), tokenizer))
    model.save_pretrained(hf, safe_serialization=True)

    torch.manual_seed(spec.seed + 1)
    lora = LoraConfig(r=8, lora_alpha=32, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                      init_lora_weights=False, task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, lora)
    with torch.no_grad():  # big enough to move greedy tokens of a random model
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.5)
    peft_model.save_pretrained(tmp / "lora")
    (tmp / "DONE").write_text(json.dumps(spec.__dict__))
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)
    return tiny
