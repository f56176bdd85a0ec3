"""gdb: build a C/C++ program with debug info and get the backtrace of its crash, inside the sandbox.

The program is untrusted, so it never runs on the host. Inside the sandbox, ``gdb -batch -ex run -ex bt`` is
tried first; tanuki's jail forbids ``ptrace`` (seccomp), so there the tool falls back to the same build with
AddressSanitizer, whose report carries the symbolized stack (function, file, line) of the crash. Both are parsed
into the same frames; ``data.method`` says which one produced them.
"""

from __future__ import annotations

import re
import shlex
from typing import Any, ClassVar

from .base import Observation, ToolContext, ToolError, clip, observe, rel_to, resolve_path, walk_files
from .testing import collect_files

C_SUFFIXES = (".c",)
CPP_SUFFIXES = (".cpp", ".cc", ".cxx")
_GDB_FRAME = re.compile(r"^#(\d+)\s+(?:0x[0-9a-f]+ in )?(\S+) \(.*?\)(?: at (\S+):(\d+))?(?: from (\S+))?", re.MULTILINE)
_ASAN_FRAME = re.compile(r"^\s+#(\d+) 0x[0-9a-f]+ in (\S+)(?: (\S+?):(\d+)(?::\d+)?)?(?: \((.*)\))?$", re.MULTILINE)
_SIGNAL = re.compile(r"Program received signal (\w+), ([^\n]+)")
_ASAN_ERR = re.compile(r"ERROR: AddressSanitizer: (\S+)(?: on (?:unknown )?address (0x[0-9a-f]+))?")

SCRIPT = """set -u
{compiler} -g -O0 -fno-omit-frame-pointer -o /tmp/prog {sources} -lm 2>&1 || {{ echo "@@COMPILE-FAILED"; exit 90; }}
if [ -x /usr/bin/gdb ]; then
  /usr/bin/gdb -q -nx -batch -ex 'set pagination off' -ex run -ex bt -ex 'info registers rip' \\
      --args /tmp/prog {args} < stdin.txt > gdb.txt 2>&1
  if ! grep -q -e 'ptrace: Operation not permitted' -e 'Could not trace the inferior' gdb.txt; then
    echo "@@METHOD gdb"; cat gdb.txt; exit 0
  fi
fi
echo "@@METHOD asan"
{compiler} -g -O0 -fno-omit-frame-pointer -fsanitize=address,undefined -o /tmp/prog_asan {sources} -lm 2>&1 \\
    || exit 91
ASAN_OPTIONS=detect_leaks=0:symbolize=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \\
    /tmp/prog_asan {args} < stdin.txt 2>&1
echo "@@EXIT $?"
"""


def parse_backtrace(text: str, method: str) -> dict[str, Any]:
    """Frames and the crash reason from gdb's ``bt`` or AddressSanitizer's report."""
    frames: list[dict[str, Any]] = []
    reason = None
    if method == "gdb":
        for m in _GDB_FRAME.finditer(text):
            frames.append({"index": int(m.group(1)), "function": m.group(2), "file": m.group(3),
                           "line": int(m.group(4)) if m.group(4) else None})
        sig = _SIGNAL.search(text)
        reason = f"{sig.group(1)} ({sig.group(2)})" if sig else None
    else:
        err = _ASAN_ERR.search(text)
        body = text[err.start():] if err else text
        for m in _ASAN_FRAME.finditer(body):
            if frames and int(m.group(1)) == 0:
                break  # a second stack (allocation site): keep the crash's only
            frames.append({"index": int(m.group(1)), "function": m.group(2), "file": m.group(3),
                           "line": int(m.group(4)) if m.group(4) else None})
        if err:
            reason = err.group(1) + (f" at {err.group(2)}" if err.group(2) else "")
        elif "runtime error:" in text:
            reason = text[text.index("runtime error:"):].splitlines()[0]
    frames = [f for f in frames if not (f["file"] or "").startswith(("../sysdeps", "../csu"))
              and not f["function"].startswith(("__libc_start", "_start"))]
    return {"frames": frames, "reason": reason, "crashed": bool(reason) or bool(frames)}


class Gdb:
    name = "gdb"
    description = ("Compile a C/C++ program (debug build) in the sandbox, run it and return the backtrace of its "
                   "crash: frames with function, file and line, and the signal or sanitizer error.")
    parameters: ClassVar[dict[str, Any]] = {"type": "object", "additionalProperties": False, "required": ["path"], "properties": {
        "path": {"type": "string", "description": "a source file or a folder of .c/.cpp sources"},
        "args": {"type": "array", "items": {"type": "string"}},
        "stdin": {"type": "string", "default": ""}}}

    def run(self, args: dict[str, Any], ctx: ToolContext) -> Observation:
        from ..sandbox import Limits, Phase

        root = resolve_path(ctx, args["path"])
        sources = [root] if root.is_file() else [f for f in walk_files(root) if f.suffix in C_SUFFIXES + CPP_SUFFIXES]
        if not sources:
            raise ToolError(f"no C or C++ sources at {args['path']}", "point path at a .c/.cpp file or folder")
        cpp = any(s.suffix in CPP_SUFFIXES for s in sources)
        base = root if root.is_dir() else root.parent
        if root.is_dir():
            files = collect_files(base)
        else:  # one source file and the headers beside it
            files = {f.name: f.read_bytes() for f in [root, *base.iterdir()]
                     if f == root or (f.suffix in (".h", ".hpp") and f.is_file() and not f.is_symlink())}
        srcs = " ".join(shlex.quote(s.relative_to(base).as_posix()) for s in sources)
        script = SCRIPT.format(compiler="/usr/bin/g++" if cpp else "/usr/bin/gcc", sources=srcs,
                               args=" ".join(shlex.quote(a) for a in args.get("args", [])))
        files["run.sh"] = script.encode()
        files["stdin.txt"] = args.get("stdin", "").encode()
        limits = Limits(wall_s=ctx.timeout_s, cpu_s=ctx.timeout_s, memory_mb=2048, processes=128,
                        output_bytes=2 * 1024 * 1024)
        outcome = ctx.get_sandbox().backend.execute(Phase(argv=["/bin/sh", "run.sh"], limits=limits, files=files,
                                                          env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"}))
        text = outcome.result.stdout + outcome.result.stderr
        if "@@COMPILE-FAILED" in text or outcome.result.exit_code in (90, 91):
            out, _ = clip(text.replace("@@COMPILE-FAILED", ""), 4000)
            return observe(self.name, False, "compile failed", {"compile_output": out}, error="compile failed")
        method = "gdb" if "@@METHOD gdb" in text else "asan"
        report = text.split(f"@@METHOD {method}", 1)[-1]
        parsed = parse_backtrace(report, method)
        prefix = rel_to(ctx, base)
        for frame in parsed["frames"]:  # sandbox paths (/work/x.c, x.c) -> workspace paths
            f = frame["file"]
            if f and not f.startswith("/usr/") and not f.startswith(".."):
                rel = f.removeprefix("/work/")
                frame["file"] = rel if prefix == "." else f"{prefix}/{rel}"
        exit_m = re.search(r"@@EXIT (\d+)", report) or re.search(r"exited (?:normally|with code (\d+))", report)
        top = parsed["frames"][0] if parsed["frames"] else None
        where = f" in {top['function']} at {top['file']}:{top['line']}" if top and top.get("file") else ""
        summary = (f"crash: {parsed['reason'] or 'signal'}{where}" if parsed["crashed"]
                   else "the program did not crash")
        out, cut = clip(report, 6000)
        data = {**parsed, "method": method, "sources": [rel_to(ctx, s) for s in sources], "output": out,
                "exit_code": int(exit_m.group(1)) if exit_m and exit_m.group(1) else (0 if exit_m else None),
                "timed_out": outcome.result.timed_out}
        return observe(self.name, True, summary, data, truncated=cut)
