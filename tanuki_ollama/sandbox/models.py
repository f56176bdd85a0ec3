"""Plain data of the sandbox: limits in, results out (pydantic, JSON-ready)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MiB = 1024 * 1024

LimitName = Literal["wall", "cpu", "memory", "output", "processes", "file_size"]


class Limits(BaseModel):
    """What one phase (compile or run) may use. Every limit is always enforced; ``None`` is not accepted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wall_s: float = Field(10.0, gt=0, le=3600, description="wall-clock seconds; the whole tree dies at the limit")
    cpu_s: float = Field(10.0, gt=0, le=3600, description="CPU seconds per process (RLIMIT_CPU)")
    memory_mb: int = Field(512, ge=16, description="total memory of the tree (cgroup), incl. its tmpfs files")
    processes: int = Field(128, ge=4, description="processes + threads (pids cgroup and RLIMIT_NPROC)")
    output_bytes: int = Field(1 * MiB, ge=1024, description="stdout + stderr together; more is cut and the tree killed")
    file_size_mb: int = Field(64, ge=1, description="largest file the code may write (RLIMIT_FSIZE)")
    open_files: int = Field(256, ge=16, description="RLIMIT_NOFILE")
    workdir_mb: int = Field(256, ge=1, description="size of the writable work dir /work (tmpfs)")
    tmp_mb: int = Field(256, ge=1, description="size of the private /tmp (tmpfs)")
    cpus: float = Field(1.0, gt=0, description="CPU bandwidth (cgroup cpu quota) where cgroups are usable")

    def merged(self, **changes: object) -> Limits:
        data = self.model_dump()
        data.update({k: v for k, v in changes.items() if v is not None})
        return Limits(**data)


#: Defaults for the compile phase: compilers are bigger than the programs they build.
COMPILE_LIMITS = Limits(wall_s=120.0, cpu_s=120.0, memory_mb=1536, processes=256, file_size_mb=256,
                        workdir_mb=512, tmp_mb=1024, output_bytes=1 * MiB, cpus=2.0)


class PhaseResult(BaseModel):
    """What one sandboxed process tree did. Produced by a backend."""

    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    signal: int | None = None
    timed_out: bool = False
    oom_killed: bool = False
    output_truncated: bool = False
    limit_hit: LimitName | None = None
    duration_s: float = 0.0
    cpu_s: float | None = None
    peak_memory_bytes: int | None = None


class CompileInfo(PhaseResult):
    """The compile phase, reported separately from the run. ``cached`` says the artifact came from the cache."""

    cached: bool = False
    key: str = ""


class ExecutionResult(PhaseResult):
    """The result of ``sandbox.run``. ``exit_code`` is the program's; on a compile failure it is the compiler's
    and ``compile.exit_code`` is non-zero. A limit hit is reported through ``timed_out`` / ``oom_killed`` /
    ``output_truncated`` / ``limit_hit``, never raised."""

    language: str
    backend: str
    isolation: Literal["full", "reduced"]
    warnings: list[str] = Field(default_factory=list)
    compile: CompileInfo | None = None
    files: dict[str, str] = Field(default_factory=dict, description="files collected from /work (regular only)")

    @property
    def compile_failed(self) -> bool:
        return self.compile is not None and (self.compile.exit_code != 0 or self.compile.limit_hit is not None)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.limit_hit is None and not self.compile_failed


class RunRequest(BaseModel):
    """One job for :func:`run_many`."""

    model_config = ConfigDict(extra="forbid")

    language: str
    files: dict[str, str] | str
    stdin: str | bytes = b""
    args: list[str] = Field(default_factory=list)
    limits: Limits | None = None
    collect: list[str] = Field(default_factory=list)
