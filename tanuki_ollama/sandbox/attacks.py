"""The attack suite behind ``tanuki sandbox check``: hostile programs, each of which must be contained.

Every attack is a bounded program (no unbounded loops; network attempts target 127.0.0.1 only) plus a
host-side verdict that looks at the result *and* at the host (files that must not appear, a listener that
must not be reached, a sentinel process that must survive, processes that must not outlive the run).
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from pydantic import BaseModel

from .models import ExecutionResult, Limits, MiB

ATTACK_LIMITS = Limits(wall_s=5.0, cpu_s=3.0, memory_mb=256, processes=64, output_bytes=1 * MiB,
                       file_size_mb=16, workdir_mb=64, tmp_mb=64)


class AttackOutcome(BaseModel):
    name: str
    description: str
    contained: bool
    evidence: str
    duration_s: float


@dataclass
class HostContext:
    """Host-side bait: a secret env var, a secret file, a loopback listener and a sentinel process."""

    token: str = field(default_factory=lambda: "TANUKI-CANARY-" + secrets.token_hex(8))
    tmp: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="tanuki-attack-")))
    connections: int = 0

    def __post_init__(self) -> None:
        self.secret_file = self.tmp / "secret.txt"
        self.secret_file.write_text(self.token + "\n")
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()
        self.sentinel = subprocess.Popen(["/bin/sleep", "300"], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._old_env = os.environ.get("TANUKI_CANARY_SECRET")
        os.environ["TANUKI_CANARY_SECRET"] = self.token  # bait: must never reach the sandbox

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
                self.connections += 1
                conn.close()
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.listener.close()
        self.sentinel.kill()
        self.sentinel.wait()
        if self._old_env is None:
            os.environ.pop("TANUKI_CANARY_SECRET", None)
        else:
            os.environ["TANUKI_CANARY_SECRET"] = self._old_env
        for p in self.tmp.iterdir():
            p.unlink()
        self.tmp.rmdir()

    def fill(self, code: str) -> str:
        return (code.replace("@TOKEN@", self.token).replace("@SECRET_FILE@", str(self.secret_file))
                .replace("@TMP@", str(self.tmp)).replace("@PORT@", str(self.port))
                .replace("@SENTINEL@", str(self.sentinel.pid)).replace("@PROJECT_FILE@", str(Path(__file__).resolve()))
                .replace("@HOME@", str(Path.home())))


Verdict = Callable[[ExecutionResult, HostContext], tuple[bool, str]]


@dataclass
class Attack:
    name: str
    description: str
    code: str
    verdict: Verdict
    language: str = "python"
    collect: list[str] = field(default_factory=list)


def _no_token(r: ExecutionResult, ctx: HostContext) -> tuple[bool, str]:
    seen = ctx.token in (r.stdout + r.stderr + "".join(r.files.values()) +
                         (r.compile.stdout + r.compile.stderr if r.compile else ""))
    leaks = [ln for ln in r.stdout.splitlines() if ln.startswith("LEAK")]
    return (not seen and not leaks), ("host secret seen: " + "; ".join(leaks)[:200] if seen or leaks
                                      else f"nothing read; {r.stdout.strip()[-160:]}")


def _all_failed(r: ExecutionResult, ctx: HostContext) -> tuple[bool, str]:
    ok_lines = [ln for ln in r.stdout.splitlines() if ln.startswith("OK ")]
    fail_lines = [ln for ln in r.stdout.splitlines() if ln.startswith("FAIL ")]
    done = r.exit_code == 0 and fail_lines
    return bool(done and not ok_lines), ("succeeded: " + ", ".join(ok_lines) if ok_lines else
                                         f"all refused ({len(fail_lines)}): " + " ".join(l[5:] for l in fail_lines)[:200]
                                         if done else f"attack did not run: exit {r.exit_code} {r.stderr[-200:]}")


def _bounded_time(r: ExecutionResult, ctx: HostContext) -> tuple[bool, str]:
    ok = r.timed_out and r.duration_s < ATTACK_LIMITS.wall_s + 2
    return ok, f"limit_hit={r.limit_hit}, stopped after {r.duration_s:.2f} s"


def _memory(r: ExecutionResult, ctx: HostContext) -> tuple[bool, str]:
    peak = r.peak_memory_bytes or 0
    got = r.stdout.strip().splitlines()[-1:] or [""]
    stopped = r.oom_killed or "MemoryError" in r.stderr or "refused" in r.stdout
    ok = stopped and peak <= ATTACK_LIMITS.memory_mb * MiB * 1.1 and "DONE" not in r.stdout
    return ok, f"oom_killed={r.oom_killed}, peak {peak / MiB:.0f} MiB, last: {got[0][:80]}"


def _output(r: ExecutionResult, ctx: HostContext) -> tuple[bool, str]:
    n = len(r.stdout.encode()) + len(r.stderr.encode())
    return r.output_truncated and n <= ATTACK_LIMITS.output_bytes, f"truncated at {n} bytes after {r.duration_s:.2f} s"


def _file_size(r: ExecutionResult, ctx: HostContext) -> tuple[bool, str]:
    nums = [int(x) for x in r.stdout.split() if x.isdigit()]
    biggest = max(nums) if nums else -1
    return 0 <= biggest <= ATTACK_LIMITS.file_size_mb * MiB, f"largest file {biggest / MiB:.1f} MiB; {r.stdout.strip()[-80:]}"


def _disk(r: ExecutionResult, ctx: HostContext) -> tuple[bool, str]:
    vals = dict(line.split() for line in r.stdout.splitlines() if len(line.split()) == 2)
    work, tmp = int(vals.get("work", -1)), int(vals.get("tmp", -1))
    ok = 0 <= work <= (ATTACK_LIMITS.workdir_mb + 1) * MiB and 0 <= tmp <= (ATTACK_LIMITS.tmp_mb + 1) * MiB
    return ok, f"wrote /work {work / MiB:.0f} MiB, /tmp {tmp / MiB:.0f} MiB before ENOSPC/limit"


def _write_outside(r: ExecutionResult, ctx: HostContext) -> tuple[bool, str]:
    targets = [Path("/etc/tanuki-pwned"), Path("/usr/bin/tanuki-pwned"), Path("/tanuki-pwned"),
               ctx.tmp / "pwned", Path.home() / "tanuki-pwned"]
    found = [str(p) for p in targets if p.exists()]
    for p in targets:
        if p.exists():
            p.unlink()
    return not found, ("host files written: " + ", ".join(found) if found
                       else "no host file written; " + r.stdout.strip()[-120:])


def _network(r: ExecutionResult, ctx: HostContext) -> tuple[bool, str]:
    time.sleep(0.3)  # let the accept thread see a connection, if any
    ok = ctx.connections == 0 and "CONNECTED" not in r.stdout and "RESOLVED" not in r.stdout
    return ok, f"host listener saw {ctx.connections} connections; {r.stdout.strip()[-140:]}"


def _orphans(r: ExecutionResult, ctx: HostContext) -> tuple[bool, str]:
    left = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            if any(ctx.token in a for a in (p.info["cmdline"] or [])):
                left.append(p.info["pid"])
        except (psutil.Error, TypeError):
            pass
    spawned = "spawned" in r.stdout
    return spawned and not left, (f"left running on the host: {left}" if left else
                                  "background, setsid and double-forked processes died with the run"
                                  if spawned else f"attack did not run: {r.stderr[-200:]}")


def _signals(r: ExecutionResult, ctx: HostContext) -> tuple[bool, str]:
    alive = ctx.sentinel.poll() is None
    return alive, f"host sentinel pid {ctx.sentinel.pid} {'alive' if alive else 'KILLED'}; {r.stdout.strip()[-120:]}"


def _proc(r: ExecutionResult, ctx: HostContext) -> tuple[bool, str]:
    nums = [int(x) for x in r.stdout.split() if x.isdigit()]
    ok = "SENTINEL" not in r.stdout and nums and nums[0] <= 6
    return bool(ok), f"/proc shows {nums[0] if nums else '?'} processes, no host process visible" if ok else r.stdout[-200:]


def _caps(r: ExecutionResult, ctx: HostContext) -> tuple[bool, str]:
    s = dict(line.split(":", 1) for line in r.stdout.splitlines() if ":" in line)
    s = {k: v.strip() for k, v in s.items()}
    ok = (s.get("CapEff") == "0000000000000000" and s.get("CapBnd") == "0000000000000000" and s.get("NoNewPrivs") == "1"
          and s.get("Seccomp") == "2" and s.get("Uid", "0").split()[0] != "0")
    return ok, " ".join(f"{k}={s.get(k)}" for k in ("Uid", "CapEff", "CapBnd", "NoNewPrivs", "Seccomp"))


def _compile_secret(r: ExecutionResult, ctx: HostContext) -> tuple[bool, str]:
    seen, _ = _no_token(r, ctx)
    err = r.compile.stderr if r.compile else ""
    return seen and r.compile_failed and "root:" not in err, "compile failed: " + (err.strip().splitlines() or [""])[0][:120]


_LIBC = "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"

ATTACKS: list[Attack] = [
    Attack("read host files", "/etc/shadow, the user's home, a host secret file, the project's own source",
           """import os
for p in ['/etc/shadow', '@HOME@', '@SECRET_FILE@', '@PROJECT_FILE@', '/proc/1/root/etc/shadow', '/root/.bash_history']:
    try:
        data = os.listdir(p) if os.path.isdir(p) else open(p, errors='replace').read(200)
        print('LEAK', p, str(data)[:80])
    except OSError as e:
        print('denied', p, e.errno)
""", _no_token),
    Attack("environment secrets", "host env vars via os.environ, /proc/1/environ and every /proc/*/environ",
           """import os
print('LEAK env' if any('@TOKEN@'[:14] in v for v in os.environ.values()) else 'env clean', len(os.environ))
for d in os.listdir('/proc'):
    if d.isdigit() or d == 'self':
        try:
            if b'TANUKI-CANARY' in open(f'/proc/{d}/environ', 'rb').read():
                print('LEAK /proc', d)
        except OSError:
            pass
""", _no_token),
    Attack("write outside work dir", "create files in /etc, /usr/bin, /, the host tmp dir and the home",
           """for p in ['/etc/tanuki-pwned', '/usr/bin/tanuki-pwned', '/tanuki-pwned', '@TMP@/pwned', '@HOME@/tanuki-pwned']:
    try:
        open(p, 'w').write('x'); print('WROTE', p)
    except OSError as e:
        print('denied', p, e.errno)
""", _write_outside),
    Attack("network", "TCP to a host listener on 127.0.0.1 and ::1, UDP, and a DNS lookup",
           """import socket
for fam, addr in [(socket.AF_INET, ('127.0.0.1', @PORT@)), (socket.AF_INET6, ('::1', @PORT@))]:
    try:
        s = socket.socket(fam); s.settimeout(1); s.connect(addr); print('CONNECTED', addr)
    except OSError as e:
        print('refused', addr, e.errno)
try:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.sendto(b'x', ('127.0.0.1', @PORT@)); print('udp sent locally')
except OSError as e:
    print('udp refused', e.errno)
try:
    socket.setdefaulttimeout(2); print('RESOLVED', socket.getaddrinfo('example.com', 80)[0][4])
except OSError as e:
    print('dns failed', e)
""", _network),
    Attack("fork bomb", "fork up to 5000 children that sleep",
           """import os, time
n = 0
for i in range(5000):
    try:
        pid = os.fork()
    except OSError as e:
        print('fork refused after', n, e.errno); break
    if pid == 0:
        time.sleep(30); os._exit(0)
    n += 1
print('forked', n)
""", lambda r, c: (("refused" in r.stdout or r.timed_out) and "forked 5000" not in r.stdout,
                   r.stdout.strip().splitlines()[0][:100] if r.stdout.strip() else f"limit_hit={r.limit_hit}")),
    Attack("memory bomb", "allocate and touch up to 4 GiB in 64 MiB steps",
           """import sys
blocks = []
for i in range(64):
    blocks.append(b'x' * (64 << 20)); print('allocated', (i + 1) * 64, 'MiB', flush=True)
print('DONE')
""", _memory),
    Attack("shared-memory bomb", "touch 2 GiB of MAP_SHARED anonymous memory (escapes RLIMIT_DATA)",
           """import mmap
m = mmap.mmap(-1, 2 << 30, flags=mmap.MAP_SHARED)
for off in range(0, 2 << 30, 4096):
    m[off] = 1
    if off % (128 << 20) == 0: print('touched', off >> 20, 'MiB', flush=True)
print('DONE')
""", _memory),
    Attack("CPU spin", "a busy loop of 10^11 iterations", "i = 0\nwhile i < 10**11:\n    i += 1\n", _bounded_time),
    Attack("sleep past the wall clock", "sleep for an hour", "import time\ntime.sleep(3600)\n", _bounded_time),
    Attack("output flood", "write 10 GiB to stdout",
           "import sys\nchunk = 'x' * 65536\nfor i in range(160000):\n    sys.stdout.write(chunk)\n", _output),
    Attack("huge file", "write a 1 GiB file in the work dir",
           """import os
n = 0
try:
    with open('big', 'wb') as f:
        for i in range(1024):
            f.write(b'x' * (1 << 20)); f.flush(); n += 1 << 20
except OSError as e:
    print('stopped', e.errno)
print(os.path.getsize('big'))
""", _file_size),
    Attack("disk fill", "fill /work and /tmp with files just under the file-size limit",
           """import os
for d in ['/work', '/tmp']:
    total = 0
    for i in range(200):
        try:
            with open(f'{d}/fill{i}', 'wb') as f:
                for j in range(15):
                    f.write(b'x' * (1 << 20)); total += 1 << 20
        except OSError:
            break
    print(d.strip('/'), total)
    for i in range(200):
        try: os.unlink(f'{d}/fill{i}')
        except OSError: pass
""", _disk),
    Attack("orphan processes", "a background child, and a setsid + double-forked daemon, left running",
           """import os, subprocess
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv('/bin/sleep', ['@TOKEN@-daemon', '120'])
    os._exit(0)
subprocess.Popen(['/usr/bin/python3', '-c', 'import time; time.sleep(120)', '@TOKEN@-bg'], start_new_session=True)
print('spawned')
""", _orphans),
    Attack("signal host processes", "SIGKILL a host process by pid, then kill(-1)",
           """import os, signal
try:
    os.kill(@SENTINEL@, signal.SIGKILL); print('KILLED host pid')
except OSError as e:
    print('kill refused', e.errno)
print('kill -1 next', flush=True)
os.kill(-1, signal.SIGKILL)
""", _signals),
    Attack("/proc snooping", "list processes and command lines via /proc",
           """import os
pids = [d for d in os.listdir('/proc') if d.isdigit()]
print(len(pids))
for p in pids:
    try:
        if b'sleep' in open(f'/proc/{p}/cmdline', 'rb').read() and b'300' in open(f'/proc/{p}/cmdline', 'rb').read():
            print('SENTINEL', p)
    except OSError:
        pass
""", _proc),
    Attack("symlink escape", "plant symlinks to /etc/shadow and a host secret, a hardlink, and ask the host to "
           "collect them",
           """import os
for name, target in [('leak1', '/etc/shadow'), ('leak2', '@SECRET_FILE@'), ('rootlink', '/')]:
    os.symlink(target, name)
for p in ['rootlink/etc/shadow', 'leak2']:
    try: print('LEAK', open(p).read(80))
    except OSError as e: print('denied', p, e.errno)
try: os.link('@SECRET_FILE@', 'hard'); print('LEAK hardlink')
except OSError as e: print('hardlink denied', e.errno)
""", _no_token, collect=["leak1", "leak2", "rootlink", "hard"]),
    Attack("ptrace", "PTRACE_ATTACH to pid 1 and PTRACE_TRACEME, process_vm_readv",
           _LIBC + """for name, args in [('attach', (16, 1, 0, 0)), ('traceme', (0, 0, 0, 0))]:
    rc = libc.ptrace(*args); print(('OK ' if rc == 0 else 'FAIL ') + name, ctypes.get_errno())
""", _all_failed),
    Attack("mount and namespaces", "mount tmpfs, unshare user/mount ns, chroot, setuid(0)",
           _LIBC + """tries = [('mount', lambda: libc.mount(b'none', b'/work', b'tmpfs', 0, None)),
         ('unshare-user', lambda: libc.unshare(0x10000000)), ('unshare-mnt', lambda: libc.unshare(0x20000)),
         ('chroot', lambda: libc.chroot(b'/tmp')), ('setuid0', lambda: libc.setuid(0))]
for name, f in tries:
    rc = f(); print(('OK ' if rc == 0 else 'FAIL ') + name, ctypes.get_errno())
""", _all_failed),
    Attack("raw and netlink sockets", "AF_NETLINK, AF_PACKET and SOCK_RAW sockets",
           """import socket
for name, args in [('netlink', (16, socket.SOCK_RAW, 0)), ('packet', (17, socket.SOCK_RAW, 0)),
                   ('raw-icmp', (socket.AF_INET, socket.SOCK_RAW, 1))]:
    try: socket.socket(*args); print('OK', name)
    except OSError as e: print('FAIL', name, e.errno)
""", _all_failed),
    Attack("privileges", "the program's uid, capabilities, no_new_privs and seccomp mode",
           "print(''.join(l for l in open('/proc/self/status') if l.split(':')[0] in "
           "('Uid', 'CapEff', 'CapBnd', 'NoNewPrivs', 'Seccomp')))\n", _caps),
    Attack("compile-time file read", "C: #include the host secret and /etc/shadow",
           '#include "@SECRET_FILE@"\n#include "/etc/shadow"\nint main(void) { return 0; }\n', _compile_secret,
           language="c"),
]


def run_suite(sandbox, *, workers: int = 2, names: list[str] | None = None) -> list[AttackOutcome]:
    """Run the attacks (all, or those named) and return one verdict each."""
    ctx = HostContext()
    try:
        attacks = [a for a in ATTACKS if names is None or a.name in names]

        def one(a: Attack) -> AttackOutcome:
            t = time.monotonic()
            r = sandbox.run(a.language, ctx.fill(a.code), limits=ATTACK_LIMITS, collect=a.collect)
            ok, evidence = a.verdict(r, ctx)
            evidence = " | ".join(x for x in evidence.splitlines() if x.strip())
            return AttackOutcome(name=a.name, description=a.description, contained=bool(ok), evidence=evidence,
                                 duration_s=round(time.monotonic() - t, 3))

        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(one, attacks))
    finally:
        ctx.close()
