"""GGUF files: inspect, convert from Hugging Face, quantize, and convert LoRA adapters.

Conversion runs llama.cpp's own scripts (from the pinned source tree install.sh unpacks) in a subprocess;
quantization runs llama.cpp's ``llama-quantize``. Every output is inspected before it is returned, so a broken
file never travels further down the pipeline.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DiskFull, InvalidModelFile, ToolchainMissing
from ..toolchain import Toolchain

GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class GGUFInfo:
    path: Path
    architecture: str
    kind: str  # "model" or "adapter"
    file_type: int | None
    n_tensors: int
    context_length: int | None
    chat_template: str | None
    size_bytes: int
    metadata: dict = field(default_factory=dict, repr=False)
    tensor_shapes: dict = field(default_factory=dict, repr=False)  # name -> shape in GGUF (ne) order


def _field_value(reader, name: str):
    f = reader.fields.get(name)
    if f is None:
        return None
    try:
        return f.contents()
    except Exception:  # older gguf-py: decode by hand
        part = f.parts[f.data[0]]
        return bytes(part).decode() if part.dtype.kind == "u" and part.dtype.itemsize == 1 else part.tolist()[0]


def inspect_gguf(path: Path) -> GGUFInfo:
    """Read and validate a GGUF's header, metadata and tensor table (tensor data must lie inside the file)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidModelFile(f"no such GGUF file: {path}", hint="check the path")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != GGUF_MAGIC:
        raise InvalidModelFile(
            f"{path} is not a GGUF file (magic {magic!r})",
            hint="export the model with `tanuki export`, or pass the .gguf file rather than a safetensors folder",
        )
    try:
        from gguf import GGUFReader
    except ImportError as exc:
        raise ToolchainMissing("the gguf package (llama.cpp's gguf-py) is not installed", hint="run ./install.sh") from exc
    try:
        reader = GGUFReader(str(path))
        size = path.stat().st_size
        for t in reader.tensors:
            if t.data_offset + t.n_bytes > size:
                raise ValueError(f"tensor {t.name} ends past the end of the file")
    except Exception as exc:  # gguf-py raises ValueError, IndexError, struct errors... on damaged files
        raise InvalidModelFile(
            f"{path} is a damaged GGUF file: {exc}",
            hint="the file is truncated or corrupt; export or download it again",
        ) from exc
    arch = str(_field_value(reader, "general.architecture") or "")
    kind = str(_field_value(reader, "general.type") or "model")
    ctx = _field_value(reader, f"{arch}.context_length")
    meta = {name: _field_value(reader, name) for name in ("general.name", "general.file_type", "adapter.type")}
    return GGUFInfo(
        path=path,
        architecture=arch,
        kind=kind,
        file_type=_field_value(reader, "general.file_type"),
        n_tensors=len(reader.tensors),
        context_length=int(ctx) if ctx is not None else None,
        chat_template=_field_value(reader, "tokenizer.chat_template"),
        size_bytes=path.stat().st_size,
        metadata=meta,
        tensor_shapes={t.name: tuple(int(x) for x in t.shape) for t in reader.tensors},
    )


def _run(cmd: list[str], what: str, partial: Path, env: dict[str, str] | None = None) -> str:
    """Run a converter writing ``partial``; on failure remove the half-written file and say why."""
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        partial.unlink(missing_ok=True)
        text = (proc.stderr or proc.stdout).strip()
        tail = "\n".join(text.splitlines()[-15:])
        if "No space left" in text or shutil.disk_usage(partial.parent).free < 2**20:
            raise DiskFull(f"{what}: no space left in {partial.parent}",
                           hint="free some space and rerun; nothing finished before was touched")
        raise InvalidModelFile(f"{what} failed (exit {proc.returncode}):\n{tail}",
                               hint="the converter's last lines above say why; "
                               "`tanuki doctor` checks the llama.cpp build")
    return proc.stdout + proc.stderr


def _convert_env() -> dict[str, str]:
    env = dict(os.environ)
    # Use the gguf-py install.sh installed from the same llama.cpp tree; never a mismatching PyPI gguf.
    env["NO_LOCAL_GGUF"] = "1"
    return env


def check_hf_dir(hf_dir: Path) -> dict:
    """A Hugging Face model folder must have a config with ``architectures`` and readable weights."""
    hf_dir = Path(hf_dir)
    cfg_path = hf_dir / "config.json"
    if not cfg_path.is_file():
        raise InvalidModelFile(f"{hf_dir} has no config.json", hint="pass a Hugging Face model folder")
    config = json.loads(cfg_path.read_text())
    if not config.get("architectures"):
        raise InvalidModelFile(f"{cfg_path} does not name the model's architectures", hint="set `architectures`")
    weights = sorted(hf_dir.glob("*.safetensors"))
    if not weights:
        raise InvalidModelFile(f"{hf_dir} has no .safetensors weights",
                               hint="save the model with save_pretrained(..., safe_serialization=True)")
    from safetensors import safe_open

    for w in weights:
        try:
            with safe_open(str(w), framework="numpy") as f:
                list(f.keys())
        except Exception as exc:
            raise InvalidModelFile(
                f"{w} is not a readable safetensors file: {exc}", hint="re-save the model; the file is damaged"
            ) from exc
    return config


def convert_hf_to_gguf(hf_dir: Path, out: Path, *, outtype: str = "f16", toolchain: Toolchain | None = None) -> GGUFInfo:
    """HF folder -> GGUF (``outtype`` f32/f16/bf16/q8_0), with llama.cpp's converter."""
    tc = toolchain or Toolchain.default()
    check_hf_dir(hf_dir)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".partial")
    cmd = [sys.executable, "-m", "tanuki_ollama.factory._convert_main", str(tc.convert_script()),
           str(hf_dir), "--outtype", outtype, "--outfile", str(tmp)]
    _run(cmd, f"converting {hf_dir} to GGUF", tmp, env=_convert_env())
    tmp.replace(out)
    return inspect_gguf(out)


def quantize(src: Path, out: Path, qtype: str = "Q4_K_M", *, threads: int | None = None,
             toolchain: Toolchain | None = None) -> GGUFInfo:
    """Quantize a GGUF with llama.cpp's ``llama-quantize`` (default Q4_K_M)."""
    tc = toolchain or Toolchain.default()
    inspect_gguf(src)
    out = Path(out)
    tmp = out.with_suffix(".partial")
    cmd = [str(tc.llama_tool("llama-quantize")), str(src), str(tmp), qtype, str(threads or os.cpu_count() or 1)]
    _run(cmd, f"quantizing {src} to {qtype}", tmp)
    tmp.replace(out)
    return inspect_gguf(out)


def convert_lora_to_gguf(adapter_dir: Path, base_hf_dir: Path, out: Path, *, outtype: str = "f16",
                         toolchain: Toolchain | None = None) -> GGUFInfo:
    """A peft LoRA folder -> GGUF LoRA. ``base_hf_dir`` needs only the base ``config.json`` (no download)."""
    tc = toolchain or Toolchain.default()
    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise InvalidModelFile(f"{adapter_dir} has no adapter_config.json", hint="pass a peft adapter folder")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".partial")
    cmd = [sys.executable, "-m", "tanuki_ollama.factory._convert_main", str(tc.convert_script("convert_lora_to_gguf.py")),
           str(adapter_dir), "--base", str(base_hf_dir), "--outtype", outtype, "--outfile", str(tmp)]
    _run(cmd, f"converting the LoRA {adapter_dir} to GGUF", tmp, env=_convert_env())
    tmp.replace(out)
    return inspect_gguf(out)


def check_adapter_matches(base: GGUFInfo, adapter: GGUFInfo) -> None:
    """Refuse an adapter made for another base before any engine sees it (architecture check)."""
    if adapter.kind != "adapter":
        raise InvalidModelFile(f"{adapter.path} is not a LoRA adapter GGUF (general.type={adapter.kind!r})",
                               hint="pass the adapter GGUF that `tanuki export` wrote, not a model GGUF")
    hint = "train the adapter against this base, or pick the base it was trained for"
    if adapter.architecture != base.architecture:
        raise InvalidModelFile(
            f"the adapter {adapter.path.name} was made for a {adapter.architecture!r} model, "
            f"but the base {base.path.name} is {base.architecture!r}",
            hint=hint,
        )
    # Same architecture, other size: every LoRA pair must fit the weight it modifies (A: [n_in, r], B: [r, n_out]).
    for name, shape in adapter.tensor_shapes.items():
        if not name.endswith(".lora_a"):
            continue
        target = name[: -len(".lora_a")]
        b_shape = adapter.tensor_shapes.get(target + ".lora_b")
        w_shape = base.tensor_shapes.get(target)
        if w_shape is None:
            raise InvalidModelFile(f"the adapter {adapter.path.name} modifies {target}, which the base "
                                   f"{base.path.name} does not have", hint=hint)
        if b_shape is None or shape[0] != w_shape[0] or b_shape[-1] != w_shape[-1]:
            raise InvalidModelFile(
                f"the adapter {adapter.path.name} does not fit the base {base.path.name}: {target} is "
                f"{list(w_shape)} in the base, the adapter expects [{shape[0]}, {b_shape[-1] if b_shape else '?'}]",
                hint=hint,
            )
