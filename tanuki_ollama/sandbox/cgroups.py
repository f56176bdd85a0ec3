"""Per-run control groups: total memory, processes and CPU bandwidth for the whole tree, peak memory and OOM
kills for the report, and a final sweep that kills whatever is left.

Supports cgroup v1 (memory + pids, optionally cpu), v2 with delegated controllers, and the hybrid layout where
v1 holds the controllers and a v2 group only gives ``cgroup.kill``. Groups are created under the caller's own
cgroup (``<own>/tanuki-sandbox/<run>``), so an outer limit still applies. Requires write access (root).
"""

from __future__ import annotations

import errno
import itertools
import os
import signal
import time
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

_counter = itertools.count()
PARENT = "tanuki-sandbox"


@dataclass(frozen=True)
class Layout:
    """Where each controller can be reached. ``v1``: controller -> directory of our own group in it."""

    v1: dict[str, Path] = field(default_factory=dict)
    v2: Path | None = None  # our own group in the unified hierarchy
    v2_controllers: frozenset[str] = frozenset()

    @property
    def version(self) -> str:
        if {"memory", "pids"} <= set(self.v1):
            return "v1" if self.v2 is None else "hybrid"
        if {"memory", "pids"} <= self.v2_controllers:
            return "v2"
        return "none"

    @property
    def usable(self) -> bool:
        return self.version != "none"


def _own_paths() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for c in (controllers.split(",") if controllers else [""]):
            out[c] = path
    return out


def _mounts() -> tuple[dict[str, Path], Path | None]:
    v1: dict[str, Path] = {}
    v2: Path | None = None
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fstype, _, opts = (right.split(" ") + ["", "", ""])[:3]
        mountpoint = Path(left.split(" ")[4])
        if fstype == "cgroup2" and v2 is None:
            v2 = mountpoint
        elif fstype == "cgroup":
            for opt in opts.split(","):
                if opt in ("memory", "pids", "cpu", "cpuacct"):
                    v1.setdefault(opt, mountpoint)
    return v1, v2


def _writable_dir(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)


@lru_cache(maxsize=1)
def layout() -> Layout:
    """Probe once per process which cgroup controllers this process may use."""
    try:
        own = _own_paths()
        mounts_v1, mount_v2 = _mounts()
    except OSError:
        return Layout()
    v1 = {}
    for ctrl, mnt in mounts_v1.items():
        d = mnt / own.get(ctrl, "/").lstrip("/")
        if _writable_dir(d):
            v1[ctrl] = d
    v2 = None
    v2_ctrls: frozenset[str] = frozenset()
    if mount_v2 is not None:
        d = mount_v2 / own.get("", "/").lstrip("/")
        if _writable_dir(d):
            v2 = d
            try:
                v2_ctrls = frozenset((d / "cgroup.controllers").read_text().split())
            except OSError:
                pass
    return Layout(v1=v1, v2=v2, v2_controllers=v2_ctrls)


def _write(path: Path, value: str) -> bool:
    try:
        path.write_text(value)
        return True
    except OSError:
        return False


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _kv(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


@cache
def _sweep_stale(parent: Path) -> None:
    """Once per process: remove empty groups left by tanuki processes that died before cleaning up."""
    try:
        children = list(parent.iterdir())
    except OSError:
        return
    for d in children:
        pid = d.name.split("-", 1)[0]
        if d.is_dir() and pid.isdigit() and not Path(f"/proc/{pid}").exists():
            try:
                d.rmdir()
            except OSError:
                pass


class RunCgroup:
    """The groups of one run. ``procs_files`` are the files a launcher writes its pid to before exec'ing bwrap."""

    def __init__(self, lay: Layout, memory_bytes: int | None, processes: int | None, cpus: float | None = None):
        """``cpus=None`` skips the cpu controller and, on hybrid hosts, the extra v2 group: every hierarchy a
        process joins costs milliseconds at start, and pid-namespace teardown already kills the tree.
        ``memory_bytes=None``: create the groups now and set the limits later with :meth:`limit` (a launcher
        started ahead of time joins them before its run is known)."""
        self.layout = lay
        name = f"{os.getpid()}-{next(_counter)}-{os.urandom(3).hex()}"
        self.dirs: dict[str, Path] = {}  # "memory", "pids", "cpu" (v1) or "v2"
        self.kill_dir: Path | None = None
        v = lay.version
        try:
            if v in ("v1", "hybrid"):
                for ctrl in ("memory", "pids", "cpu"):
                    if ctrl in lay.v1 and (ctrl != "cpu" or cpus is not None):
                        self.dirs[ctrl] = self._mk(lay.v1[ctrl], name)
                if lay.v2 is not None and cpus is not None:
                    d = self._mk(lay.v2, name)
                    self.dirs["v2"] = d
                    self.kill_dir = d if (d / "cgroup.kill").exists() else None
            elif v == "v2":
                d = self._mk(lay.v2, name)  # type: ignore[arg-type]
                _write(lay.v2 / PARENT / "cgroup.subtree_control", "+memory +pids +cpu")  # type: ignore[operator]
                self.dirs["v2"] = d
                self.kill_dir = d if (d / "cgroup.kill").exists() else None
            if memory_bytes is not None:
                self.limit(memory_bytes, processes or 1, cpus)
        except OSError:
            self.remove()
            raise

    def limit(self, memory_bytes: int, processes: int, cpus: float | None = None) -> None:
        """Set the run's limits (raises OSError when the memory limit cannot be set)."""
        if "memory" in self.dirs:  # v1 / hybrid
            mem = self.dirs["memory"]
            if not _write(mem / "memory.limit_in_bytes", str(memory_bytes)):
                raise OSError(errno.EIO, "memory.limit_in_bytes")
            _write(mem / "memory.memsw.limit_in_bytes", str(memory_bytes))  # absent without swap accounting
            _write(mem / "memory.swappiness", "0")
            _write(mem / "memory.max_usage_in_bytes", "0")  # peak counts from now (a waiting launcher used some)
            _write(self.dirs["pids"] / "pids.max", str(processes))
            if "cpu" in self.dirs and cpus is not None:
                _write(self.dirs["cpu"] / "cpu.cfs_period_us", "100000")
                _write(self.dirs["cpu"] / "cpu.cfs_quota_us", str(int(cpus * 100000)))
        elif "v2" in self.dirs:
            d = self.dirs["v2"]
            if not _write(d / "memory.max", str(memory_bytes)):
                raise OSError(errno.EIO, "memory.max")
            _write(d / "memory.swap.max", "0")
            _write(d / "pids.max", str(processes))
            if cpus is not None:
                _write(d / "cpu.max", f"{int(cpus * 100000)} 100000")

    @staticmethod
    def _mk(base: Path, name: str) -> Path:
        parent = base / PARENT
        if not parent.is_dir():
            try:
                parent.mkdir()
            except FileExistsError:
                pass
        _sweep_stale(parent)
        d = parent / name
        d.mkdir()
        return d

    @property
    def procs_files(self) -> list[Path]:
        return [d / "cgroup.procs" for d in self.dirs.values()]

    def stats(self) -> dict[str, int]:
        """``peak_memory_bytes``, ``oom_kills``, ``pids_max_hits`` (whatever the layout offers)."""
        out: dict[str, int] = {}
        if "memory" in self.dirs:
            m = self.dirs["memory"]
            peak = _read(m / "memory.max_usage_in_bytes").strip()
            if peak.isdigit():
                out["peak_memory_bytes"] = int(peak)
            oc = _kv(_read(m / "memory.oom_control"))
            out["oom_kills"] = oc.get("oom_kill", 0)
            if "oom_kill" not in oc:  # old kernels: a failed charge at the limit is the best evidence
                fail = _read(m / "memory.failcnt").strip()
                out["oom_kills"] = int(fail) if fail.isdigit() else 0
            out["pids_max_hits"] = _kv(_read(self.dirs["pids"] / "pids.events")).get("max", 0)
        elif "v2" in self.dirs:
            d = self.dirs["v2"]
            peak = _read(d / "memory.peak").strip()
            if peak.isdigit():
                out["peak_memory_bytes"] = int(peak)
            out["oom_kills"] = _kv(_read(d / "memory.events")).get("oom_kill", 0)
            out["pids_max_hits"] = _kv(_read(d / "pids.events")).get("max", 0)
        return out

    def _pids(self) -> set[int]:
        pids: set[int] = set()
        for f in self.procs_files:
            pids.update(int(x) for x in _read(f).split() if x.isdigit())
        return pids

    def kill_all(self, timeout_s: float = 5.0) -> bool:
        """SIGKILL every process left in the groups; True when they are empty."""
        if self.kill_dir is not None:
            _write(self.kill_dir / "cgroup.kill", "1")
        deadline = time.monotonic() + timeout_s
        while True:
            pids = self._pids()
            if not pids:
                return True
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)

    def remove(self) -> None:
        for d in list(self.dirs.values())[::-1]:
            for _ in range(200):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.005)
        self.dirs.clear()
