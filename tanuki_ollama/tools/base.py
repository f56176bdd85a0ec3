"""The tool seam: ``Observation`` out, ``ToolContext`` in, a ``ToolRegistry`` that checks permissions, validates
arguments against each tool's JSON schema, bounds time and retries transient failures.

Tools never raise for tool-level failures: a refused path, a failing test, a missing linter all come back as an
``Observation`` with ``ok=False`` and an ``error`` the agent can read.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from ..errors import TanukiError

#: Characters of tool output kept in an observation (the rest is cut and ``truncated`` is set).
MAX_OUTPUT_CHARS = 20_000
#: Directories a tool never walks into (search, test collection, repo map).
IGNORED_DIRS = frozenset({".git", ".hg", ".svn", ".tanuki", ".venv", "venv", "node_modules", "__pycache__",
                          ".mypy_cache", ".pytest_cache", ".ruff_cache", "target", "build", "dist", ".idea",
                          ".terraform", ".gradle"})
#: Workspace paths no agent may write to (the private snapshot repo, caches, the user's git metadata).
PROTECTED_DIRS = frozenset({".git", ".tanuki"})


class Observation(BaseModel):
    """What every tool call returns. ``data`` is structured (failing tests, lint findings with line numbers)."""

    tool: str
    ok: bool
    summary: str
    data: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    duration_s: float = 0.0
    attempts: int = 1
    truncated: bool = False

    def to_message(self, max_chars: int = 4000) -> str:
        """The observation as the text an agent reads back (summary, error, then the data as compact JSON)."""
        import json

        head = self.summary if self.ok else f"{self.summary}\nerror: {self.error}"
        body = json.dumps(self.data, default=str, separators=(",", ":"))
        text = f"{head}\n{body}"
        return text if len(text) <= max_chars else text[: max_chars - 15] + "\n[...truncated]"


@dataclass
class ToolContext:
    """Where a tool acts. ``workspace`` is the only writable root; ``sandbox`` runs code (default: the
    strongest available, made on first use); ``env`` adds variables (tokens, base URLs) for the tools."""

    workspace: Path
    sandbox: Any | None = None
    timeout_s: float = 60.0
    env: dict[str, str] = field(default_factory=dict)
    repomap: Any | None = None  # the workspace's RepoMap, built by the search tool on first use

    def __post_init__(self) -> None:
        self.workspace = Path(self.workspace).expanduser().resolve()

    def get_sandbox(self) -> Any:
        if self.sandbox is None:
            from ..sandbox import default_sandbox

            self.sandbox = default_sandbox()
        return self.sandbox

    def getenv(self, name: str, default: str | None = None) -> str | None:
        return self.env.get(name, os.environ.get(name, default))


@runtime_checkable
class Tool(Protocol):
    name: str
    description: str
    parameters: dict  # JSON schema of the arguments object

    def run(self, args: dict[str, Any], ctx: ToolContext) -> Observation: ...


# --------------------------------------------------------------------------------------------- errors
class ToolError(TanukiError):
    """A tool-level failure; the registry turns it into an ``Observation(ok=False)``."""


class PathOutsideWorkspace(ToolError):
    """A path argument escapes the workspace (absolute, ``..``, NUL byte, or a symlink pointing outside)."""


class ToolUnavailable(ToolError):
    """The program a tool needs (eslint, a container engine, terraform) is not installed here."""


class TransientToolError(ToolError):
    """A failure worth retrying (HTTP 429/5xx, a connection reset, a busy lock)."""

    def __init__(self, message: str, hint: str | None = None, retry_after_s: float | None = None):
        super().__init__(message, hint)
        self.retry_after_s = retry_after_s


# --------------------------------------------------------------------------------------------- paths
def resolve_path(ctx: ToolContext, rel: str | os.PathLike[str], *, write: bool = False) -> Path:
    """Resolve a path argument inside the workspace or raise ``PathOutsideWorkspace``.

    Refused: NUL bytes, absolute paths, ``..`` components, and anything whose real path (symlinks followed)
    lies outside the workspace. Writes are also refused under ``.git`` and ``.tanuki``.
    """
    text = os.fspath(rel)
    hint = "pass a path relative to the workspace root, without '..'"
    if "\x00" in text:
        raise PathOutsideWorkspace("path contains a NUL byte", hint)
    if not text or text.strip() == "":
        raise PathOutsideWorkspace("empty path", hint)
    if text.startswith(("/", "\\", "~")) or Path(text).is_absolute() or (len(text) > 1 and text[1] == ":"):
        raise PathOutsideWorkspace(f"absolute path refused: {text!r}", hint)
    parts = Path(text).parts
    if ".." in parts:
        raise PathOutsideWorkspace(f"'..' refused in {text!r}", hint)
    root = ctx.workspace
    target = (root / text).resolve()  # follows symlinks, also in missing parents' existing prefix
    if target != root and not target.is_relative_to(root):
        raise PathOutsideWorkspace(f"{text!r} resolves outside the workspace (symlink?)", hint)
    if write:
        rel_parts = target.relative_to(root).parts
        if rel_parts and rel_parts[0] in PROTECTED_DIRS:
            raise PathOutsideWorkspace(f"writing under {rel_parts[0]}/ is not allowed", "write project files only")
    return target


def rel_to(ctx: ToolContext, path: Path) -> str:
    return path.relative_to(ctx.workspace).as_posix() or "."


def walk_files(root: Path, *, ignore: Iterable[str] = (), max_files: int = 200_000) -> Iterator[Path]:
    """Regular files under ``root`` (symlinks and ignored directories skipped), sorted, at most ``max_files``."""
    skip = IGNORED_DIRS | set(ignore)
    stack = [root]
    count = 0
    while stack:
        d = stack.pop()
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name, reverse=True)
        except OSError:
            continue
        subdirs = []
        for e in reversed(entries):
            if e.is_symlink():
                continue
            if e.is_dir():
                if e.name not in skip and not e.name.endswith(".egg-info"):
                    subdirs.append(Path(e.path))
            elif e.is_file():
                count += 1
                if count > max_files:
                    return
                yield Path(e.path)
        stack.extend(reversed(subdirs))


# --------------------------------------------------------------------------------------------- processes
@dataclass
class ProcResult:
    argv: list[str]
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool
    duration_s: float

    @property
    def output(self) -> str:
        return (self.stdout + ("\n" if self.stdout and self.stderr else "") + self.stderr).strip()


def run_process(argv: Sequence[str], *, cwd: Path, timeout_s: float, env: Mapping[str, str] | None = None,
                stdin: str | None = None) -> ProcResult:
    """Run a host program that does not execute workspace code (linters, formatters, git). Never raises on a
    non-zero exit or a timeout; raises ``ToolUnavailable`` when the program is missing."""
    t0 = time.monotonic()
    full_env = {**os.environ, **(env or {})}
    try:
        proc = subprocess.run(list(argv), cwd=cwd, env=full_env, input=stdin, capture_output=True, text=True,
                              errors="replace", timeout=timeout_s, check=False)
    except FileNotFoundError as exc:
        raise ToolUnavailable(f"{argv[0]} is not installed", "run ./install.sh") from exc
    except subprocess.TimeoutExpired as exc:
        def text(b: bytes | str | None) -> str:
            return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")
        return ProcResult(list(argv), None, text(exc.stdout), text(exc.stderr), True, time.monotonic() - t0)
    return ProcResult(list(argv), proc.returncode, proc.stdout, proc.stderr, False, time.monotonic() - t0)


def clip(text: str, limit: int = MAX_OUTPUT_CHARS) -> tuple[str, bool]:
    """Keep the head and the tail of a long output (the tail holds the summary lines of most tools)."""
    if len(text) <= limit:
        return text, False
    half = limit // 2
    return text[:half] + f"\n[... {len(text) - limit} characters cut ...]\n" + text[-half:], True


# --------------------------------------------------------------------------------------------- schema check
_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "number": (int, float),
                                       "boolean": (bool,), "array": (list, tuple), "object": (dict,),
                                       "null": (type(None),)}


def validate_args(schema: Mapping[str, Any], value: Any, where: str = "arguments") -> list[str]:
    """Check ``value`` against the subset of JSON schema the tools use (type, required, properties,
    additionalProperties, enum, items, minimum, maximum, minLength). Returns the problems found."""
    errors: list[str] = []
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        ok = any(isinstance(value, _TYPES[t]) and not (t in ("integer", "number") and isinstance(value, bool))
                 for t in names)
        if not ok:
            return [f"{where}: expected {'/'.join(names)}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where}: {value} < minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where}: {value} > maximum {schema['maximum']}")
    if isinstance(value, str) and len(value) < schema.get("minLength", 0):
        errors.append(f"{where}: shorter than {schema['minLength']} characters")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{where}: missing required {key!r}")
        for key, item in value.items():
            if key in props:
                errors += validate_args(props[key], item, f"{where}.{key}")
            elif schema.get("additionalProperties", True) is False:
                errors.append(f"{where}: unknown argument {key!r} (allowed: {sorted(props)})")
    if isinstance(value, (list, tuple)) and "items" in schema:
        for i, item in enumerate(value):
            errors += validate_args(schema["items"], item, f"{where}[{i}]")
    return errors


# --------------------------------------------------------------------------------------------- registry
class ToolRegistry:
    """Tools by name. ``call`` is the one way agents use them."""

    def __init__(self, tools: Iterable[Tool] = (), *, backoff_s: float = 0.5, max_backoff_s: float = 8.0,
                 grace_s: float = 10.0):
        self._tools: dict[str, Tool] = {}
        self.grace_s = grace_s  # beyond ctx.timeout_s before a hung tool is abandoned
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        for tool in tools:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            raise ToolError(f"unknown tool {name!r}", f"use one of: {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        return sorted(self._tools)

    def schemas(self, names: Iterable[str] | None = None) -> list[dict]:
        """Tool descriptions in Ollama's (and OpenAI's) tool format."""
        chosen = self.names() if names is None else list(names)
        return [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                  "parameters": t.parameters}}
                for t in (self.get(n) for n in chosen)]

    def call(self, name: str, args: dict, ctx: ToolContext, *, allowed: Iterable[str] | None = None,
             retries: int = 2) -> Observation:
        """Check the permission and the arguments, run with a timeout, retry transient failures with
        exponential backoff (honouring a server's Retry-After). Never raises for tool failures."""
        t0 = time.monotonic()

        def fail(summary: str, error: str, attempts: int = 0) -> Observation:
            return Observation(tool=name, ok=False, summary=summary, error=error, attempts=attempts,
                               duration_s=time.monotonic() - t0)

        if allowed is not None and name not in set(allowed):
            return fail(f"permission denied: {name}", f"this agent may use only: {', '.join(sorted(allowed))}")
        if name not in self._tools:
            return fail(f"unknown tool: {name}", f"available tools: {', '.join(self.names())}")
        tool = self._tools[name]
        args = dict(args or {})
        problems = validate_args(tool.parameters, args)
        if problems:
            return fail(f"invalid arguments for {name}", "; ".join(problems))
        attempt = 0
        while True:
            attempt += 1
            try:
                obs = self._run_bounded(tool, args, ctx, self.grace_s)
            except TransientToolError as exc:
                if attempt > retries:
                    return fail(f"{name} failed after {attempt} attempts", str(exc), attempt)
                delay = exc.retry_after_s if exc.retry_after_s is not None else self.backoff_s * 2 ** (attempt - 1)
                time.sleep(min(max(delay, 0.0), self.max_backoff_s))
                continue
            except TanukiError as exc:
                return fail(f"{name} failed", str(exc), attempt)
            except FutureTimeout:
                return fail(f"{name} timed out after {ctx.timeout_s:.0f} s", "timeout: raise timeout_s or narrow "
                            "the request", attempt)
            except Exception as exc:  # noqa: BLE001 - the one boundary that turns tool crashes into observations
                return fail(f"{name} crashed", f"{type(exc).__name__}: {exc}", attempt)
            obs.attempts = attempt
            obs.duration_s = time.monotonic() - t0
            return obs

    @staticmethod
    def _run_bounded(tool: Tool, args: dict, ctx: ToolContext, grace_s: float) -> Observation:
        """Run in a worker thread with a deadline. Tools bound their own subprocesses by ``ctx.timeout_s``;
        this is the backstop for a tool that hangs in Python code (the thread is abandoned, not killed)."""
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"tool-{tool.name}")
        try:
            return pool.submit(tool.run, args, ctx).result(timeout=ctx.timeout_s + grace_s)
        finally:
            pool.shutdown(wait=False)


def observe(tool: str, ok: bool, summary: str, data: dict[str, Any] | None = None, *,
            error: str | None = None, truncated: bool = False) -> Observation:
    return Observation(tool=tool, ok=ok, summary=summary, data=data or {}, error=error, truncated=truncated)
