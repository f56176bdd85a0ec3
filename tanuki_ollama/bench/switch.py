"""`tanuki bench switch`: agent-switch cost, side by side, on the same models in one run.

(a) Ollama, one model per agent (FROM base + ADAPTER): agents share the base blob, so every switch restarts
    the runner; (b) Ollama, one merged Q4_K_M GGUF per agent (LoRA merged into the micro's HF weights ->
    GGUF -> quantize): different blobs, co-resident up to OLLAMA_MAX_LOADED_MODELS; (c) the hot-swap engine.

Definitions (all wall-clock, streaming, greedy, same prompt and num_predict):
- ttft_after_switch: time to the first streamed token of a request whose agent differs from the previous one;
- ttft_same_agent: the same, when the previous request used the same agent;
- switch latency: what the switch itself adds, measured in pairs: each request after a switch is followed at once by
  the same request to the same agent, and the pair's difference ttft_after_switch - ttft_same_agent is one sample
  (pairs cancel the slow drift of a shared machine's load); median and p95 over the pairs, negative medians (the
  switch below the noise) reported as 0;
- resident memory: RSS of the engine's process with 10 LoRAs loaded vs. the base alone (same ctx/slots);
- decode tokens/s: llama-server's own predicted_per_second, with an adapter vs. the base alone.
Numbers from a shared 2-core machine are noisy: medians over few repetitions, reported as measured.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import statistics
import time
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


# ---------------------------------------------------------------------------------------------- the benchmark
PROMPT = "Write is_even(n) in Python."


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    k = min(len(v) - 1, max(0, math.ceil(q * len(v)) - 1))
    return v[k]


def _ms(x: float | None) -> float | None:
    return None if x is None else round(x * 1000, 2)


def merged_gguf(base_hf_dir: Path, lora_gguf: Path, cache: Path | None = None) -> Path:
    """The LoRA (its peft folder next to the GGUF) merged into the base HF weights -> f16 GGUF -> Q4_K_M."""
    from ..factory.gguf import convert_hf_to_gguf, quantize

    out = Path(lora_gguf).with_suffix(".merged-Q4_K_M.gguf")
    if out.is_file():
        return out
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hf_out = out.with_suffix(".hf")
    shutil.rmtree(hf_out, ignore_errors=True)
    model = AutoModelForCausalLM.from_pretrained(base_hf_dir, dtype=torch.float32)
    model = PeftModel.from_pretrained(model, Path(lora_gguf).with_suffix(".peft")).merge_and_unload()
    model.save_pretrained(hf_out)
    AutoTokenizer.from_pretrained(base_hf_dir).save_pretrained(hf_out)
    cfg = json.loads((hf_out / "config.json").read_text())
    cfg["architectures"] = ["LlamaForCausalLM"]
    cfg.pop("quantization_config", None)
    (hf_out / "config.json").write_text(json.dumps(cfg))
    f16 = convert_hf_to_gguf(hf_out, hf_out.with_suffix(".f16.gguf")).path
    quantize(f16, out, "Q4_K_M")
    f16.unlink()
    shutil.rmtree(hf_out, ignore_errors=True)
    return out


def _ttft(stream) -> tuple[float, float | None]:
    t0 = time.perf_counter()
    first = None
    load = None
    for chunk in stream:
        if first is None and chunk.content:
            first = time.perf_counter() - t0
        if chunk.done and chunk.usage is not None:
            load = chunk.usage.load_duration_s
    return (first if first is not None else time.perf_counter() - t0), load


def _switch_series(engine, names: list[str], reps: int, opts: dict) -> dict:
    from ..types import Message

    msgs = [Message(role="user", content=PROMPT)]
    after: list[float] = []
    same: list[float] = []
    deltas: list[float] = []
    loads: list[float] = []
    _ttft(engine.chat_stream(names[0], msgs, options=opts))  # warm up (first load is not a switch)
    for _ in range(reps):  # bounded: reps x agents x 2 requests; every first request of a pair is a switch
        for name in names[1:] + names[:1]:
            t, load = _ttft(engine.chat_stream(name, msgs, options=opts))
            after.append(t)
            if load is not None:
                loads.append(load)
            t2, _ = _ttft(engine.chat_stream(name, msgs, options=opts))
            same.append(t2)
            deltas.append(t - t2)
    base = statistics.median(same)
    out = {"switches": len(after), "switch_ms_median": _ms(max(0.0, statistics.median(deltas))),
           "switch_ms_p95": _ms(max(0.0, _pct(deltas, 0.95))),
           "ttft_after_switch_ms_median": _ms(statistics.median(after)),
           "ttft_after_switch_ms_p95": _ms(_pct(after, 0.95)), "ttft_same_agent_ms_median": _ms(base)}
    if loads and any(loads):
        out["ollama_load_duration_ms_median"] = _ms(statistics.median(loads))
    return out


def _decode_tps(server, adapter: int | None, n: int, reps: int) -> dict[str, float]:
    """Decode tokens/s of the base and of ``adapter``, alternating run by run (one drift of a shared machine's load
    hits both alike); medians."""
    prompt = "<|im_start|>user\n" + PROMPT + "<|im_end|>\n<|im_start|>assistant\n"
    speeds: dict[str, list[float]] = {"base_tps": [], "adapter_tps": []}
    for _ in range(reps):
        for key, which in (("base_tps", None), ("adapter_tps", adapter)):
            r = server.completion(prompt, adapter=which, n_predict=n, ignore_eos=True)
            speeds[key].append(float(r["timings"]["predicted_per_second"]))
    return {key: round(statistics.median(v), 2) for key, v in speeds.items()}


def _backbone(name: str, n_loras: int, say) -> tuple[Path, list[Path], Path | None, str]:
    """(base GGUF, random LoRA GGUFs, HF folder for merging or None, system prompt) for ``name``."""
    from ..micro import MICRO_SYSTEM, micro_gguf

    if name == "micro":
        from ..factory.backbones import micro_hf_dir

        hf = micro_hf_dir()
        say(f"building {n_loras} random LoRAs (cached)")
        return micro_gguf(), random_loras(hf, n_loras), hf, MICRO_SYSTEM
    if name == "3b-random":
        from ..agents.roster import load_roster
        from .random3b import random_3b_gguf, random_3b_loras

        base = random_3b_gguf(log=say)
        ranks = [a.lora.rank for a in load_roster().agents]
        ranks = [ranks[i % len(ranks)] for i in range(n_loras)]
        say(f"random 3B-shaped LoRAs of the roster's ranks {ranks} (cached)")
        return base, random_3b_loras(ranks), None, MICRO_SYSTEM
    from ..errors import ConfigError

    raise ConfigError(f"unknown bench backbone {name!r}", hint="use micro or 3b-random")


def run_switch_bench(*, agents: int = 2, reps: int = 3, num_predict: int = 8, memory_loras: int = 10,
                     decode_tokens: int = 48, merged: bool = True, ollama: bool = True,
                     threads: int | None = None, prompt_cache: bool | str = True, backbone: str = "micro",
                     log=None) -> dict:
    """Measure (a), (b), (c) on the micro backbone (or ``3b-random``) with random LoRAs; one JSON-able dict."""
    import tempfile

    from ..engines.hotswap import AgentModel, HotSwapEngine
    from ..engines.llamaserver import LlamaServer
    from ..factory.modelfile import CHATML_STOPS, builtin_template

    say = log or (lambda _msg: None)
    t_start = time.perf_counter()
    base, loras, hf, system = _backbone(backbone, max(agents, memory_loras), say)
    merged = merged and hf is not None  # merging needs the HF weights (the 3B-shaped base has none)
    names = [f"tanuki-bench-agent{i}" for i in range(agents)]
    params = {"stop": list(CHATML_STOPS), "num_ctx": 2048}
    opts = {"temperature": 0, "top_k": 1, "seed": 7, "num_predict": num_predict}
    # the same thread count for every engine: Ollama takes it per request, the hot-swap engine at start
    ollama_opts = {**opts, "num_thread": threads} if threads else opts
    result: dict = {"backbone": backbone, "model": base.name, "model_file_mb": round(base.stat().st_size / 2**20, 1),
                    "load_avg_1m_at_start": round(os.getloadavg()[0], 2), "machine": {"cpus": os.cpu_count()}, "agents_switched": agents,
                    "reps": reps, "num_predict": num_predict, "prompt": PROMPT,
                    "threads": threads or "engine default (physical cores)"}

    with tempfile.TemporaryDirectory(prefix="tanuki-bench-") as tmp:
        if ollama:
            from ..engines.ollama import OllamaEngine
            from ..ollama_server import OllamaServer

            srv = OllamaServer(models_dir=Path(tmp) / "models", log_path=Path(tmp) / "ollama.log",
                               extra_env={"OLLAMA_KEEP_ALIVE": "10m", "OLLAMA_MAX_LOADED_MODELS": "3"})
            srv.start(timeout=120)
            try:
                ol = OllamaEngine(srv.url, timeout=600, num_ctx=2048)
                say("(a) Ollama, FROM base + ADAPTER per agent")
                for name, lora in zip(names, loras):
                    ol.create(name, gguf=base, adapter=lora, template=builtin_template("chatml"),
                              system=system, parameters=params)
                result["a_ollama_adapter"] = _switch_series(ol, names, reps, ollama_opts)
                if merged:
                    say("(b) Ollama, merged Q4_K_M per agent (merging is cached)")
                    mnames = [n + "-merged" for n in names]
                    for name, lora in zip(mnames, loras):
                        ol.create(name, gguf=merged_gguf(hf, lora), template=builtin_template("chatml"),
                                  system=system, parameters=params)
                    for n in names:
                        ol.unload(n)
                    result["b_ollama_merged"] = _switch_series(ol, mnames, reps, ollama_opts)
                result["ollama_version"] = ol.version()
            finally:
                srv.stop()

        say("(c) hot-swap engine")
        agents_map = {n: AgentModel(n, lora, system, params) for n, lora in zip(names, loras)}
        with HotSwapEngine(base, agents_map, ctx=2048, parallel=2, threads=threads, prompt_cache=prompt_cache,
                           log_path=Path(tmp) / "hotswap.log") as eng:
            result["c_hotswap"] = _switch_series(eng, names, reps, opts)
            result["c_hotswap"]["prompt_reuse"] = eng.reuse_mode
        a, c = result.get("a_ollama_adapter"), result["c_hotswap"]
        if a:  # a switch below 1 ms (or below the noise, reported as 0) counts as 1 ms: a lower bound
            result["c_vs_a_switch_speedup"] = round(a["switch_ms_median"] / max(c["switch_ms_median"], 1.0), 1)

        say(f"memory: base alone vs {memory_loras} LoRAs; mmap vs no mmap; decode speed")
        mem: dict = {}
        decode: dict = {}
        for label, mmap in (("mmap", True), ("no_mmap", False)):
            row: dict = {}
            for what, ls in (("base_alone", []), (f"with_{memory_loras}_loras", loras[:memory_loras])):
                with LlamaServer(base, ls, ctx=2048, threads=threads or max(1, (os.cpu_count() or 2) // 2),
                                 mmap=mmap, parallel=2, cache_ram_mib=0) as srv2:
                    t0 = time.perf_counter()
                    srv2.completion("<|im_start|>user\nhi<|im_end|>\n", adapter=0 if ls else None, n_predict=1)
                    row[f"{what}_first_request_ms"] = _ms(time.perf_counter() - t0)
                    row[f"{what}_rss_mb"] = round(srv2.memory()["rss"] / 2**20, 1)
                    if ls and mmap:
                        decode = _decode_tps(srv2, 0, decode_tokens, max(reps, 5))
            row["ratio_loras_vs_base"] = round(row[f"with_{memory_loras}_loras_rss_mb"]
                                                  / row["base_alone_rss_mb"], 3)
            mem[label] = row
        mem["base_file_mb"] = round(base.stat().st_size / 2**20, 1)
        mem["lora_file_mb_each"] = round(loras[0].stat().st_size / 2**20, 2)
        result["resident_memory"] = mem
        decode["adapter_vs_base"] = round(decode["adapter_tps"] / decode["base_tps"], 3)
        result["decode_tokens_per_s"] = decode
    c = result["c_hotswap"]
    result["targets"] = {
        "switch_median_le_5ms": (c["switch_ms_median"] or 0) <= 5,
        "switch_50x_faster_than_a": (result.get("c_vs_a_switch_speedup") or 0) >= 50 if ollama else None,
        "memory_10_loras_le_1_2x_base": mem["mmap"]["ratio_loras_vs_base"] <= 1.2,
        "decode_with_adapter_ge_85pct": decode["adapter_vs_base"] >= 0.85,
    }
    result["not_measured"] = ([] if hf is not None else
                              [("(b) Ollama with merged per-agent GGUFs: a random-weight base has no HF weights to "
                                "merge into (and each merged copy would be another ~2 GB)")])
    result["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)
    result["elapsed_s"] = round(time.perf_counter() - t_start, 1)
    return result
