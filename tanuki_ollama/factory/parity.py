"""Parity: HF (+peft) against GGUF (+LoRA GGUF) on llama.cpp, on the same token ids.

For each prompt, transformers generates a greedy continuation; then, teacher-forced along that continuation,
llama.cpp predicts each next token on exactly the same prefix. We compare (a) the log-probabilities of the top-k
tokens at every position and (b) whether llama.cpp's top token equals transformers' (token agreement). Teacher
forcing keeps one near-tie from turning every later token into a mismatch. Tolerances are stated per precision
(``Tolerance``): an f16 export must match closely; a quantized one (Q4_K_M, or the micro's Q4_1 base, which
llama.cpp multiplies with 8-bit activations) is compared with looser bounds.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..engines.llamaserver import LlamaServer

log = logging.getLogger(__name__)

PARITY_PROMPTS = [
    [{"role": "user", "content": "Write a Python function that reverses a string."}],
    [{"role": "system", "content": "You review code."}, {"role": "user", "content": "Is `x = x + 1` correct?"}],
    [{"role": "user", "content": "def add(a, b):"}],
]


@dataclass(frozen=True)
class Tolerance:
    max_logprob_diff: float  # max |logp_hf - logp_gguf| over llama.cpp's top-k tokens, at every position
    max_prob_diff: float  # the same in probability space (what a quantized model can be held to)
    min_greedy_agreement: float  # fraction of positions where both pick the same top token
    top_k: int = 5
    n_tokens: int = 8


# Measured here: f16 (+ f16 LoRA) on the tiny fixtures ~1e-6 logprob; the micro's Q4_1 (+ LoRA) <= 0.68 logprob
# on low-probability tail tokens but <= 0.11 in probability, with >= 87 % token agreement.
F16 = Tolerance(max_logprob_diff=0.05, max_prob_diff=0.01, min_greedy_agreement=1.0)
QUANTIZED = Tolerance(max_logprob_diff=float("inf"), max_prob_diff=0.15, min_greedy_agreement=0.75)


@dataclass
class PromptParity:
    prompt: int
    logprob_diff: float
    prob_diff: float
    first_token_match: bool
    greedy_agreement: float
    hf_tokens: list[int]
    gguf_tokens: list[int]


@dataclass
class ParityResult:
    name: str
    tolerance: dict
    prompts: list[PromptParity] = field(default_factory=list)

    @property
    def max_logprob_diff(self) -> float:
        return max((p.logprob_diff for p in self.prompts), default=0.0)

    @property
    def max_prob_diff(self) -> float:
        return max((p.prob_diff for p in self.prompts), default=0.0)

    @property
    def greedy_agreement(self) -> float:
        return min((p.greedy_agreement for p in self.prompts), default=1.0)

    @property
    def passed(self) -> bool:
        t = self.tolerance
        return (self.max_logprob_diff <= t["max_logprob_diff"]
                and self.max_prob_diff <= t["max_prob_diff"]
                and self.greedy_agreement >= t["min_greedy_agreement"]
                and all(p.first_token_match for p in self.prompts))

    def as_dict(self) -> dict:
        return {"name": self.name, "passed": self.passed, "max_logprob_diff": self.max_logprob_diff,
                "max_prob_diff": self.max_prob_diff,
                "greedy_agreement": self.greedy_agreement, "tolerance": self.tolerance,
                "prompts": [asdict(p) for p in self.prompts]}


def hf_reference(model, tok, prompts: list[list[dict]], tol: Tolerance) -> list[dict]:
    """Token ids, first-position top-k logprobs and the greedy continuation, from transformers."""
    import torch

    out = []
    model.eval()
    for msgs in prompts:
        ids = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_dict=False)
        if isinstance(ids, dict) or hasattr(ids, "input_ids"):
            ids = ids["input_ids"]
        ids = list(ids)
        with torch.no_grad():
            gen = model.generate(torch.tensor([ids]), max_new_tokens=tol.n_tokens, do_sample=False,
                                 pad_token_id=tok.pad_token_id or tok.eos_token_id)[0, len(ids):].tolist()
            seq = torch.tensor([ids + gen])
            steps = torch.log_softmax(model(seq).logits[0, len(ids) - 1 : len(ids) - 1 + len(gen)].float(), -1)
        out.append({"ids": ids, "logprobs": steps, "greedy": gen})
    return out


EOS = -1  # llama-server reports no probabilities for an end-of-generation token, only that it stopped


def compare(name: str, ref: list[dict], server: LlamaServer, adapter: int | None, tol: Tolerance,
            eos_ids: frozenset[int] = frozenset()) -> ParityResult:
    res = ParityResult(name, asdict(tol))
    for i, r in enumerate(ref):
        lp_diffs, p_diffs, matches, gguf_tokens = [], [], [], []
        for j, expected in enumerate(r["greedy"]):
            got = server.completion(r["ids"] + r["greedy"][:j], adapter=adapter, n_predict=1, n_probs=tol.top_k)
            probs = got.get("completion_probabilities") or []
            # llama-server withholds the probabilities of a token it does not print (end of generation, or a
            # byte that is half of a UTF-8 character); its id is still in "tokens".
            token = (got.get("tokens") or [probs[0]["id"] if probs else EOS])[0]
            gguf_tokens.append(token)
            matches.append(token == expected or (token == EOS and expected in eos_ids))
            if probs:
                top = probs[0]["top_logprobs"]
                lp_diffs.append(max(abs(float(r["logprobs"][j][t["id"]]) - t["logprob"]) for t in top))
                p_diffs.append(max(abs(math.exp(float(r["logprobs"][j][t["id"]])) - math.exp(t["logprob"]))
                                   for t in top))
        res.prompts.append(PromptParity(i, max(lp_diffs, default=0.0), max(p_diffs, default=0.0),
                                        bool(matches and matches[0]), sum(matches) / max(1, len(matches)),
                                        r["greedy"], gguf_tokens))
    return res


def check_family_parity(hf_dir: Path, gguf: Path, adapters: dict[str, tuple[Path, Path]], tol: Tolerance,
                        prompts: list[list[dict]] | None = None, log_path: Path | None = None) -> dict[str, ParityResult]:
    """Parity of the base and of every adapter ``{agent: (peft_dir, lora_gguf)}``, with one llama-server."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    prompts = prompts or PARITY_PROMPTS
    tok = AutoTokenizer.from_pretrained(hf_dir)
    base = AutoModelForCausalLM.from_pretrained(hf_dir)
    names = list(adapters)
    results: dict[str, ParityResult] = {}
    with LlamaServer(gguf, [adapters[n][1] for n in names], ctx=1024, log_path=log_path) as server:
        t0 = time.monotonic()
        ref = hf_reference(base, tok, prompts, tol)
        t1 = time.monotonic()
        eos = frozenset(x for x in {tok.eos_token_id, tok.pad_token_id,
                                    tok.convert_tokens_to_ids("<|im_end|>")} if isinstance(x, int) and x >= 0)
        results["base"] = compare("base", ref, server, None, tol, eos)
        log.debug("parity base: hf %.1fs, gguf %.1fs", t1 - t0, time.monotonic() - t1)
        for i, name in enumerate(names):
            model = PeftModel.from_pretrained(base, adapters[name][0])
            results[name] = compare(name, hf_reference(model, tok, prompts, tol), server, i, tol, eos)
            base = model.unload()  # back to the plain base for the next adapter
    return results
