"""Limits are reported as such; errors name their fix; the cache and the pool work."""

from __future__ import annotations

import time

import pytest

from tanuki_ollama.errors import ConfigError, ToolchainMissing
from tanuki_ollama.sandbox import Limits, RunRequest
from tanuki_ollama.sandbox.languages import Language, LanguageTable

pytestmark = pytest.mark.timeout(120)
SMALL = Limits(wall_s=3, cpu_s=2, memory_mb=128, processes=32, output_bytes=64 * 1024, file_size_mb=4,
               workdir_mb=16, tmp_mb=16)


def test_wall_timeout_is_reported(sandbox):
    r = sandbox.run("python", "import time\ntime.sleep(60)\n", limits=SMALL.merged(wall_s=1.0))
    assert r.timed_out and r.limit_hit == "wall" and r.exit_code is None and r.signal == 9
    assert r.duration_s < 2.5


def test_cpu_limit_is_reported(sandbox):
    r = sandbox.run("c", "int main(void){ volatile unsigned long i = 0; for (;;) i++; }\n", limits=SMALL.merged(cpu_s=1))
    assert r.timed_out and r.limit_hit == "cpu", r


def test_memory_limit_is_oom_killed(sandbox):
    r = sandbox.run("python", "x = []\nfor i in range(40):\n    x.append(b'y' * (16 << 20))\nprint('survived')\n",
                    limits=SMALL)
    assert r.oom_killed and r.limit_hit == "memory" and "survived" not in r.stdout
    assert r.peak_memory_bytes is not None and r.peak_memory_bytes <= 140 * 2**20


def test_output_is_truncated(sandbox):
    r = sandbox.run("bash", "for i in $(seq 1 100000); do echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; done\n",
                    limits=SMALL)
    assert r.output_truncated and r.limit_hit == "output"
    assert len(r.stdout) + len(r.stderr) <= 64 * 1024


def test_exit_code_stderr_and_args(sandbox):
    r = sandbox.run("python", "import sys\nprint(sys.argv[1:], file=sys.stderr)\nsys.exit(3)\n", args=["a", "b c"])
    assert r.exit_code == 3 and r.stderr.strip() == "['a', 'b c']" and not r.ok


def test_compile_error_is_reported_not_raised(sandbox):
    r = sandbox.run("c", "int main(void) { return undefined_name; }\n")
    assert r.compile_failed and r.compile.exit_code != 0 and "undefined_name" in r.compile.stderr
    assert r.exit_code == r.compile.exit_code and r.stdout == ""


def test_compiled_artifacts_are_cached_by_content(sandbox):
    code = f"// nonce {time.time_ns()}\n#include <stdio.h>\nint main(void){{puts(\"cached\");}}\n"
    first = sandbox.run("c", code)
    second = sandbox.run("c", code)
    assert not first.compile.cached and second.compile.cached and first.compile.key == second.compile.key
    assert first.stdout == second.stdout == "cached\n"
    other = sandbox.run("c", code + "\n")
    assert not other.compile.cached


def test_multiple_files_and_collect(sandbox):
    files = {"main.py": "from util import twice\nopen('out.txt', 'w').write(str(twice(21)))\n",
             "util.py": "def twice(x):\n    return 2 * x\n"}
    r = sandbox.run("python", files, collect=["out.txt", "missing.txt"])
    assert r.exit_code == 0 and r.files == {"out.txt": "42"}


def test_run_many_keeps_order(sandbox):
    reqs = [RunRequest(language="python", files=f"print({i} * {i})") for i in range(6)]
    out = sandbox.run_many(reqs, workers=3)
    assert [r.stdout.strip() for r in out] == [str(i * i) for i in range(6)]


def test_unknown_language_names_the_fix(sandbox):
    with pytest.raises(ConfigError) as exc:
        sandbox.run("cobol", "DISPLAY 'HI'.")
    assert "python" in exc.value.hint


def test_missing_toolchain_names_the_fix(sandbox):
    lang = Language(name="zig", extensions=[".zig"], main="main.zig", requires=["/nonexistent/zig"],
                    run=["/nonexistent/zig", "run", "{main}"], install="apt-get install -y zig")
    from tanuki_ollama.sandbox import Sandbox

    sb = Sandbox(sandbox.backend, table=LanguageTable({"zig": lang}))
    with pytest.raises(ToolchainMissing) as exc:
        sb.run("zig", "pub fn main() void {}")
    assert exc.value.hint == "apt-get install -y zig"


def test_bad_file_names_are_refused(sandbox):
    with pytest.raises(ConfigError):
        sandbox.run("python", {"../escape.py": "print(1)"}, main="../escape.py")


def test_reduced_isolation_without_cgroups_still_contains(jail_info):
    from tanuki_ollama.sandbox import Sandbox
    from tanuki_ollama.sandbox.jail import JailBackend

    sb = Sandbox(JailBackend(use_cgroups=False))
    assert sb.backend.isolation == "reduced" and sb.backend.warnings
    r = sb.run("python", "print('hi')")
    assert r.stdout == "hi\n" and r.isolation == "reduced" and r.warnings
    bomb = sb.run("python", "x = b'y' * (1 << 30)\nprint('survived')\n", limits=SMALL)
    assert "survived" not in bomb.stdout and "MemoryError" in bomb.stderr
