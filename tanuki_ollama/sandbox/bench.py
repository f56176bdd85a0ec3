"""Sandbox benchmarks (``tanuki sandbox bench --json``; meant for ``tanuki bench sandbox``): per language the
median hello-world latency in the sandbox and as a bare subprocess, the overhead, the cached-compile speed-up,
and runs/s of the pool at 2 and 8 workers. Prints numbers; asserts nothing."""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from .api import Sandbox

HELLO = {
    "python": ("#", 'print("hello")\n'),
    "javascript": ("//", 'console.log("hello")\n'),
    "typescript": ("//", 'const s: string = "hello"; console.log(s)\n'),
    "bash": ("#", "echo hello\n"),
    "c": ("//", '#include <stdio.h>\nint main(void){puts("hello");return 0;}\n'),
    "cpp": ("//", '#include <iostream>\nint main(){std::cout<<"hello\\n";}\n'),
    "java": ("//", 'public class Main { public static void main(String[] a){ System.out.println("hello"); } }\n'),
    "go": ("//", 'package main\nimport "fmt"\nfunc main(){ fmt.Println("hello") }\n'),
    "rust": ("//", 'fn main(){ println!("hello"); }\n'),
}


def _bare(sb: Sandbox, lang_name: str, code: str) -> float:
    """One unsandboxed run of the same command (compiled languages: the cached artifact)."""
    lang = sb.table.get(lang_name)
    files = {lang.main: code.encode()}
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / lang.main).write_bytes(code.encode())
        if lang.compiled:
            _, out = sb.compile(lang, files, lang.main)
            os.symlink(out, Path(d) / "out")
        argv = lang.expand(lang.run, files, lang.main, 512)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": d, "LANG": "C.UTF-8", **lang.env}
        t = time.perf_counter()
        subprocess.run(argv, cwd=d, env=env, capture_output=True, check=True, timeout=60)
        return time.perf_counter() - t


def launch_paths(sb: Sandbox, *, repeat: int = 15) -> dict | None:
    """Python hello, interleaved: each run's launcher joining its cgroups itself (the previous path) vs. a
    waiting launcher (jail.LauncherPool), vs. bare: the before/after of the start-up trim in one run."""
    from .jail import JailBackend

    backend = sb.backend
    if not isinstance(backend, JailBackend) or backend.launchers is None:
        return None
    before = Sandbox(JailBackend(warm_launchers=0), cache=sb.cache, table=sb.table)
    code = HELLO["python"][1]
    runs: dict[str, list[float]] = {"join_at_start": [], "warm_launcher": [], "bare": []}
    for which in (before, sb):
        which.run("python", code)
    for _ in range(repeat):  # interleaved, so that load affects all three alike
        for key, which in (("join_at_start", before), ("warm_launcher", sb)):
            t = time.perf_counter()
            which.run("python", code)
            runs[key].append(time.perf_counter() - t)
        runs["bare"].append(_bare(sb, "python", code))
    med = {k: statistics.median(v) for k, v in runs.items()}
    return {"repeat": repeat, **{f"{k}_median_ms": round(v * 1000, 1) for k, v in med.items()},
            "overhead_before_ms": round((med["join_at_start"] - med["bare"]) * 1000, 1),
            "overhead_after_ms": round((med["warm_launcher"] - med["bare"]) * 1000, 1),
            "load_avg_1m": round(os.getloadavg()[0], 2)}


def bench(sb: Sandbox | None = None, *, languages: list[str] | None = None, repeat: int = 7,
          pool_jobs: int = 16, cold_repeat: int = 3) -> dict:
    sb = sb or Sandbox()
    out: dict = {"backend": sb.backend.name, "isolation": sb.backend.isolation,
                 "load_avg_1m_at_start": round(os.getloadavg()[0], 2), "languages": {}}
    for name, (comment, code) in HELLO.items():
        if languages and name not in languages:
            continue
        lang = sb.table.get(name)
        if not lang.available():
            out["languages"][name] = {"available": False}
            continue
        row: dict = {"available": True}
        if lang.compiled:
            cold_s, cached_s, compile_s = [], [], []
            for _ in range(cold_repeat):  # each with a fresh nonce: a real compile, then its cached rerun
                cold_code = f"{comment} nonce {time.time_ns()}\n{code}"
                t = time.perf_counter()
                r = sb.run(name, cold_code)
                cold_s.append(time.perf_counter() - t)
                t = time.perf_counter()
                sb.run(name, cold_code)
                cached_s.append(time.perf_counter() - t)
                compile_s.append(r.compile.duration_s if r.compile else 0.0)
            row["cold_compile_and_run_s"] = round(statistics.median(cold_s), 4)
            row["cached_run_s"] = round(statistics.median(cached_s), 4)
            row["cached_speedup"] = round(row["cold_compile_and_run_s"] / row["cached_run_s"], 1)
            row["compile_s"] = round(statistics.median(compile_s), 4)
        sb.run(name, code)  # warm the cache
        sand, bare = [], []
        for _ in range(repeat):  # interleaved, so that load affects both alike
            t = time.perf_counter()
            r = sb.run(name, code)
            sand.append(time.perf_counter() - t)
            bare.append(_bare(sb, name, code))
        ms, mb = statistics.median(sand), statistics.median(bare)
        row.update(ok=r.stdout.strip() == "hello", sandbox_median_ms=round(ms * 1000, 1),
                   bare_median_ms=round(mb * 1000, 1), overhead_ms=round((ms - mb) * 1000, 1),
                   overhead_ratio=round(ms / mb, 2))
        out["languages"][name] = row
    for workers in (2, 8):
        jobs = [{"language": "python", "files": 'print("hello")\n'}] * pool_jobs
        t = time.perf_counter()
        sb.run_many(jobs, workers=workers)
        out[f"python_runs_per_s_pool_{workers}"] = round(pool_jobs / (time.perf_counter() - t), 1)
    if not languages or "python" in languages:
        out["python_launch_before_after"] = launch_paths(sb, repeat=max(repeat, 15))
    out["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)
    return out
