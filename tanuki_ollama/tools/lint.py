"""lint (ruff, pylint, eslint) and format (ruff format, gofmt, rustfmt, terraform fmt).

These programs read the workspace's files without executing them, so they run on the host with the workspace as
the working directory. eslint runs with tanuki's own configuration (``--no-config-lookup``): a workspace's
``eslint.config.js`` is JavaScript and is never loaded.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any, ClassVar

from ..settings import Settings
from .base import (
    Observation,
    ToolContext,
    ToolError,
    ToolUnavailable,
    observe,
    rel_to,
    resolve_path,
    run_process,
    walk_files,
)

PY = (".py",)
#: ruff codes that mean the code cannot run (ruff itself calls every violation an error)
RUFF_ERRORS = frozenset({"invalid-syntax", "F821", "F822", "F823", "F632", "F704", "F706", "F707"})
JS = (".js", ".mjs", ".cjs", ".jsx")
ESLINT_CONFIG = """import js from "@eslint/js";
export default [js.configs.recommended, {languageOptions: {ecmaVersion: "latest", sourceType: "module",
  globals: {console: "readonly", process: "readonly", require: "readonly", module: "writable",
            __dirname: "readonly", setTimeout: "readonly", Buffer: "readonly"}}}];
"""


def venv_tool(name: str) -> str | None:
    """A console script of our own environment first (ruff, pylint, hadolint), then PATH."""
    own = Path(sys.executable).parent / name
    return str(own) if own.exists() else shutil.which(name)


def eslint_home() -> Path:
    return Settings.from_env().cache / "node"


def find_eslint(ctx: ToolContext) -> str | None:
    """Only tanuki's own eslint (install.sh): a workspace's ``node_modules/.bin/eslint`` is the repository's code,
    and it would run on the host, outside the sandbox."""
    candidate = eslint_home() / "node_modules" / ".bin" / "eslint"
    return str(candidate) if candidate.exists() and shutil.which("node") else None


def _targets(ctx: ToolContext, paths: list[str] | None, suffixes: tuple[str, ...]) -> list[str]:
    """Workspace-relative files with one of ``suffixes`` under the given paths (default: the workspace)."""
    out: list[str] = []
    for p in paths or ["."]:
        full = resolve_path(ctx, p)
        if full.is_file():
            out.append(rel_to(ctx, full))
        elif full.is_dir():
            out += [rel_to(ctx, f) for f in walk_files(full) if f.suffix in suffixes]
        else:
            raise ToolError(f"no such file or folder: {p}", "pass paths relative to the workspace")
    return [t for t in out if t.endswith(suffixes)]


def _finding(path: str, line: int | None, col: int | None, code: str, message: str, severity: str,
             linter: str) -> dict[str, Any]:
    return {"path": path, "line": line, "column": col, "code": code, "message": message, "severity": severity,
            "linter": linter}


def run_ruff(ctx: ToolContext, files: list[str]) -> list[dict[str, Any]]:
    exe = venv_tool("ruff")
    if exe is None:
        raise ToolUnavailable("ruff is not installed", "pip install ruff (it is in the dev extra)")
    proc = run_process([exe, "check", "--no-cache", "--output-format=json", "--exit-zero", "--", *files],
                       cwd=ctx.workspace, timeout_s=ctx.timeout_s)
    if proc.timed_out or proc.exit_code not in (0, 1):
        raise ToolError(f"ruff failed: {proc.output[-500:]}", "check the ruff configuration of the workspace")
    out = []
    for item in json.loads(proc.stdout or "[]"):
        loc = item.get("location") or {}
        path = os.path.relpath(item.get("filename", ""), ctx.workspace)
        code = item.get("code") or "invalid-syntax"  # older ruff: code null for syntax errors
        out.append(_finding(Path(path).as_posix(), loc.get("row"), loc.get("column"), code, item.get("message", ""),
                            "error" if code in RUFF_ERRORS or code.startswith("E9") else "warning", "ruff"))
    return out


def run_pylint(ctx: ToolContext, files: list[str]) -> list[dict[str, Any]]:
    exe = venv_tool("pylint")
    if exe is None:
        raise ToolUnavailable("pylint is not installed", "pip install pylint (it is in the dev extra)")
    # --rcfile=/dev/null: a workspace pylintrc may name load-plugins (code execution); ignore it.
    proc = run_process([exe, "--output-format=json", "--rcfile=/dev/null", "--persistent=n", "--score=n",
                        "--", *files], cwd=ctx.workspace, timeout_s=ctx.timeout_s,
                       env={"PYLINTHOME": str(Settings.from_env().cache / "pylint")})
    if proc.timed_out or (proc.exit_code or 0) & 32:
        raise ToolError(f"pylint failed: {proc.output[-500:]}", "check the files are Python")
    sev = {"fatal": "error", "error": "error", "warning": "warning"}
    return [_finding(Path(i["path"]).as_posix(), i.get("line"), i.get("column"), i.get("message-id", ""),
                     i.get("message", ""), sev.get(i.get("type", ""), "info"), "pylint")
            for i in json.loads(proc.stdout or "[]")]


def ensure_eslint_config() -> Path:
    cfg = eslint_home() / "tanuki.eslint.config.mjs"
    if not cfg.exists() or cfg.read_text() != ESLINT_CONFIG:
        cfg.parent.mkdir(parents=True, exist_ok=True)
        cfg.write_text(ESLINT_CONFIG)
    return cfg


def run_eslint(ctx: ToolContext, files: list[str]) -> list[dict[str, Any]]:
    exe = find_eslint(ctx)
    if exe is None:
        raise ToolUnavailable("eslint is not installed",
                              f"run ./install.sh (it installs eslint under {eslint_home()}) or npm i -D eslint")
    cfg = ensure_eslint_config()
    proc = run_process([exe, "--no-config-lookup", "-c", str(cfg), "-f", "json", "--", *files], cwd=ctx.workspace,
                       timeout_s=ctx.timeout_s, env={"NODE_PATH": str(eslint_home() / "node_modules")})
    if proc.timed_out or proc.exit_code not in (0, 1):
        raise ToolError(f"eslint failed: {proc.output[-500:]}", "check the eslint installation")
    out = []
    for result in json.loads(proc.stdout or "[]"):
        path = Path(os.path.relpath(result["filePath"], ctx.workspace)).as_posix()
        for m in result.get("messages", []):
            out.append(_finding(path, m.get("line"), m.get("column"), m.get("ruleId") or "parse",
                                m.get("message", ""), "error" if m.get("severity") == 2 else "warning", "eslint"))
    return out


LINTERS = {"ruff": (PY, run_ruff), "pylint": (PY, run_pylint), "eslint": (JS, run_eslint)}


class Lint:
    name = "lint"
    description = ("Lint workspace files: ruff or pylint for Python, eslint for JavaScript. Returns findings with "
                   "path, line, column, code and message.")
    parameters: ClassVar[dict[str, Any]] = {"type": "object", "additionalProperties": False, "properties": {
        "paths": {"type": "array", "items": {"type": "string"}, "description": "files or folders (default: all)"},
        "linter": {"type": "string", "enum": ["auto", "ruff", "pylint", "eslint"], "default": "auto"}}}

    def run(self, args: dict[str, Any], ctx: ToolContext) -> Observation:
        choice = args.get("linter", "auto")
        names = ["ruff", "eslint"] if choice == "auto" else [choice]
        findings: list[dict[str, Any]] = []
        ran: list[str] = []
        unavailable: dict[str, str] = {}
        for name in names:
            suffixes, runner = LINTERS[name]
            files = _targets(ctx, args.get("paths"), suffixes)
            if not files:
                continue
            try:
                findings += runner(ctx, files)
                ran.append(name)
            except ToolUnavailable as exc:
                if choice != "auto":
                    raise
                unavailable[name] = str(exc)
        if not ran and not unavailable:
            return observe(self.name, True, "nothing to lint (no Python or JavaScript files)",
                           {"findings": [], "linters": [], "unavailable": {}})
        errors = sum(1 for f in findings if f["severity"] == "error")
        summary = f"{len(findings)} finding(s) ({errors} error(s)) from {', '.join(ran) or 'no linter'}"
        if unavailable:
            summary += "; unavailable: " + ", ".join(unavailable)
        ok = bool(ran) and not findings
        return observe(self.name, ok, summary, {"findings": findings[:500], "linters": ran,
                                                "unavailable": unavailable},
                       error=None if ok else ("lint findings" if ran else "; ".join(unavailable.values())),
                       truncated=len(findings) > 500)


# --------------------------------------------------------------------------------------------- format
def _formatter(suffix: str) -> tuple[str, list[str]] | None:
    """(program, argv prefix) that formats files in place; ``--check`` variants are derived in ``Format``."""
    if suffix == ".py":
        exe = venv_tool("ruff")
        return (exe, [exe, "format", "--no-cache"]) if exe else None
    if suffix == ".go":
        exe = shutil.which("gofmt") or ("/usr/local/go/bin/gofmt" if Path("/usr/local/go/bin/gofmt").exists() else None)
        return (exe, [exe, "-l", "-w"]) if exe else None
    if suffix == ".rs":
        exe = shutil.which("rustfmt")
        return (exe, [exe, "--edition", "2021"]) if exe else None
    if suffix in (".tf", ".tfvars"):
        exe = shutil.which("terraform")
        return (exe, [exe, "fmt"]) if exe else None
    return None


def _check_argv(argv: list[str]) -> list[str]:
    prog = Path(argv[0]).name
    if prog == "gofmt":
        return [argv[0], "-l"]
    if prog == "terraform":
        return argv + ["-check"]
    return argv + ["--check"]


class Format:
    name = "format"
    description = ("Format workspace files in place (ruff format for Python, gofmt, rustfmt, terraform fmt), or "
                   "with check=true only list the files that would change.")
    parameters: ClassVar[dict[str, Any]] = {"type": "object", "additionalProperties": False, "properties": {
        "paths": {"type": "array", "items": {"type": "string"}},
        "check": {"type": "boolean", "default": False}}}

    def run(self, args: dict[str, Any], ctx: ToolContext) -> Observation:
        suffixes = (".py", ".go", ".rs", ".tf", ".tfvars")
        files = _targets(ctx, args.get("paths"), suffixes)
        for f in files:
            resolve_path(ctx, f, write=not args.get("check"))
        by_suffix: dict[str, list[str]] = {}
        for f in files:
            by_suffix.setdefault(Path(f).suffix, []).append(f)
        changed: list[str] = []
        unavailable: list[str] = []
        failures: list[str] = []
        for suffix, group in sorted(by_suffix.items()):
            fmt = _formatter(suffix)
            if fmt is None:
                unavailable.append(suffix)
                continue
            before = {f: (ctx.workspace / f).read_bytes() for f in group}
            argv = _check_argv(fmt[1]) if args.get("check") else fmt[1]
            proc = run_process([*argv, *group], cwd=ctx.workspace, timeout_s=ctx.timeout_s)
            if args.get("check"):
                changed += [f for f in group if f in proc.output]
                if proc.exit_code not in (0, 1, 3) and not changed:
                    failures.append(f"{Path(fmt[0]).name}: {proc.output[-300:]}")
            else:
                if proc.exit_code not in (0, None) and Path(fmt[0]).name != "gofmt":
                    failures.append(f"{Path(fmt[0]).name}: {proc.output[-300:]}")
                changed += [f for f in group if (ctx.workspace / f).read_bytes() != before[f]]
        verb = "would reformat" if args.get("check") else "reformatted"
        summary = f"{verb} {len(changed)} of {len(files)} file(s)"
        if unavailable:
            summary += f"; no formatter for {', '.join(unavailable)}"
        ok = not failures and not (args.get("check") and changed)
        return observe(self.name, ok, summary, {"changed": sorted(set(changed)), "files": len(files),
                                                "unavailable": unavailable, "failures": failures},
                       error="; ".join(failures) or (f"{len(changed)} file(s) need formatting" if not ok else None))
