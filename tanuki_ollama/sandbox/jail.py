"""The jail backend: bubblewrap, no container engine.

What it confines (see ``sandbox/jail.yaml`` for the filesystem):

- namespaces: pid, net (loopback only, nothing routes out), ipc, uts, cgroup, mount; a fresh read-only tmpfs
  root with read-only toolchains; writable only ``/work``, ``/tmp`` and ``/dev/shm`` (size-limited tmpfs);
- identity: as root, privileged bwrap then ``setpriv`` to a throw-away uid (no capabilities, no_new_privs);
  otherwise a user namespace with ``--disable-userns``; a synthetic /etc/passwd;
- syscalls: the seccomp deny-list of :mod:`.seccomp`;
- limits: rlimits always (CPU, NPROC, NOFILE, FSIZE, CORE, MSGQUEUE); cgroups (total memory, pids, CPU
  bandwidth) where this process may create them; without cgroups total memory is only bounded per process
  (RLIMIT_DATA/AS), and the backend reports ``isolation="reduced"``;
- environment: bwrap itself starts with a minimal environment (its pid 1 keeps it), the program gets only the
  variables of the profile and the language;
- lifetime: the launcher runs in its own session; at any limit the process group is SIGKILLed, bwrap's pid 1
  dies with it (``--die-with-parent``) and takes the whole pid namespace along; the cgroup is swept after.

Not covered: kernel exploits (the kernel is shared), side channels, and CPU time summed over many processes
(each process has RLIMIT_CPU; the wall clock bounds the tree).
"""

from __future__ import annotations

import atexit
import fcntl
import glob
import math
import os
import random
import shlex
import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from ..errors import ToolchainMissing
from ..settings import Settings
from . import cgroups, seccomp
from .languages import load_yaml
from .models import MiB, PhaseResult
from .protocol import Phase, PhaseOutcome
from .supervise import spawn, supervise

INSTALL_HINT = "run `sudo sandbox/install-deps.sh` (installs bubblewrap from Debian's packages)"
_LAUNCH_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C"}


class UidPool:
    """Throw-away uids, one per concurrent run, locked with flock so that other tanuki processes skip them."""

    def __init__(self, lo: int, hi: int, lock_dir: Path):
        self.lo, self.hi, self.lock_dir = lo, hi, lock_dir
        self._mutex = threading.Lock()

    def acquire(self) -> tuple[int, int]:
        self.lock_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._mutex:
            for _ in range(1000):
                uid = random.randint(self.lo, self.hi)
                fd = os.open(self.lock_dir / str(uid), os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return uid, fd
                except BlockingIOError:
                    os.close(fd)
        raise RuntimeError("no free sandbox uid")

    @staticmethod
    def release(fd: int) -> None:
        os.close(fd)


@dataclass
class Launcher:
    """A waiting launcher: its process, its groups, and both ends' numbers of its control pipe."""

    proc: subprocess.Popen
    cgroup: cgroups.RunCgroup
    ctl_w: int  # ours
    ctl_fd: int  # the launcher's read end


class LauncherPool:
    """Launchers started ahead of time that already sit in a fresh set of run cgroups, waiting for their command.

    Why: moving a process into a cgroup (a write to ``cgroup.procs``) takes the kernel's cgroup-threadgroup lock
    for writing, which first waits for an RCU grace period unless the hierarchy is mounted with
    ``favordynmods``. Measured here (cgroup v1, kernel 6.18): 10-12 ms per run, spent on the critical path when
    the launcher joins its groups right before exec'ing bwrap. A waiting launcher pays that wait in the
    background. Isolation is unchanged: the run's limits are written into the groups before its command is sent,
    every launcher serves exactly one run (fresh groups, fresh counters), and its command is the same bwrap argv.

    A launcher is ``bash`` (dash only redirects fds 0-9): it joins its groups, then sources its command from a
    control pipe; EOF on that pipe (tanuki exited) makes it exit without running anything.
    """

    def __init__(self, layout: cgroups.Layout, size: int = 2):
        self.layout, self.size = layout, max(0, int(size))
        self._idle: list[Launcher] = []
        self._lock = threading.Lock()
        self._filling = False
        self._closed = False
        atexit.register(self.close)

    def _start_one(self) -> Launcher:
        cg = cgroups.RunCgroup(self.layout, None, None)
        ctl_r, ctl_w = os.pipe()
        try:
            steps = " && ".join(f"echo $$ > {shlex.quote(str(f))}" for f in cg.procs_files)
            proc = spawn(["/bin/bash", "--norc", "--noprofile", "-c", f"{steps} && . /dev/fd/{ctl_r}",
                          "tanuki-launch"], env=_LAUNCH_ENV, pass_fds=(ctl_r,))
        except BaseException:
            os.close(ctl_w)
            cg.remove()
            raise
        finally:
            os.close(ctl_r)
        return Launcher(proc, cg, ctl_w, ctl_r)

    def _fill(self) -> None:
        try:
            for _ in range(self.size):  # bounded: at most `size` launchers per fill
                with self._lock:
                    if self._closed or len(self._idle) >= self.size:
                        return
                try:
                    one = self._start_one()
                except OSError:
                    return  # the caller falls back to starting its launcher itself
                with self._lock:
                    if self._closed:
                        self._discard(one)
                        return
                    self._idle.append(one)
        finally:
            with self._lock:
                self._filling = False

    def refill(self) -> None:
        with self._lock:
            if self._filling or self._closed or len(self._idle) >= self.size:
                return
            self._filling = True
        threading.Thread(target=self._fill, name="sandbox-launchers", daemon=True).start()

    def take(self) -> Launcher | None:
        """A waiting launcher (process, its groups, the write end of its control pipe), or None."""
        got = None
        with self._lock:
            while self._idle and got is None:  # bounded by the pool size
                one = self._idle.pop(0)
                if one.proc.poll() is None:
                    got = one
                else:
                    self._discard(one)
        self.refill()
        return got

    @staticmethod
    def _discard(one: Launcher) -> None:
        proc, cg = one.proc, one.cgroup
        os.close(one.ctl_w)  # EOF: the launcher exits without running anything
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for f in (proc.stdin, proc.stdout, proc.stderr):
            if f:
                f.close()
        cg.kill_all()
        cg.remove()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for one in idle:
            self._discard(one)


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name, 0)  # not CLOEXEC: passed to bwrap through pass_fds
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _parents(dest: str, made: set[str]) -> list[str]:
    """``--dir`` for each missing ancestor of a mount point, world-readable (bwrap would make them 0700)."""
    out = []
    for parent in list(PurePosixPath(dest).parents)[::-1][1:]:
        if str(parent) not in made:
            made.add(str(parent))
            out += ["--perms", "0755", "--dir", str(parent)]
    return out


def _check_relpath(name: str) -> PurePosixPath:
    p = PurePosixPath(name)
    if p.is_absolute() or not p.parts or ".." in p.parts or any(c in name for c in "\0\n"):
        from ..errors import ConfigError

        raise ConfigError(f"bad file name {name!r}: must be a relative path inside the work dir",
                          "use names like main.py or src/util.py")
    return p


class JailBackend:
    name = "jail"

    def __init__(self, *, use_cgroups: bool = True, cpu_quota: bool = False, bwrap: str | None = None,
                 warm_launchers: int = 2):
        """``warm_launchers``: how many launchers to keep waiting inside fresh cgroups (see
        :class:`LauncherPool`; 0 = each run's launcher joins its groups itself, on the critical path)."""
        self.bwrap = bwrap or shutil.which("bwrap") or (os.path.exists("/usr/bin/bwrap") and "/usr/bin/bwrap")
        if not self.bwrap:
            raise ToolchainMissing("bubblewrap (bwrap) is not installed: the jail sandbox needs it", INSTALL_HINT)
        self.profile = load_yaml("jail.yaml")
        self.privileged = os.geteuid() == 0
        lay = cgroups.layout() if (use_cgroups and self.privileged) else cgroups.Layout()
        self.cgroups = lay if lay.usable else None
        self.cpu_quota = cpu_quota
        self.warnings: list[str] = []
        if self.cgroups is None:
            self.warnings.append("no usable cgroups: total memory of the tree is not enforced (per-process "
                                 "RLIMIT_DATA/RLIMIT_AS only), processes only by RLIMIT_NPROC")
        if not seccomp.supported():
            self.warnings.append("no seccomp filter for this CPU architecture")
        if not self.privileged:
            self.warnings.append("unprivileged: user-namespace jail")
        self.isolation: Literal["full", "reduced"] = "reduced" if self.warnings else "full"
        self.level = ("root" if self.privileged else "userns") + ("+cgroups-" + lay.version if self.cgroups else "")
        lo, hi = self.profile.get("uid_range", [200000, 299999])
        self.uids = UidPool(int(lo), int(hi), Settings.from_env().cache / "sandbox" / "uid-locks")
        self._filter = seccomp.deny_filter() if seccomp.supported() else None
        self._static = self._static_args()
        self.launchers = (LauncherPool(self.cgroups, warm_launchers)
                          if self.cgroups is not None and warm_launchers > 0 and not cpu_quota else None)

    # --- arguments --------------------------------------------------------------------------------------
    def _static_args(self) -> list[str]:
        a = [self.bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
             "--unshare-cgroup-try", "--hostname", str(self.profile.get("hostname", "sandbox")),
             "--die-with-parent", "--new-session", "--clearenv"]
        if not self.privileged:
            a += ["--unshare-user", "--disable-userns", "--uid", "65534", "--gid", "65534"]
        made: set[str] = set()
        for pattern in self.profile.get("ro_binds", []):
            for path in sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]:
                if os.path.exists(path):
                    a += _parents(path, made) + ["--ro-bind", path, path]
        for link in self.profile.get("merged_usr_links") or {}:
            if os.path.islink(link):
                a += ["--symlink", os.readlink(link), link]
            elif os.path.isdir(link):
                a += ["--ro-bind", link, link]
        a += ["--proc", "/proc", "--dev", "/dev"]
        return a

    def sandbox_paths(self) -> dict[str, str]:
        return {"work": "/work", "tmp": "/tmp"}

    def _identity_files(self, uid: int) -> dict[str, bytes]:
        host = self.profile.get("hostname", "sandbox")
        return {
            "/etc/passwd": f"root:x:0:0:root:/root:/bin/sh\nsandbox:x:{uid}:{uid}:sandbox:/tmp:/bin/sh\n"
                           f"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n".encode(),
            "/etc/group": f"root:x:0:\nsandbox:x:{uid}:\nnogroup:x:65534:\n".encode(),
            "/etc/hosts": f"127.0.0.1\tlocalhost {host}\n::1\tlocalhost ip6-localhost\n".encode(),
            "/etc/hostname": f"{host}\n".encode(),
        }

    def _ulimits(self, phase: Phase, *, bash: bool = False) -> str:
        """The same limits as ``ulimit`` commands (dash, or bash for a waiting launcher: bash spells processes
        ``-u`` and counts file sizes in KiB), set on the launcher (root, so NPROC does not bind it) and
        inherited through bwrap and setpriv by the throw-away uid: one exec less than prlimit."""
        lim = phase.limits
        cpu = max(1, math.ceil(lim.cpu_s))
        fsize = lim.file_size_mb * MiB // (1024 if bash else 512)
        cmds = [f"ulimit -S -t {cpu}", f"ulimit -H -t {cpu + 1}", f"ulimit -{'u' if bash else 'p'} {lim.processes}",
                f"ulimit -n {lim.open_files}", f"ulimit -f {fsize}", "ulimit -c 0"]
        if self.cgroups is None:
            mem_kb = lim.memory_mb * 1024
            cmds += [f"ulimit -d {mem_kb}", f"ulimit -v {2 * mem_kb + 1024 * 1024}"]
        return " && ".join(cmds)

    def _rlimits(self, phase: Phase) -> list[str]:
        lim = phase.limits
        cpu = max(1, math.ceil(lim.cpu_s))
        out = [f"--cpu={cpu}:{cpu + 1}", f"--nproc={lim.processes}:{lim.processes}",
               f"--nofile={lim.open_files}:{lim.open_files}", f"--fsize={lim.file_size_mb * MiB}:{lim.file_size_mb * MiB}",
               "--core=0:0", "--msgqueue=0:0"]
        if self.cgroups is None:  # per-process memory bounds only
            mem = lim.memory_mb * MiB
            out += [f"--data={mem}:{mem}", f"--as={2 * mem + 1024 * MiB}:{2 * mem + 1024 * MiB}"]
        return out

    # --- execution --------------------------------------------------------------------------------------
    def execute(self, phase: Phase) -> PhaseOutcome:
        lim = phase.limits
        uid, uid_fd = self.uids.acquire() if self.privileged else (65534, -1)
        fds: list[int] = []
        cg = None
        warm = self.launchers.take() if self.launchers is not None else None
        try:
            args = list(self._static)
            args += ["--perms", "1777", "--size", str(lim.tmp_mb * MiB), "--tmpfs", "/tmp",
                     "--perms", "1777", "--size", str(lim.tmp_mb * MiB), "--tmpfs", "/dev/shm",
                     "--perms", "0777", "--size", str(lim.workdir_mb * MiB), "--tmpfs", "/work"]
            dirs: set[str] = set()
            for name, data in sorted(phase.files.items()):
                rel = _check_relpath(name)
                for parent in list(rel.parents)[::-1][1:]:
                    if str(parent) not in dirs:
                        dirs.add(str(parent))
                        args += ["--perms", "0777", "--dir", f"/work/{parent}"]
                fd = _memfd("src", data)
                fds.append(fd)
                args += ["--perms", "0644", "--file", str(fd), f"/work/{rel}"]
            for d in phase.dirs:
                args += ["--perms", "0777", "--dir", f"/work/{_check_relpath(d)}"]
            made = {"/work"}
            for host, dest in phase.binds:
                args += _parents(dest, made) + ["--ro-bind", str(host), dest]
            for path, data in self._identity_files(uid).items():
                fd = _memfd("etc", data)
                fds.append(fd)
                args += ["--ro-bind-data", str(fd), path]
            env = {**self.profile.get("env", {}), **phase.env}
            for k, v in env.items():
                args += ["--setenv", k, str(v)]
            args += ["--chdir", "/work"]
            if self._filter is not None:
                fd = _memfd("seccomp", self._filter)
                fds.append(fd)
                args += ["--seccomp", str(fd)]
            args += ["--remount-ro", "/", "--"]
            if self.privileged:
                args += ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                         "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
            else:
                args += ["/usr/bin/prlimit", *self._rlimits(phase), "--"]
            export_r = export_w = None
            if phase.export:
                export_r, export_w = os.pipe()
                os.set_inheritable(export_w, True)
                paths = " ".join(shlex.quote(str(_check_relpath(p))) for p in phase.export)
                script = (f'r=0; "$@" {export_w}>&- || r=$?; '
                          f'tar -C /work -cf - -- {paths} >&{export_w} 2>/dev/null; exit $r')
                args += ["/bin/bash", "-c", script, "tanuki-export"]
            args += phase.argv
            sup_args = {"env": _LAUNCH_ENV, "stdin": phase.stdin, "wall_s": lim.wall_s,
                        "output_limit": lim.output_bytes, "export_fd": export_r,
                        "export_limit": phase.export_limit_bytes}
            passed = tuple(fds) + ((export_w,) if export_w is not None else ())
            if warm is not None:
                cg = warm.cgroup
                cg.limit(lim.memory_mb * MiB, lim.processes)
                launcher, warm = warm, None
                sup = supervise(args, **sup_args, proc=launcher.proc, pass_fds=(), close_after_spawn=[],
                                close_on_exit=(export_w,) if export_w is not None else (), kill_extra=cg.kill_all,
                                start=lambda: self._send(launcher, phase, args, tuple(fds), export_w))
            else:
                steps = []
                if self.cgroups is not None:
                    cg = cgroups.RunCgroup(self.cgroups, lim.memory_mb * MiB, lim.processes,
                                           lim.cpus if self.cpu_quota else None)
                    steps += [f"echo $$ > {shlex.quote(str(f))}" for f in cg.procs_files]
                if self.privileged:
                    steps.append(self._ulimits(phase))
                if steps:
                    args = ["/bin/sh", "-c", " && ".join(steps) + ' && exec "$@"', "tanuki-launch", *args]
                sup = supervise(args, **sup_args, pass_fds=passed, close_after_spawn=list(passed),
                                kill_extra=cg.kill_all if cg is not None else None)
                fds.clear()  # closed by supervise
            stats = {}
            if cg is not None:
                cg.kill_all()  # nothing outlives the run
                stats = cg.stats()
            return PhaseOutcome(self._result(sup, stats, lim), sup.export, sup.export_truncated)
        finally:
            for fd in fds:
                os.close(fd)
            if warm is not None:  # taken but not used (an error before the run): it must not serve another
                LauncherPool._discard(warm)
            if cg is not None:  # rmdir waits for the kernel to release the dead tree: off the critical path
                threading.Thread(target=cg.remove, name="sandbox-cgroup-rm", daemon=True).start()
            if uid_fd >= 0:
                self.uids.release(uid_fd)

    def _send(self, launcher: Launcher, phase: Phase, args: list[str], inputs: tuple[int, ...],
              export_w: int | None) -> None:
        """Hand a waiting launcher its command: the limits, then exec bwrap with our fds reopened at the same
        numbers through /proc (a launcher started earlier did not inherit them); its control pipe is closed."""
        me = os.getpid()
        redirs = [f"{launcher.ctl_fd}<&-"] + [f"{fd}</proc/{me}/fd/{fd}" for fd in inputs]
        if export_w is not None:
            redirs.append(f"{export_w}>/proc/{me}/fd/{export_w}")
        script = (self._ulimits(phase, bash=True) + " && exec " + " ".join(shlex.quote(a) for a in args)
                  + " " + " ".join(redirs) + "\n")
        try:
            view = memoryview(script.encode())
            while view:  # bounded: every write moves forward or raises
                view = view[os.write(launcher.ctl_w, view):]
        finally:
            os.close(launcher.ctl_w)

    @staticmethod
    def _result(sup, stats: dict[str, int], lim) -> PhaseResult:
        exit_code = sig = None
        if sup.status is not None:
            if os.WIFSIGNALED(sup.status):
                sig = os.WTERMSIG(sup.status)
            else:
                exit_code = os.WEXITSTATUS(sup.status)
                if 128 < exit_code <= 128 + 64:  # the tree's process died of a signal (bwrap reports 128+N)
                    sig = exit_code - 128
        cpu = None
        if sup.rusage is not None:
            cpu = sup.rusage.ru_utime + sup.rusage.ru_stime
        peak = stats.get("peak_memory_bytes")
        if peak is None and sup.rusage is not None:
            peak = sup.rusage.ru_maxrss * 1024
        oom = stats.get("oom_kills", 0) > 0
        limit = None
        if sup.output_truncated:
            limit = "output"
        elif sup.timed_out:
            limit = "wall"
        elif oom:
            limit = "memory"
        elif sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu is not None and cpu >= lim.cpu_s * 0.95):
            limit = "cpu"
        elif sig == signal.SIGXFSZ:
            limit = "file_size"
        elif stats.get("pids_max_hits", 0) > 0:
            limit = "processes"
        return PhaseResult(
            stdout=sup.stdout.decode("utf-8", "replace"), stderr=sup.stderr.decode("utf-8", "replace"),
            exit_code=exit_code, signal=sig, timed_out=limit in ("wall", "cpu"), oom_killed=oom,
            output_truncated=sup.output_truncated, limit_hit=limit, duration_s=round(sup.duration_s, 4),
            cpu_s=None if cpu is None else round(cpu, 4), peak_memory_bytes=peak,
        )


def probe(backend: JailBackend, timeout_s: float = 10.0) -> tuple[bool, str]:
    """A canary run: bwrap starts, the jail has no network route, and pid 1 carries no host environment."""
    from .models import Limits

    script = ("import os,socket\n"
              "env=open('/proc/1/environ','rb').read() if os.access('/proc/1/environ', os.R_OK) else b''\n"
              "s=socket.socket(); s.settimeout(1)\n"
              "try:\n  s.connect(('10.255.255.1', 9)); net='open'\nexcept OSError: net='blocked'\n"
              "print(net, len(env), os.getuid())\n")
    phase = Phase(argv=["/usr/bin/python3", "-c", script], limits=Limits(wall_s=timeout_s))
    if not os.path.exists("/usr/bin/python3"):
        phase = Phase(argv=["/bin/sh", "-c", "echo blocked 0 $(id -u)"], limits=Limits(wall_s=timeout_s))
    try:
        out = backend.execute(phase).result
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"bwrap failed to start: {exc}"
    if out.exit_code != 0:
        return False, f"bwrap canary failed (exit {out.exit_code}): {out.stderr.strip()[-300:]}"
    parts = out.stdout.split()
    if len(parts) != 3 or parts[0] != "blocked":
        return False, f"canary saw a network route: {out.stdout.strip()}"
    if parts[1] != "0" and backend.privileged is False:
        return False, "the jail's pid 1 carries an environment"
    if parts[2] == "0":
        return False, "the canary ran as uid 0"
    return True, f"canary ok in {out.duration_s * 1000:.0f} ms"
