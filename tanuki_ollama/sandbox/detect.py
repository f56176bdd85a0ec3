"""Which sandbox backends and languages this machine can use; picks the strongest backend.

Order: the jail with full isolation (bubblewrap + cgroups + seccomp), then a container engine, then (only when
the caller opts in with ``allow_weak``) the jail with reduced isolation. With none of these, runs are refused.
``TANUKI_SANDBOX_BACKEND`` (``jail`` | ``container``) forces one.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

from ..errors import TanukiError, ToolchainMissing
from . import cgroups

_lock = threading.Lock()
_cache: dict[tuple, Any] = {}


class SandboxUnavailable(TanukiError):
    """No backend gives the isolation asked for."""


@dataclass
class BackendInfo:
    name: str
    usable: bool
    isolation: str = ""  # "full" | "reduced" | ""
    detail: str = ""
    warnings: list[str] = field(default_factory=list)
    backend: Any = None


def _jail(use_cgroups: bool = True) -> BackendInfo:
    from .jail import JailBackend, probe

    try:
        b = JailBackend(use_cgroups=use_cgroups)
    except TanukiError as exc:
        return BackendInfo("jail", False, detail=str(exc.message), warnings=[exc.hint or ""])
    ok, detail = probe(b)
    if not ok:
        return BackendInfo("jail", False, detail=detail)
    return BackendInfo("jail", True, b.isolation, f"bubblewrap, {b.level}; {detail}", list(b.warnings), b)


def _container() -> BackendInfo:
    from .container import ContainerBackend

    try:
        b = ContainerBackend.connect()
    except TanukiError as exc:
        return BackendInfo("container", False, detail=exc.message, warnings=[exc.hint or ""])
    return BackendInfo("container", True, b.isolation, b.describe(), list(b.warnings), b)


def backends(refresh: bool = False) -> list[BackendInfo]:
    """Probe every backend once per process (a ~0.1 s canary for the jail, a ping for the engine)."""
    with _lock:
        if refresh or "all" not in _cache:
            _cache["all"] = [_jail(), _container()]
        return _cache["all"]


def select(name: str | None = None, *, allow_weak: bool = False) -> Any:
    """The backend to run with. Raises :class:`SandboxUnavailable` naming the fix."""
    name = name or os.environ.get("TANUKI_SANDBOX_BACKEND") or None
    infos = backends()
    if name is not None and name not in ("jail", "container"):
        raise SandboxUnavailable(f"unknown sandbox backend {name!r}", "use jail or container")
    candidates = [i for i in infos if i.usable and (name is None or i.name == name)]
    for info in candidates:
        if info.isolation == "full":
            return info.backend
    if allow_weak and candidates:
        return candidates[0].backend
    reasons = "; ".join(f"{i.name}: {i.detail}" + (f" ({', '.join(w for w in i.warnings if w)})" if i.warnings else "")
                        for i in infos if name is None or i.name == name)
    if candidates:
        raise SandboxUnavailable(f"only reduced isolation is available ({reasons})",
                                 "run as root with cgroups, or opt in with allow_weak=True / --allow-weak")
    raise SandboxUnavailable(f"no sandbox backend is usable ({reasons})",
                             "run `sudo sandbox/install-deps.sh` to install bubblewrap, or start Docker/Podman "
                             "and build the image (see sandbox/Containerfile)")


def doctor_checks() -> list[dict]:
    """For ``tanuki doctor``: one check per backend and per language."""
    from .languages import default_table

    out: list[dict] = []
    lay = cgroups.layout()
    for info in backends():
        status = "ok" if info.usable and info.isolation == "full" else ("warn" if info.usable else
                                                                       ("info" if info.name == "container" else "warn"))
        fix = "" if status == "ok" else "; ".join(w for w in info.warnings if w) or (
            "sudo sandbox/install-deps.sh" if info.name == "jail" else "start Docker/Podman and build sandbox/Containerfile")
        out.append({"name": f"sandbox {info.name}", "status": status,
                    "detail": (f"{info.isolation} isolation: " if info.usable else "unusable: ") + info.detail,
                    "fix": fix, "data": {"usable": info.usable, "isolation": info.isolation,
                                         "warnings": info.warnings, "cgroups": lay.version}})
    if not any(i.usable and i.isolation == "full" for i in backends()):
        out[0]["status"] = "fail"
    try:
        table = default_table()
    except TanukiError as exc:
        return out + [{"name": "sandbox languages", "status": "fail", "detail": exc.message, "fix": exc.hint or "",
                       "data": {}}]
    for lang in table:
        try:
            lang.check_toolchain()
            version = lang.version_text() or ""
            out.append({"name": f"sandbox lang {lang.name}", "status": "ok", "detail": version,
                        "fix": "", "data": {"language": lang.name, "version": version, "compiled": lang.compiled}})
        except ToolchainMissing as exc:
            out.append({"name": f"sandbox lang {lang.name}", "status": "warn", "detail": exc.message,
                        "fix": exc.hint or "", "data": {"language": lang.name, "version": None,
                                                        "compiled": lang.compiled}})
    return out
