"""`tanuki doctor`: what is installed, what answers, and what to do about each problem."""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import psutil

from . import __version__
from .engines import available as available_engines
from .errors import TanukiError
from .ollama_server import is_reachable
from .settings import Settings
from .toolchain import (
    LLAMA_CPP_BUILD,
    OLLAMA_SUPPORTED,
    OLLAMA_VERSION,
    Toolchain,
    ollama_binary_version,
    version_supported,
)


@dataclass
class Check:
    name: str
    status: str  # "ok" | "warn" | "fail" | "info"
    detail: str
    fix: str = ""
    data: dict[str, Any] = field(default_factory=dict)


def _pkg(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _python() -> list[Check]:
    ok = sys.version_info >= (3, 11)
    return [Check("python", "ok" if ok else "fail", platform.python_version(), "" if ok else "use Python >= 3.11")]


def _packages(training: bool) -> list[Check]:
    out = []
    wanted = [("ollama", "ollama client"), ("gguf", "gguf-py (llama.cpp)")]
    wanted += [("torch", "torch"), ("transformers", "transformers"), ("peft", "peft"), ("trl", "trl"),
               ("bitsandbytes", "bitsandbytes")]
    for pkg, label in wanted:
        v = _pkg(pkg)
        required = pkg in ("ollama", "gguf") or training
        status = "ok" if v else ("fail" if required else "warn")
        out.append(Check(label, status, v or "not installed", "" if v else "run ./install.sh", {"version": v}))
    return out


def _llama_cpp(tc: Toolchain) -> list[Check]:
    out = []
    for tool in ("llama-server", "llama-quantize"):
        try:
            path = tc.llama_tool(tool)
            out.append(Check(tool, "ok", f"{path} (llama.cpp {LLAMA_CPP_BUILD})", data={"path": str(path)}))
        except TanukiError as exc:
            out.append(Check(tool, "fail", exc.message, exc.hint or ""))
    try:
        out.append(Check("llama.cpp convert scripts", "ok", str(tc.convert_script().parent)))
    except TanukiError as exc:
        out.append(Check("llama.cpp convert scripts", "fail", exc.message, exc.hint or ""))
    return out


def _ollama(settings: Settings, tc: Toolchain) -> list[Check]:
    out = []
    try:
        binary = tc.ollama_binary()
        v = ollama_binary_version(binary)
        vs = ".".join(map(str, v)) if v else "unknown"
        lo, hi = (".".join(map(str, x)) for x in OLLAMA_SUPPORTED)
        status = "ok" if version_supported(v) else "warn"
        fix = "" if status == "ok" else f"tanuki is tested with Ollama {OLLAMA_VERSION} (supported: >= {lo}, < {hi})"
        out.append(Check("ollama binary", status, f"{binary} (version {vs})", fix, {"path": str(binary), "version": vs}))
    except TanukiError as exc:
        out.append(Check("ollama binary", "fail", exc.message, exc.hint or ""))
    host = settings.ollama_host
    if is_reachable(host):
        from .engines.ollama import OllamaEngine

        eng = OllamaEngine(host, timeout=10)
        v = eng.version()
        models = [m.name for m in eng.list_models()]
        out.append(Check("ollama server", "ok", f"{host} answered, version {v}, {len(models)} models",
                         data={"url": host, "version": v, "models": models}))
    else:
        out.append(Check("ollama server", "warn", f"nothing answers at {host}",
                         "start it with `tanuki ollama start` (or `ollama serve`)", {"url": host, "version": None}))
    return out


def _micro() -> list[Check]:
    from .micro import micro_gguf

    try:
        path = micro_gguf()
        return [Check("micro backbone", "ok", f"{path.name} ({path.stat().st_size // 2**20} MiB)", data={"path": str(path)})]
    except TanukiError as exc:
        return [Check("micro backbone", "fail", exc.message, exc.hint or "")]


def _sandbox() -> list[Check]:
    if importlib.util.find_spec("tanuki_ollama.sandbox.detect"):
        from .sandbox.detect import doctor_checks  # issue "Sandbox"

        return [Check(**c) for c in doctor_checks()]
    bwrap = shutil.which("bwrap")
    return [Check("sandbox: jail (bubblewrap)", "ok" if bwrap else "warn", bwrap or "bwrap not installed",
                  "" if bwrap else "run ./install.sh (installs Debian's bubblewrap)")]


def _machine() -> list[Check]:
    mem = psutil.virtual_memory()
    out = [Check("machine", "info", f"{os.cpu_count()} CPUs, {mem.total / 2**30:.1f} GiB RAM "
                 f"({mem.available / 2**30:.1f} GiB free)", data={"cpus": os.cpu_count(), "ram_bytes": mem.total})]
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            q = subprocess.run([smi, "--query-gpu=name,memory.total,memory.free", "--format=csv,noheader"],
                               capture_output=True, text=True, timeout=20)
            out.append(Check("gpu", "ok", q.stdout.strip() or "nvidia-smi answered nothing"))
        except (OSError, subprocess.TimeoutExpired) as exc:
            out.append(Check("gpu", "warn", f"nvidia-smi failed: {exc}"))
    else:
        out.append(Check("gpu", "info", "no NVIDIA GPU: training and inference run on CPU (slow beyond the micro model)"))
    return out


def _training() -> list[Check]:
    out = []
    if _pkg("torch"):
        import torch

        cuda = torch.cuda.is_available()
        detail = f"CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}" if cuda else "no CUDA device"
        out.append(Check("torch device", "ok" if cuda else "warn", detail,
                         "" if cuda else "QLoRA on the 3B backbone needs a GPU with >= 16 GB; the micro recipe runs on CPU"))
    free = shutil.disk_usage(Settings.from_env().cache.parent if Settings.from_env().cache.parent.exists() else "/").free
    out.append(Check("disk", "ok" if free > 20 * 2**30 else "warn", f"{free / 2**30:.0f} GiB free",
                     "" if free > 20 * 2**30 else "free at least 20 GiB for checkpoints and GGUF exports"))
    return out


def run_checks(*, training: bool = False) -> list[Check]:
    settings = Settings.from_env()
    tc = Toolchain(settings.cache)
    checks = [Check("tanuki", "info", __version__)]
    checks += _python() + _packages(training) + _llama_cpp(tc) + _ollama(settings, tc) + _micro()
    checks.append(Check("engines", "info", ", ".join(available_engines())))
    checks += _sandbox() + _machine()
    if training:
        checks += _training()
    return checks


def as_json(checks: list[Check]) -> dict[str, Any]:
    by = {c.name: c for c in checks}
    server = by.get("ollama server")
    return {
        "ok": all(c.status != "fail" for c in checks),
        "ollama": {
            "url": server.data.get("url") if server else None,
            "version": server.data.get("version") if server else None,
            "binary": by["ollama binary"].data if "ollama binary" in by else {},
        },
        "checks": [asdict(c) for c in checks],
    }
