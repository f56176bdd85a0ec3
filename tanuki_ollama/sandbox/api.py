"""The sandbox API: ``run(language, files_or_code, ...) -> ExecutionResult`` and ``run_many`` with a bounded
pool. Agents' tools and the benchmarks use only this.

    >>> from tanuki_ollama.sandbox import run          # doctest: +SKIP
    >>> run("python", "print(input()[::-1])", stdin="abc").stdout   # doctest: +SKIP
    'cba\\n'

Compiled languages compile inside the sandbox (compile limits), and the artifacts are cached by content hash
under ``$TANUKI_CACHE/sandbox``, so a rerun of the same program skips the compile.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import ConfigError
from . import cache as cache_mod
from .cache import ArtifactCache, UnsafeArchive
from .languages import Language, LanguageTable, default_table
from .models import COMPILE_LIMITS, CompileInfo, ExecutionResult, Limits, MiB, PhaseResult, RunRequest
from .protocol import Phase

ARTIFACT_LIMIT = 256 * MiB
COLLECT_LIMIT = 8 * MiB


def _as_limits(limits: Limits | Mapping[str, Any] | None, default: Limits) -> Limits:
    if limits is None:
        return default
    if isinstance(limits, Limits):
        return limits
    return default.merged(**dict(limits))


class Sandbox:
    """A backend + the language table + the artifact cache. Thread-safe; share one per process."""

    def __init__(self, backend: Any = None, *, allow_weak: bool = False, cache: ArtifactCache | None = None,
                 table: LanguageTable | None = None, limits: Limits | None = None,
                 compile_limits: Limits | None = None):
        if backend is None or isinstance(backend, str):
            from .detect import select

            backend = select(backend, allow_weak=allow_weak)
        self.backend = backend
        self.cache = cache or ArtifactCache()
        self.table = table or default_table()
        self.limits = limits or Limits()
        self.compile_limits = compile_limits or COMPILE_LIMITS
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _lock(self, key: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    # --- public -----------------------------------------------------------------------------------------
    def run(self, language: str, files_or_code: str | Mapping[str, str | bytes], *, stdin: str | bytes = b"",
            args: Iterable[str] = (), limits: Limits | Mapping[str, Any] | None = None,
            compile_limits: Limits | Mapping[str, Any] | None = None, collect: Iterable[str] = (),
            main: str | None = None) -> ExecutionResult:
        """Compile (if needed, cached) and run a program. Limit hits are reported in the result, not raised."""
        lang = self.table.get(language)
        lang.check_toolchain()
        files, main = self._files(lang, files_or_code, main)
        lim = _as_limits(limits, self.limits)
        base: dict[str, Any] = {"language": lang.name, "backend": self.backend.name,
                                "isolation": self.backend.isolation, "warnings": list(self.backend.warnings)}
        binds = [(host, mount) for mount, host in lang.mounts().items()]
        comp = None
        if lang.compiled:
            comp, out_dir = self.compile(lang, files, main, compile_limits)
            if comp.exit_code != 0 or comp.limit_hit is not None:
                return ExecutionResult(**base, exit_code=comp.exit_code, signal=comp.signal, compile=comp)
            if out_dir is not None and out_dir.is_dir():
                binds.append((out_dir, "/work/out"))
        phase = Phase(argv=lang.expand(lang.run, files, main, lim.memory_mb) + list(args), limits=lim,
                      files=files, binds=binds, env=dict(lang.env),
                      stdin=stdin.encode() if isinstance(stdin, str) else bytes(stdin),
                      export=list(collect), export_limit_bytes=COLLECT_LIMIT)
        outcome = self.backend.execute(phase)
        collected: dict[str, str] = {}
        if collect and outcome.archive:
            try:
                collected = cache_mod.read_text_files(outcome.archive, COLLECT_LIMIT)
            except UnsafeArchive as exc:
                base["warnings"].append(f"collected files refused: {exc}")
        return ExecutionResult(**base, **outcome.result.model_dump(), compile=comp, files=collected)

    def run_many(self, requests: Iterable[RunRequest | Mapping[str, Any]], *, workers: int = 2) -> list[ExecutionResult]:
        """Run jobs on a pool of ``workers`` threads (each run is its own sandbox); results keep the order."""
        reqs = [r if isinstance(r, RunRequest) else RunRequest(**r) for r in requests]
        if workers < 1:
            raise ConfigError("workers must be >= 1", "pass workers=1 or more")

        def one(r: RunRequest) -> ExecutionResult:
            return self.run(r.language, r.files, stdin=r.stdin, args=r.args, limits=r.limits, collect=r.collect)

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sandbox") as pool:
            return list(pool.map(one, reqs))

    def compile(self, lang: Language | str, files: dict[str, bytes], main: str,
                compile_limits: Limits | Mapping[str, Any] | None = None) -> tuple[CompileInfo, Path | None]:
        """Compile in the sandbox, or take the artifacts from the cache. Returns the report and ``out/``."""
        lang = self.table.get(lang) if isinstance(lang, str) else lang
        key = lang.compile_key(files, main)
        meta = self.cache.get(key)
        cached = meta is not None
        if meta is None:
            with self._lock(key):
                meta = self.cache.get(key)
                cached = meta is not None
                if meta is None:
                    meta = self._compile(lang, files, main, key, _as_limits(compile_limits, self.compile_limits))
        info = CompileInfo(**meta["result"], cached=cached, key=key)
        out = self.cache.entry(key) / "out"
        return info, (out if meta.get("stored") else None)

    # --- internals --------------------------------------------------------------------------------------
    def _files(self, lang: Language, files_or_code: str | Mapping[str, str | bytes],
               main: str | None) -> tuple[dict[str, bytes], str]:
        if isinstance(files_or_code, str):
            files = {main or lang.main: files_or_code.encode()}
        else:
            files = {str(k): (v.encode() if isinstance(v, str) else bytes(v)) for k, v in files_or_code.items()}
        if not files:
            raise ConfigError("no source files given", "pass the code as a string or a {name: content} mapping")
        if main is None:
            if lang.main in files:
                main = lang.main
            else:
                srcs = lang.sources(files)
                if not srcs:
                    raise ConfigError(f"no {lang.name} source among {sorted(files)}",
                                      f"name the file with one of {lang.extensions}")
                main = srcs[0]
        if main not in files:
            raise ConfigError(f"main file {main!r} is not among the files", "pass main= one of the file names")
        if any(PurePosixPath(n).parts[:1] == ("out",) for n in files) and lang.compiled:
            raise ConfigError("out/ is reserved for compiled artifacts", "rename the files under out/")
        return files, main

    def _seed(self, lang: Language) -> Path | None:
        """The trusted warm-up build of a language (Go's standard-library cache), made once per toolchain."""
        if lang.seed is None:
            return None
        ident = hashlib.sha256((lang.toolchain_id() + repr(lang.seed.model_dump())).encode()).hexdigest()[:16]
        dest = self.cache.root / "seeds" / f"{lang.name}-{ident}"
        if (dest / "out").is_dir():
            return dest / "out"
        with self._lock("seed:" + lang.name):
            if (dest / "out").is_dir():
                return dest / "out"
            files = {k: v.encode() for k, v in lang.seed.files.items()}
            phase = Phase(argv=lang.expand(lang.seed.command, files, lang.main, self.compile_limits.memory_mb),
                          limits=self.compile_limits.merged(wall_s=600.0, cpu_s=600.0), files=files, dirs=["out"],
                          binds=[(h, m) for m, h in lang.mounts().items()],
                          env={**lang.env, **lang.seed.env}, export=["out"], export_limit_bytes=1024 * MiB)
            outcome = self.backend.execute(phase)
            if outcome.result.exit_code != 0 or not outcome.archive or outcome.archive_truncated:
                return None  # compiles still work, only slower
            tmp = dest.with_name(dest.name + f".tmp{time.time_ns()}")
            try:
                cache_mod.extract(outcome.archive, tmp, 1024 * MiB)
                tmp.rename(dest)
            except (OSError, UnsafeArchive):
                import shutil

                shutil.rmtree(tmp, ignore_errors=True)
            return dest / "out" if (dest / "out").is_dir() else None

    def _compile(self, lang: Language, files: dict[str, bytes], main: str, key: str, lim: Limits) -> dict:
        assert lang.compile is not None
        binds = [(host, mount) for mount, host in lang.mounts().items()]
        seed = self._seed(lang)
        if seed is not None and lang.seed is not None:
            binds.append((seed, lang.seed.mount))
        phase = Phase(argv=lang.expand(lang.compile, files, main, lim.memory_mb), limits=lim, files=files,
                      dirs=["out"], binds=binds, env=dict(lang.env), export=["out"],
                      export_limit_bytes=ARTIFACT_LIMIT)
        outcome = self.backend.execute(phase)
        res: PhaseResult = outcome.result
        meta: dict[str, Any] = {"language": lang.name, "result": res.model_dump(), "stored": False,
                                "created": time.time()}
        if res.exit_code == 0 and res.limit_hit is None:
            if not outcome.archive or outcome.archive_truncated:
                res = res.model_copy(update={"exit_code": 1, "stderr": res.stderr + "\n[tanuki] the compiler left "
                                             "no artifacts in out/ (or they exceed the size limit)"})
                meta["result"] = res.model_dump()
                return meta  # not cached
            meta["stored"] = True
            try:
                self.cache.put(key, meta, outcome.archive, ARTIFACT_LIMIT)
            except UnsafeArchive as exc:
                res = res.model_copy(update={"exit_code": 1, "stderr": res.stderr + f"\n[tanuki] artifacts refused: {exc}"})
                return {**meta, "result": res.model_dump(), "stored": False}
        elif res.limit_hit is None and res.exit_code is not None and 0 < res.exit_code < 126:
            self.cache.put(key, meta, None, 0)  # a compile error is deterministic: cache it too
        return meta


@lru_cache(maxsize=4)
def default_sandbox(backend: str | None = None, allow_weak: bool = False) -> Sandbox:
    return Sandbox(backend, allow_weak=allow_weak)


def run(language: str, files_or_code: str | Mapping[str, str | bytes], *, stdin: str | bytes = b"",
        args: Iterable[str] = (), limits: Limits | Mapping[str, Any] | None = None,
        collect: Iterable[str] = (), backend: str | None = None, allow_weak: bool = False) -> ExecutionResult:
    """Run untrusted code in the strongest available sandbox. See :meth:`Sandbox.run`."""
    return default_sandbox(backend, allow_weak).run(language, files_or_code, stdin=stdin, args=args, limits=limits,
                                                    collect=collect)


def run_many(requests: Iterable[RunRequest | Mapping[str, Any]], *, workers: int = 2,
             backend: str | None = None, allow_weak: bool = False) -> list[ExecutionResult]:
    """Run many jobs with a bounded pool. See :meth:`Sandbox.run_many`."""
    return default_sandbox(backend, allow_weak).run_many(requests, workers=workers)
