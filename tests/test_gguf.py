"""GGUF handling on real files: the tiny fixtures of both architectures through llama.cpp's converter and
quantizer, and clear errors for damaged input."""

from __future__ import annotations

import json
import shutil

import pytest

from tanuki_ollama.errors import InvalidModelFile
from tanuki_ollama.factory._convert_main import pre_tokenizer_name
from tanuki_ollama.factory.gguf import check_adapter_matches, convert_hf_to_gguf, inspect_gguf
from tanuki_ollama.micro import micro_gguf

pytestmark = pytest.mark.slow


def test_micro_backbone_gguf_is_real():
    info = inspect_gguf(micro_gguf())
    assert info.architecture == "llama" and info.kind == "model"
    assert "<|im_start|>" in info.chat_template
    assert info.n_tensors > 200 and info.size_bytes > 90_000_000


def test_tiny_fixture_goes_through_conversion_and_q4_k_m(tiny):
    f16, q4, lora = inspect_gguf(tiny.f16), inspect_gguf(tiny.q4_k_m), inspect_gguf(tiny.lora)
    assert f16.architecture == q4.architecture == lora.architecture == tiny.arch
    assert f16.file_type == 1  # MOSTLY_F16
    assert q4.file_type == 15  # MOSTLY_Q4_K_M
    assert lora.kind == "adapter" and lora.n_tensors == 2 * 4 * 2  # A and B for q/k/v/o in 2 layers
    assert "<|im_start|>" in f16.chat_template  # the HF chat template travels into the GGUF
    check_adapter_matches(q4, lora)


def test_self_trained_tokenizer_is_recognised_as_gpt2(tiny):
    assert pre_tokenizer_name(tiny.hf_dir / "tokenizer.json") == "gpt-2"


def test_unknown_pre_tokenizer_is_refused_with_reason(tiny, tmp_path):
    hf = tmp_path / "hf"
    shutil.copytree(tiny.hf_dir, hf)
    spec = json.loads((hf / "tokenizer.json").read_text())
    spec["pre_tokenizer"] = {"type": "Whitespace"}
    (hf / "tokenizer.json").write_text(json.dumps(spec))
    assert pre_tokenizer_name(hf / "tokenizer.json") is None
    with pytest.raises(InvalidModelFile) as err:
        convert_hf_to_gguf(hf, tmp_path / "out.gguf")
    assert "pre-tokenizer" in err.value.message
    assert not (tmp_path / "out.gguf").exists()


def test_adapter_for_another_base_is_refused(tiny_llama, tiny_mistral3):
    with pytest.raises(InvalidModelFile) as err:
        check_adapter_matches(inspect_gguf(tiny_llama.q4_k_m), inspect_gguf(tiny_mistral3.lora))
    assert "'mistral3'" in err.value.message and "'llama'" in err.value.message


def test_corrupt_and_truncated_gguf(tiny_llama, tmp_path):
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"\x00" * 1024)
    with pytest.raises(InvalidModelFile, match="not a GGUF"):
        inspect_gguf(junk)
    cut = tmp_path / "cut.gguf"
    data = tiny_llama.q4_k_m.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidModelFile, match="damaged"):
        inspect_gguf(cut)
    original = tiny_llama.q4_k_m.read_bytes()
    assert original == data  # nothing lost: the source is untouched


def test_corrupt_safetensors_is_caught_before_conversion(tiny_llama, tmp_path):
    hf = tmp_path / "hf"
    shutil.copytree(tiny_llama.hf_dir, hf)
    (hf / "model.safetensors").write_bytes(b"not really safetensors")
    with pytest.raises(InvalidModelFile, match="safetensors"):
        convert_hf_to_gguf(hf, tmp_path / "x.gguf")


def test_adapter_for_another_size_of_the_same_architecture_is_refused(tiny_llama):
    """Same architecture (llama), other shapes: the tiny LoRA cannot modify the micro backbone."""
    with pytest.raises(InvalidModelFile) as err:
        check_adapter_matches(inspect_gguf(micro_gguf()), inspect_gguf(tiny_llama.lora))
    assert "does not fit" in err.value.message


def test_registering_a_misfit_adapter_never_reaches_ollama(tiny_llama):
    """The engine validates before uploading anything: a dead address proves no request was needed."""
    from tanuki_ollama.engines.ollama import OllamaEngine

    with pytest.raises(InvalidModelFile):
        OllamaEngine("http://127.0.0.1:9", timeout=2).create("x", gguf=micro_gguf(), adapter=tiny_llama.lora)
