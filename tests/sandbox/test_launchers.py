"""Waiting launchers (jail.LauncherPool): a run through one behaves exactly like a run whose launcher joins its
cgroups at start (same limits, same isolation), each serves one run, and closing the pool leaves nothing."""

from __future__ import annotations

import time

import pytest

from tanuki_ollama.sandbox import Limits, Sandbox

pytestmark = pytest.mark.timeout(120)
PROBE = ("import os, sys\n"
         "data = sys.stdin.read()\n"
         "print(os.getuid() != 0, len(os.environ), os.getppid(), data[::-1])\n")
LIMITS = Limits(wall_s=10, memory_mb=96, processes=16)


@pytest.fixture(scope="module")
def both(jail_info):
    from tanuki_ollama.sandbox.jail import JailBackend

    if not jail_info.backend.privileged or jail_info.backend.cgroups is None:
        pytest.skip("waiting launchers need root and cgroups (the jail runs in a user namespace here)")
    warm = JailBackend()
    cold = JailBackend(warm_launchers=0)
    yield Sandbox(warm, allow_weak=True), Sandbox(cold, allow_weak=True)
    warm.launchers.close()


def test_warm_and_cold_launches_give_the_same_result(both):
    warm, cold = both
    assert warm.backend.launchers is not None and cold.backend.launchers is None
    a = warm.run("python", PROBE, stdin="abc", limits=LIMITS)
    b = cold.run("python", PROBE, stdin="abc", limits=LIMITS)
    assert a.exit_code == b.exit_code == 0 and a.stdout == b.stdout == "True " + b.stdout.split()[1] + " 1 cba\n"


def test_limits_hold_through_a_waiting_launcher(both):
    warm, _ = both
    mem = warm.run("python", "x = []\nfor i in range(40):\n    x.append(b'y' * (16 << 20))\nprint('survived')\n",
                   limits=LIMITS)
    assert mem.oom_killed and "survived" not in mem.stdout
    fork = warm.run("python", "import os\nn = 0\nfor i in range(64):\n    try:\n        if os.fork() == 0:\n"
                              "            import time; time.sleep(5); os._exit(0)\n        n += 1\n"
                              "    except OSError:\n        break\nprint(n)\n", limits=LIMITS.merged(wall_s=3))
    assert int(fork.stdout.split()[0]) < 16
    cpu = warm.run("python", "while True: pass\n", limits=LIMITS.merged(cpu_s=1, wall_s=5))
    assert cpu.timed_out and cpu.limit_hit == "cpu"
    big = warm.run("python", "print('x' * 100000)\n", limits=LIMITS.merged(output_bytes=4096))
    assert big.output_truncated


def test_each_launcher_serves_one_run_and_close_leaves_nothing(jail_info):
    from tanuki_ollama.sandbox.jail import JailBackend

    if not jail_info.backend.privileged or jail_info.backend.cgroups is None:
        pytest.skip("waiting launchers need root and cgroups")
    backend = JailBackend(warm_launchers=1)
    sb = Sandbox(backend, allow_weak=True)
    assert sb.run("python", "print(1)\n", limits=LIMITS).stdout == "1\n"  # the pool fills from the first run on
    pids = []
    for _ in range(3):
        for _ in range(100):  # bounded: the pool refills in the background within a few seconds
            if backend.launchers._idle:
                break
            time.sleep(0.05)
        pids.append(backend.launchers._idle[0].proc.pid)
        assert sb.run("python", "print(1)\n", limits=LIMITS).stdout == "1\n"
    assert len(set(pids)) == 3  # a fresh launcher (and fresh cgroups) for every run
    time.sleep(0.5)
    waiting = list(backend.launchers._idle)
    dirs = [d for one in waiting for d in one.cgroup.dirs.values()]
    backend.launchers.close()
    assert waiting and dirs
    for one in waiting:
        assert one.proc.poll() is not None  # EOF on its control pipe: it exited without running anything
    assert not any(d.exists() for d in dirs)
