"""Run one launcher process and watch it: feed stdin, cap output, enforce the wall clock, collect the export
stream, and kill the whole process group at any limit. Shared by the jail backend (the only place that waits)."""

from __future__ import annotations

import errno
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

_CHUNK = 65536


def spawn(argv: list[str], *, env: dict[str, str], pass_fds: tuple[int, ...] = ()) -> subprocess.Popen:
    """The launcher: its own session (so the whole group can be killed), stdio on pipes, a given environment."""
    return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            pass_fds=pass_fds, close_fds=True, start_new_session=True)


@dataclass
class Supervised:
    stdout: bytes
    stderr: bytes
    status: int | None  # raw wait status
    rusage: object | None
    timed_out: bool
    output_truncated: bool
    duration_s: float
    export: bytes | None
    export_truncated: bool


def supervise(
    argv: list[str],
    *,
    env: dict[str, str],
    stdin: bytes,
    pass_fds: tuple[int, ...],
    close_after_spawn: list[int],
    wall_s: float,
    output_limit: int,
    export_fd: int | None = None,
    export_limit: int = 0,
    kill_extra: Callable[[], None] | None = None,
    proc: subprocess.Popen | None = None,
    close_on_exit: tuple[int, ...] = (),
    start: Callable[[], None] | None = None,
) -> Supervised:
    """Start ``argv`` in its own session; return when it has exited and its pipes are drained (or killed).

    ``proc``: a launcher already started (in its own session, stdio on pipes) that runs the command once told
    to (``start`` tells it); ``argv`` is then ignored. ``close_on_exit``: our copies of fds the launcher opens itself (through
    /proc), closed once it has exited so that readers of those pipes see EOF."""
    started = time.monotonic()
    if proc is None:
        proc = spawn(argv, env=env, pass_fds=pass_fds)
    elif start is not None:
        try:
            start()
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    for fd in close_after_spawn:
        os.close(fd)
    deadline = started + wall_s
    out = {"stdout": bytearray(), "stderr": bytearray()}
    export = bytearray() if export_fd is not None else None
    export_truncated = output_truncated = timed_out = killed = False
    status = rusage = None

    def kill() -> None:
        nonlocal killed
        if not killed:
            killed = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if kill_extra is not None:
                kill_extra()

    sel = selectors.DefaultSelector()
    try:
        pidfd = os.pidfd_open(proc.pid)
    except OSError:  # very old kernel: poll instead
        pidfd = None
    if pidfd is not None:
        sel.register(pidfd, selectors.EVENT_READ, "exit")
    assert proc.stdout and proc.stderr and proc.stdin
    sel.register(proc.stdout, selectors.EVENT_READ, "stdout")
    sel.register(proc.stderr, selectors.EVENT_READ, "stderr")
    if export_fd is not None:
        os.set_blocking(export_fd, False)
        sel.register(export_fd, selectors.EVENT_READ, "export")
    pending = memoryview(stdin)
    if pending:
        os.set_blocking(proc.stdin.fileno(), False)
        sel.register(proc.stdin, selectors.EVENT_WRITE, "stdin")
    else:
        proc.stdin.close()
    open_streams = {"stdout", "stderr"} | ({"export"} if export_fd is not None else set())
    drain_deadline: float | None = None

    try:
        while True:
            if status is None:
                pid, st, ru = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    status, rusage = st, ru
                    proc.returncode = os.waitstatus_to_exitcode(st)
                    drain_deadline = time.monotonic() + (0.5 if killed else 5.0)
                    for fd in close_on_exit:
                        os.close(fd)
                    close_on_exit = ()
                    if pidfd is not None:
                        sel.unregister(pidfd)
                        os.close(pidfd)
                        pidfd = None
            if status is not None and not open_streams:
                break
            now = time.monotonic()
            if drain_deadline is not None and now > drain_deadline:
                break  # a pipe is still held open by something that should be dead: stop waiting
            if now >= deadline and not killed:
                timed_out = True
                kill()
            timeout = max(0.0, min(deadline - now, 0.05 if pidfd is None or killed else 1.0))
            if drain_deadline is not None:
                timeout = min(timeout, max(0.0, drain_deadline - now))
            for key, _ in sel.select(timeout):
                what = key.data
                if what == "exit":
                    continue  # handled by wait4 at the top of the loop
                if what == "stdin":
                    try:
                        n = os.write(proc.stdin.fileno(), pending[:_CHUNK])
                        pending = pending[n:]
                    except (BrokenPipeError, OSError):
                        pending = pending[:0]
                    if not pending:
                        sel.unregister(proc.stdin)
                        proc.stdin.close()
                    continue
                fd = key.fd
                try:
                    chunk = os.read(fd, _CHUNK)
                except OSError as exc:
                    if exc.errno == errno.EAGAIN:
                        continue
                    chunk = b""
                if not chunk:
                    sel.unregister(key.fileobj)
                    open_streams.discard(what)
                    continue
                if what == "export":
                    assert export is not None
                    room = export_limit - len(export)
                    export += chunk[:max(0, room)]
                    if len(chunk) > room:
                        export_truncated = True
                        sel.unregister(key.fileobj)
                        open_streams.discard(what)
                    continue
                total = len(out["stdout"]) + len(out["stderr"])
                room = output_limit - total
                out[what] += chunk[:max(0, room)]
                if len(chunk) > room:
                    output_truncated = True
                    kill()
        if status is None:  # drained but the launcher lingers: kill and reap
            kill()
            _, status, rusage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if status is None:
            kill()
            try:
                _, status, rusage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(status)
            except ChildProcessError:
                pass
        for fd in close_on_exit:
            os.close(fd)
        sel.close()
        if pidfd is not None:
            os.close(pidfd)
        for f in (proc.stdin, proc.stdout, proc.stderr):
            if f and not f.closed:
                f.close()
        if export_fd is not None:
            os.close(export_fd)
    return Supervised(bytes(out["stdout"]), bytes(out["stderr"]), status, rusage, timed_out, output_truncated,
                      time.monotonic() - started, bytes(export) if export is not None else None, export_truncated)
