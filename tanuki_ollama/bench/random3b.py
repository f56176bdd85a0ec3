"""A random-weight GGUF shaped like the Ministral 3 3B backbone, for timing only (no weights are downloadable).

Shape (``mistralai/Ministral-3-3B-*-2512``, text model, see ``shared/notes/ollama.md``): hidden 3072, 26 layers,
FFN 9216, 32 query / 8 KV heads, head dim 128, vocab 131,072, tied embeddings, YaRN rope (theta 1e6, factor 16,
original context 16,384). Written directly with gguf-py (arch ``mistral3``, what llama.cpp's converter writes for
``Ministral3ForCausalLM``; metadata keys copied from the converted tiny mistral3 fixture), f16 first, then
quantized to Q4_K_M with the built ``llama-quantize``. The tokenizer is the tiny fixture's BPE, padded with unused
tokens to the real vocabulary size (so the embedding and output matrices have the real shape).

Weights are N(0, 0.02) values drawn once into a pool and tiled (timing does not depend on their values).
LoRAs: one per rank of the roster (q/k/v/o, alpha = 2 x rank), random A and B. Everything is cached under
``$TANUKI_CACHE/fixtures/ministral3-3b-random-<key>`` (the key hashes the shape and the builder version); the f16
intermediate (about 6.9 GB) is deleted once quantized.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from ..settings import Settings

BUILDER_VERSION = "1"


@dataclass(frozen=True)
class Shape:
    hidden: int = 3072
    layers: int = 26
    ffn: int = 9216
    heads: int = 32
    kv_heads: int = 8
    head_dim: int = 128
    vocab: int = 131072
    context: int = 262144
    rope_theta: float = 1.0e6
    yarn_factor: float = 16.0
    yarn_original_context: int = 16384

    def key(self) -> str:
        return hashlib.sha256((json.dumps(asdict(self), sort_keys=True) + BUILDER_VERSION).encode()).hexdigest()[:12]

    def params(self) -> int:
        per_layer = (self.hidden * self.heads * self.head_dim * 2 + self.hidden * self.kv_heads * self.head_dim * 2
                     + 3 * self.hidden * self.ffn + 2 * self.hidden)
        return self.vocab * self.hidden + self.layers * per_layer + self.hidden


MINISTRAL3_3B = Shape()


def _root(shape: Shape, cache: Path | None) -> Path:
    return (cache or Settings.from_env().cache) / "fixtures" / f"ministral3-3b-random-{shape.key()}"


class _Pool:
    """N(0, std) float16 values drawn once; tensors are filled by tiling slices of it."""

    def __init__(self, size: int = 1 << 24, std: float = 0.02, seed: int = 0):
        import numpy as np

        rng = np.random.default_rng(seed)
        self.values = (rng.standard_normal(size, dtype=np.float32) * std).astype(np.float16)
        self.offset = 0

    def fill(self, shape: tuple[int, ...]):
        import numpy as np

        n = int(np.prod(shape))
        out = np.empty(n, dtype=np.float16)
        pos = 0
        size = len(self.values)
        while pos < n:  # bounded: every step writes min(size, n - pos) > 0 values
            take = min(size - self.offset, n - pos)
            out[pos:pos + take] = self.values[self.offset:self.offset + take]
            pos += take
            self.offset = (self.offset + take + 7919) % size  # shift, so that tensors are not copies
        return out.reshape(shape)


def _tokenizer_fields(shape: Shape) -> dict:
    """The tiny mistral3 fixture's tokenizer (converted by llama.cpp's converter), padded to ``shape.vocab``."""
    from gguf import GGUFReader

    from ..factory.fixtures import TinySpec, build_tiny
    from ..factory.gguf import convert_hf_to_gguf

    tiny = build_tiny(TinySpec(arch="mistral3"))
    f16 = tiny.root / "base-f16.gguf"
    if not f16.is_file():
        convert_hf_to_gguf(tiny.hf_dir, f16)
    reader = GGUFReader(f16)
    fields = {k: v.contents() for k, v in reader.fields.items()
              if k.startswith(("tokenizer.", "mistral3.rope.", "mistral3.attention."))}
    tokens = list(fields["tokenizer.ggml.tokens"])
    types = list(fields["tokenizer.ggml.token_type"])
    pad = shape.vocab - len(tokens)
    fields["tokenizer.ggml.tokens"] = tokens + [f"<unused_{i}>" for i in range(pad)]
    fields["tokenizer.ggml.token_type"] = types + [5] * pad  # UNUSED: never produced by the tokenizer
    return fields


def _write_base_f16(shape: Shape, out: Path, log) -> None:
    import numpy as np
    from gguf import GGUFValueType, GGUFWriter

    fields = _tokenizer_fields(shape)
    w = GGUFWriter(out, "mistral3")
    w.add_type("model")
    w.add_name("ministral3-3b-shaped-random")
    a = "mistral3"
    w.add_uint32(f"{a}.block_count", shape.layers)
    w.add_uint32(f"{a}.context_length", shape.context)
    w.add_uint32(f"{a}.embedding_length", shape.hidden)
    w.add_uint32(f"{a}.feed_forward_length", shape.ffn)
    w.add_uint32(f"{a}.attention.head_count", shape.heads)
    w.add_uint32(f"{a}.attention.head_count_kv", shape.kv_heads)
    w.add_uint32(f"{a}.attention.key_length", shape.head_dim)
    w.add_uint32(f"{a}.attention.value_length", shape.head_dim)
    w.add_float32(f"{a}.attention.layer_norm_rms_epsilon", 1e-5)
    w.add_float32(f"{a}.attention.temperature_scale", float(fields.get(f"{a}.attention.temperature_scale", 0.1)))
    w.add_uint32(f"{a}.vocab_size", shape.vocab)
    w.add_uint32(f"{a}.rope.dimension_count", shape.head_dim)
    w.add_float32(f"{a}.rope.freq_base", shape.rope_theta)
    w.add_string(f"{a}.rope.scaling.type", "yarn")
    w.add_float32(f"{a}.rope.scaling.factor", shape.yarn_factor)
    w.add_uint32(f"{a}.rope.scaling.original_context_length", shape.yarn_original_context)
    for key in ("yarn_beta_fast", "yarn_beta_slow", "yarn_log_multiplier"):
        full = f"{a}.rope.scaling.{key}"
        if full in fields:
            w.add_float32(full, float(fields[full]))
    w.add_uint32("general.file_type", 1)  # F16
    w.add_uint32("general.quantization_version", 2)
    for key, value in fields.items():
        if not key.startswith("tokenizer."):
            continue
        if isinstance(value, list):
            vtype = GGUFValueType.STRING if value and isinstance(value[0], str) else GGUFValueType.INT32
            w.add_array(key, value) if vtype == GGUFValueType.STRING else w.add_array(key, [int(x) for x in value])
        elif isinstance(value, str):
            w.add_string(key, value)
        else:
            w.add_uint32(key, int(value))

    h, kv = shape.hidden, shape.kv_heads * shape.head_dim
    tensors: list[tuple[str, tuple[int, ...], str]] = [("token_embd.weight", (shape.vocab, h), "f16")]
    for i in range(shape.layers):
        b = f"blk.{i}."
        tensors += [(b + "attn_norm.weight", (h,), "ones"), (b + "ffn_norm.weight", (h,), "ones"),
                    (b + "attn_q.weight", (shape.heads * shape.head_dim, h), "f16"),
                    (b + "attn_k.weight", (kv, h), "f16"), (b + "attn_v.weight", (kv, h), "f16"),
                    (b + "attn_output.weight", (h, shape.heads * shape.head_dim), "f16"),
                    (b + "ffn_gate.weight", (shape.ffn, h), "f16"), (b + "ffn_up.weight", (shape.ffn, h), "f16"),
                    (b + "ffn_down.weight", (h, shape.ffn), "f16")]
    tensors.append(("output_norm.weight", (h,), "ones"))  # no output.weight: tied to token_embd, as in the 3B
    for name, shp, kind in tensors:
        dtype = np.float32 if kind == "ones" else np.float16
        w.add_tensor_info(name, shp, np.dtype(dtype), int(np.prod(shp)) * np.dtype(dtype).itemsize)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    pool = _Pool()
    for k, (name, shp, kind) in enumerate(tensors):  # bounded: one pass over the tensor list
        data = np.ones(shp, dtype=np.float32) if kind == "ones" else pool.fill(shp)
        w.write_tensor_data(data)
        if k % 45 == 0:
            log(f"  wrote {k + 1}/{len(tensors)} tensors")
    w.close()


def random_3b_gguf(shape: Shape = MINISTRAL3_3B, *, qtype: str = "Q4_K_M", cache: Path | None = None,
                   threads: int | None = None, log=None) -> Path:
    """The quantized random-weight base (built once, about 2 GB for Q4_K_M; needs ~7 GB free while building)."""
    from ..factory.gguf import quantize

    say = log or (lambda _msg: None)
    root = _root(shape, cache)
    out = root / f"base-{qtype}.gguf"
    if out.is_file():
        return out
    root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(root).free
    need = shape.params() * 2 + shape.params() * 0.7
    if free < need:
        from ..errors import DiskFull

        raise DiskFull(f"building the 3B-shaped GGUF needs about {need / 2**30:.1f} GiB free under {root}, "
                       f"{free / 2**30:.1f} GiB are", hint="free disk space or point TANUKI_CACHE elsewhere")
    f16 = root / "base-f16.gguf.partial"
    say(f"writing the f16 GGUF ({shape.params() / 1e9:.2f} B parameters) to {f16}")
    try:
        _write_base_f16(shape, f16, say)
        say(f"quantizing to {qtype} (llama-quantize)")
        quantize(f16, out, qtype, threads=threads)
    finally:
        f16.unlink(missing_ok=True)
    (root / "shape.json").write_text(json.dumps({**asdict(shape), "params": shape.params()}, indent=2))
    return out


def random_3b_loras(ranks: list[int], shape: Shape = MINISTRAL3_3B, *, cache: Path | None = None,
                    seed: int = 0) -> list[Path]:
    """One random LoRA GGUF per rank (q/k/v/o, alpha = 2 x rank, f16), in the layout llama.cpp's LoRA
    converter writes (``blk.N.attn_q.weight.lora_a``: [rank, in], ``lora_b``: [out, rank])."""
    import numpy as np
    from gguf import GGUFWriter

    root = _root(shape, cache)
    root.mkdir(parents=True, exist_ok=True)
    outs = []
    h, kv, q = shape.hidden, shape.kv_heads * shape.head_dim, shape.heads * shape.head_dim
    dims = {"attn_q": (h, q), "attn_k": (h, kv), "attn_v": (h, kv), "attn_output": (q, h)}  # (in, out)
    for i, rank in enumerate(ranks):
        path = root / f"lora-r{rank}-{seed + i:02d}.gguf"
        outs.append(path)
        if path.is_file():
            continue
        rng = np.random.default_rng(seed + i)
        tmp = path.with_suffix(".partial")
        w = GGUFWriter(tmp, "mistral3")
        w.add_type("adapter")
        w.add_string("adapter.type", "lora")
        w.add_float32("adapter.lora.alpha", float(2 * rank))
        w.add_uint32("general.quantization_version", 2)
        for layer in range(shape.layers):
            for proj, (din, dout) in dims.items():
                a = (rng.standard_normal((rank, din), dtype=np.float32) / np.sqrt(din)).astype(np.float16)
                b = (rng.standard_normal((dout, rank), dtype=np.float32) * 0.01).astype(np.float16)
                w.add_tensor(f"blk.{layer}.{proj}.weight.lora_a", a)
                w.add_tensor(f"blk.{layer}.{proj}.weight.lora_b", b)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        tmp.rename(path)
    return outs
