"""The language table (``sandbox/languages.yaml``): how each language compiles and runs, and whether this
machine has its toolchain."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from functools import cache, lru_cache
from pathlib import Path, PurePosixPath

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ConfigError, ToolchainMissing

SCHEMA_VERSION = 1  # bump to invalidate every cached artifact


def data_dir() -> Path:
    """The ``sandbox/`` data folder: ``$TANUKI_SANDBOX_DATA`` or the one next to the package."""
    env = os.environ.get("TANUKI_SANDBOX_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "sandbox"


def load_yaml(name: str) -> dict:
    path = data_dir() / name
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"sandbox data file {path} is missing",
                          "set TANUKI_SANDBOX_DATA to the project's sandbox/ folder") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}", f"fix {path}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping", f"fix {path}")
    return data


class Discover(BaseModel):
    model_config = ConfigDict(extra="forbid")
    command: list[str]
    mount: str


class Seed(BaseModel):
    """A trusted warm-up build whose /work/out becomes a read-only mount for every compile (Go's std cache)."""

    model_config = ConfigDict(extra="forbid")
    mount: str
    files: dict[str, str]
    command: list[str]
    env: dict[str, str] = Field(default_factory=dict)


class Language(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    aliases: list[str] = Field(default_factory=list)
    extensions: list[str]
    main: str
    requires: list[str]
    version: list[str] | None = None
    discover: dict[str, Discover] = Field(default_factory=dict)
    compile: list[str] | None = None
    run: list[str]
    env: dict[str, str] = Field(default_factory=dict)
    seed: Seed | None = None
    install: str = ""

    @property
    def compiled(self) -> bool:
        return self.compile is not None

    # --- toolchain --------------------------------------------------------------------------------------
    def mounts(self) -> dict[str, Path]:
        """Discovered toolchains: sandbox mount point -> host directory (missing ones are left out)."""
        out = {}
        for d in self.discover.values():
            host = _discover(tuple(d.command))
            if host is not None:
                out[d.mount] = host
        return out

    def _discovered_all(self) -> bool:
        return all(_discover(tuple(d.command)) is not None for d in self.discover.values())

    def _raise_missing(self, what: str | None = None) -> None:
        raise ToolchainMissing(f"the {self.name} toolchain is not installed{f' ({what} not found)' if what else ''}",
                               self.install or f"install the {self.name} toolchain")

    def placeholders(self) -> dict[str, str]:
        return {name: d.mount for name, d in self.discover.items()}

    def host_path(self, sandbox_path: str) -> Path:
        """Where a sandbox path (e.g. ``/opt/rust/bin/rustc``) lives on the host."""
        for mount, host in self.mounts().items():
            if sandbox_path == mount or sandbox_path.startswith(mount + "/"):
                return host / sandbox_path[len(mount):].lstrip("/")
        return Path(sandbox_path)

    def check_toolchain(self) -> None:
        """Raise ToolchainMissing (with the install hint) unless every required executable exists."""
        if not self._discovered_all():
            missing = [d.command[0] for d in self.discover.values() if _discover(tuple(d.command)) is None]
            self._raise_missing(", ".join(missing))
        for req in self.requires:
            path = self.host_path(req.format(**self.placeholders()))
            if not path.exists():
                self._raise_missing(str(path))

    def available(self) -> bool:
        try:
            self.check_toolchain()
            return True
        except ToolchainMissing:
            return False

    def toolchain_id(self) -> str:
        """Identity of the installed toolchain (path, size, mtime of each requirement): part of the cache key."""
        parts = []
        for req in self.requires:
            p = self.host_path(req.format(**self.placeholders()))
            st = p.resolve().stat()
            parts.append(f"{p.resolve()}:{st.st_size}:{st.st_mtime_ns}")
        return "|".join(parts)

    def version_text(self) -> str | None:
        if not self.version:
            return None
        argv = [str(self.host_path(a.format(**self.placeholders()))) if i == 0 else a
                for i, a in enumerate(self.version)]
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        text = (p.stdout or p.stderr).strip().splitlines()
        return text[0] if text else None

    # --- commands ---------------------------------------------------------------------------------------
    def sources(self, files: dict[str, bytes]) -> list[str]:
        return sorted(n for n in files if PurePosixPath(n).suffix in self.extensions)

    def expand(self, argv: list[str], files: dict[str, bytes], main: str, memory_mb: int) -> list[str]:
        values = {"main": main, "stem": PurePosixPath(main).stem, "heap_mb": str(max(32, memory_mb // 2)),
                  "memory_mb": str(memory_mb), **self.placeholders()}
        out: list[str] = []
        for arg in argv:
            if arg == "{sources}":
                out.extend(self.sources(files))
            else:
                out.append(arg.format(**values) if _is_template(arg) else arg)
        return out

    def compile_key(self, files: dict[str, bytes], main: str) -> str:
        """Content hash of everything a compile depends on."""
        h = hashlib.sha256()
        h.update(json.dumps({"v": SCHEMA_VERSION, "lang": self.name, "compile": self.compile, "env": self.env,
                             "main": main, "toolchain": self.toolchain_id()}, sort_keys=True).encode())
        for name in sorted(files):
            h.update(b"\0" + name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
        return h.hexdigest()


def _is_template(arg: str) -> bool:
    """Only simple ``{name}`` placeholders are templates (inline scripts contain other braces)."""
    return re.fullmatch(r"[^{}]*(\{[a-z_]+\}[^{}]*)+", arg) is not None


@cache
def _discover(command: tuple[str, ...]) -> Path | None:
    """Run a discovery command on the host (e.g. ``rustc --print sysroot``) with rustup's and cargo's bin dirs on
    PATH; the printed directory must exist."""
    path = os.pathsep.join([os.environ.get("PATH", ""), str(Path.home() / ".cargo" / "bin"), "/usr/local/bin"])
    exe = shutil.which(command[0], path=path)
    if exe is None:
        return None
    try:
        p = subprocess.run([exe, *command[1:]], capture_output=True, text=True, timeout=30, check=False,
                           env={**os.environ, "PATH": path})
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = Path(p.stdout.strip())
    return out.resolve() if p.returncode == 0 and out.is_absolute() and out.is_dir() else None


class LanguageTable:
    def __init__(self, languages: dict[str, Language]):
        self.languages = languages
        self._alias = {a: lang for lang in languages.values() for a in (lang.name, *lang.aliases)}

    @classmethod
    def load(cls) -> LanguageTable:
        data = load_yaml("languages.yaml").get("languages") or {}
        langs = {}
        for name, spec in data.items():
            try:
                langs[name] = Language(name=name, **spec)
            except ValidationError as exc:
                raise ConfigError(f"languages.yaml: bad entry {name!r}: {exc}", "fix sandbox/languages.yaml") from None
        return cls(langs)

    def get(self, name: str) -> Language:
        try:
            return self._alias[name.lower()]
        except KeyError:
            raise ConfigError(f"unknown language {name!r}",
                              f"use one of: {', '.join(sorted(self.languages))}") from None

    def for_file(self, filename: str) -> Language:
        suffix = PurePosixPath(filename).suffix
        for lang in self.languages.values():
            if suffix in lang.extensions:
                return lang
        raise ConfigError(f"cannot tell the language of {filename!r}", "pass --lang")

    def __iter__(self):
        return iter(self.languages.values())


@lru_cache(maxsize=1)
def default_table() -> LanguageTable:
    return LanguageTable.load()
