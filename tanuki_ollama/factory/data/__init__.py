"""Data synthesis for the agent family: per-agent, verified, versioned datasets (and the teacher's judgements).

Public API (no I/O at import)::

    synthesize(SynthConfig(...), out=..., ...) -> SynthResult
    load_dataset_split(dataset_dir, agent, split) -> list[dict]
    latest_dataset(root=None) -> Path
    verify_dataset(dataset_dir) -> list[str]
"""

from .store import default_root, latest_dataset, load_dataset_split, read_manifest, verify_dataset
from .synth import GENERATOR_VERSION, SynthConfig, SynthResult, synthesize

__all__ = ["GENERATOR_VERSION", "SynthConfig", "SynthResult", "default_root", "latest_dataset", "load_dataset_split",
           "read_manifest", "synthesize", "verify_dataset"]
