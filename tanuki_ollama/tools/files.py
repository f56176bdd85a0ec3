"""File tools: read_file, write_file (whole-file edits, preferred for small models), apply_patch (unified
diffs, all-or-nothing), search (regex/literal text search plus symbol search through the repo map)."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from .base import Observation, ToolContext, ToolError, clip, observe, rel_to, resolve_path, walk_files

MAX_READ_CHARS = 60_000
MAX_WRITE_BYTES = 4 * 1024 * 1024


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)  # replaces a symlink itself, never writes through it
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ReadFile:
    name = "read_file"
    description = "Read a text file of the workspace (optionally a line range). Lines are numbered from 1."
    parameters: ClassVar[dict[str, Any]] = {"type": "object", "additionalProperties": False, "required": ["path"], "properties": {
        "path": {"type": "string", "description": "path relative to the workspace root"},
        "start_line": {"type": "integer", "minimum": 1},
        "end_line": {"type": "integer", "minimum": 1}}}

    def run(self, args: dict[str, Any], ctx: ToolContext) -> Observation:
        path = resolve_path(ctx, args["path"])
        if not path.is_file():
            raise ToolError(f"no such file: {args['path']}", "list files with the search tool")
        raw = path.read_bytes()
        if b"\x00" in raw[:8192]:
            raise ToolError(f"{args['path']} is a binary file", "read text files only")
        lines = raw.decode("utf-8", errors="replace").splitlines(keepends=True)
        start = args.get("start_line", 1)
        end = min(args.get("end_line", len(lines)), len(lines))
        text, cut = clip("".join(lines[start - 1:end]), MAX_READ_CHARS)
        return observe(self.name, True, f"read {rel_to(ctx, path)} lines {start}-{end} of {len(lines)}",
                       {"path": rel_to(ctx, path), "content": text, "start_line": start, "end_line": end,
                        "total_lines": len(lines)}, truncated=cut)


class WriteFile:
    name = "write_file"
    description = ("Write the whole content of a file in the workspace (created with its folders if missing). "
                   "Prefer this over patches: send the complete new file.")
    parameters: ClassVar[dict[str, Any]] = {"type": "object", "additionalProperties": False, "required": ["path", "content"], "properties": {
        "path": {"type": "string", "description": "path relative to the workspace root"},
        "content": {"type": "string", "description": "the complete new content"}}}

    def run(self, args: dict[str, Any], ctx: ToolContext) -> Observation:
        path = resolve_path(ctx, args["path"], write=True)
        data = args["content"].encode()
        if len(data) > MAX_WRITE_BYTES:
            raise ToolError(f"content of {len(data)} bytes is over the {MAX_WRITE_BYTES} limit", "split the file")
        if path.is_dir():
            raise ToolError(f"{args['path']} is a directory", "name a file")
        created = not path.exists()
        old = b"" if created else path.read_bytes()
        _atomic_write(path, data)
        rel = rel_to(ctx, path)
        return observe(self.name, True, f"{'created' if created else 'wrote'} {rel} ({len(data)} bytes)",
                       {"path": rel, "bytes": len(data), "created": created, "changed": old != data,
                        "lines": data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)})


# --------------------------------------------------------------------------------------------- unified diffs
@dataclass
class Hunk:
    old_start: int
    lines: list[str] = field(default_factory=list)  # each starts with ' ', '-' or '+'

    def old(self) -> list[str]:
        return [ln[1:] for ln in self.lines if ln[:1] in (" ", "-")]

    def new(self) -> list[str]:
        return [ln[1:] for ln in self.lines if ln[:1] in (" ", "+")]


@dataclass
class FilePatch:
    old_path: str | None
    new_path: str | None
    hunks: list[Hunk] = field(default_factory=list)


_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def _strip_prefix(name: str) -> str | None:
    name = name.split("\t")[0].strip()
    if name == "/dev/null":
        return None
    if name.startswith(("a/", "b/")):
        name = name[2:]
    return name


def parse_unified_diff(text: str) -> list[FilePatch]:
    """Parse a unified diff (git or diff -u). Hunk line counts are recounted, so hand-written hunks work."""
    patches: list[FilePatch] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            patches.append(FilePatch(_strip_prefix(line[4:]), _strip_prefix(lines[i + 1][4:])))
            i += 2
            continue
        m = _HUNK.match(line)
        if m and patches:
            hunk = Hunk(int(m.group(1)))
            old_count = int(m.group(2)) if m.group(2) is not None else 1
            i += 1
            while i < len(lines) and not _HUNK.match(lines[i]) and not (
                    lines[i].startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ ")):
                ln = lines[i]
                if ln.startswith("\\"):  # "\ No newline at end of file"
                    pass
                elif ln[:1] in (" ", "-", "+"):
                    hunk.lines.append(ln)
                elif ln == "":
                    hunk.lines.append(" ")  # editors strip the space of empty context lines
                elif ln.startswith("diff "):
                    break
                i += 1
            while len(hunk.old()) > old_count and hunk.lines and hunk.lines[-1] == " ":
                hunk.lines.pop()  # blank lines after the hunk (trailing newlines of the patch text)
            patches[-1].hunks.append(hunk)
            continue
        i += 1
    if not patches:
        raise ToolError("no file headers (--- a/x, +++ b/x) found in the patch",
                        "send a unified diff, or use write_file with the whole new content")
    return patches


def _find(haystack: list[str], needle: list[str], around: int) -> int | None:
    """Where ``needle`` occurs in ``haystack``, nearest to ``around`` (a hunk may have drifted)."""
    if not needle:
        return min(max(around, 0), len(haystack))
    n = len(needle)
    best = None
    for pos in range(len(haystack) - n + 1):
        if haystack[pos:pos + n] == needle and (best is None or abs(pos - around) < abs(best - around)):
            best = pos
    if best is None:  # retry ignoring trailing whitespace
        strip = [s.rstrip() for s in needle]
        for pos in range(len(haystack) - n + 1):
            if [s.rstrip() for s in haystack[pos:pos + n]] == strip and (
                    best is None or abs(pos - around) < abs(best - around)):
                best = pos
    return best


def apply_hunks(original: str, hunks: list[Hunk], path: str) -> str:
    lines = original.splitlines()
    trailing_nl = original.endswith("\n") or original == ""
    offset = 0
    for number, hunk in enumerate(hunks, 1):
        old = hunk.old()
        pos = _find(lines, old, hunk.old_start - 1 + offset)
        if pos is None:
            raise ToolError(f"{path}: hunk {number} (at line {hunk.old_start}) does not match the file",
                            "read the file again and resend the patch, or use write_file")
        lines[pos:pos + len(old)] = hunk.new()
        offset = pos - (hunk.old_start - 1) + len(hunk.new()) - len(old)
    return "\n".join(lines) + ("\n" if trailing_nl and lines else "")


class ApplyPatch:
    name = "apply_patch"
    description = ("Apply a unified diff to workspace files (all files or none). Context lines must match; "
                   "hunks that drifted a few lines are found.")
    parameters: ClassVar[dict[str, Any]] = {"type": "object", "additionalProperties": False, "required": ["patch"], "properties": {
        "patch": {"type": "string", "description": "unified diff with ---/+++ headers and @@ hunks"}}}

    def run(self, args: dict[str, Any], ctx: ToolContext) -> Observation:
        patches = parse_unified_diff(args["patch"])
        plan: list[tuple[Path, bytes | None, str]] = []  # (path, new content or None = delete, action)
        for fp in patches:
            target_rel = fp.new_path or fp.old_path
            if target_rel is None:
                raise ToolError("a patch names /dev/null on both sides", "fix the file headers")
            path = resolve_path(ctx, target_rel, write=True)
            if fp.old_path is not None and fp.old_path != fp.new_path:
                resolve_path(ctx, fp.old_path, write=True)
            if fp.new_path is None:
                plan.append((path, None, "deleted"))
                continue
            source = resolve_path(ctx, fp.old_path) if fp.old_path else None
            if source is not None and not source.is_file():
                raise ToolError(f"{fp.old_path}: no such file", "create new files with --- /dev/null")
            original = source.read_text(errors="replace") if source else ""
            new = apply_hunks(original, fp.hunks, target_rel)
            plan.append((path, new.encode(), "created" if source is None else "modified"))
        for path, data, _ in plan:
            if data is None:
                path.unlink(missing_ok=True)
            else:
                _atomic_write(path, data)
        files = [{"path": rel_to(ctx, p), "action": a} for p, _, a in plan]
        return observe(self.name, True, f"patched {len(files)} file(s): " + ", ".join(f["path"] for f in files),
                       {"files": files, "hunks": sum(len(fp.hunks) for fp in patches)})


# --------------------------------------------------------------------------------------------- search
class Search:
    name = "search"
    description = ("Search the workspace. mode=text: regex or literal search of file contents (like ripgrep), "
                   "matches with line numbers. mode=symbols: ranked symbols and code chunks from the repo map.")
    parameters: ClassVar[dict[str, Any]] = {"type": "object", "additionalProperties": False, "required": ["query"], "properties": {
        "query": {"type": "string", "minLength": 1},
        "mode": {"type": "string", "enum": ["text", "symbols"], "default": "text"},
        "regex": {"type": "boolean", "default": False},
        "case_sensitive": {"type": "boolean", "default": True},
        "path": {"type": "string", "description": "folder or file to search (default: the workspace)"},
        "glob": {"type": "string", "description": "only files whose name matches, e.g. *.py"},
        "max_results": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}}}

    def run(self, args: dict[str, Any], ctx: ToolContext) -> Observation:
        limit = args.get("max_results", 50)
        if args.get("mode") == "symbols":
            return self._symbols(args["query"], limit, ctx)
        flags = 0 if args.get("case_sensitive", True) else re.IGNORECASE
        try:
            pattern = re.compile(args["query"] if args.get("regex") else re.escape(args["query"]), flags)
        except re.error as exc:
            raise ToolError(f"bad regex: {exc}", "escape special characters or set regex=false") from exc
        base = resolve_path(ctx, args.get("path") or ".")
        files = [base] if base.is_file() else walk_files(base)
        glob = args.get("glob")
        matches: list[dict[str, Any]] = []
        scanned = 0
        for f in files:
            if glob and not Path(f.name).match(glob):
                continue
            try:
                if f.stat().st_size > 2_000_000:
                    continue
                raw = f.read_bytes()
            except OSError:
                continue
            if b"\x00" in raw[:4096]:
                continue
            scanned += 1
            for no, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), 1):
                if pattern.search(line):
                    matches.append({"path": rel_to(ctx, f), "line": no, "text": line.strip()[:300]})
                    if len(matches) >= limit:
                        break
            if len(matches) >= limit:
                break
        files_hit = sorted({m["path"] for m in matches})
        return observe(self.name, True, f"{len(matches)} match(es) in {len(files_hit)} file(s) "
                       f"({scanned} scanned)" + (" [limit reached]" if len(matches) >= limit else ""),
                       {"matches": matches, "files": files_hit}, truncated=len(matches) >= limit)

    def _symbols(self, query: str, limit: int, ctx: ToolContext) -> Observation:
        from ..orchestrator.repomap import RepoMap

        if ctx.repomap is None:
            ctx.repomap = RepoMap.build(ctx.workspace)
        else:
            ctx.repomap.update()
        hits = ctx.repomap.search(query, k=limit)
        return observe(self.name, True, f"{len(hits)} symbol/chunk hit(s) for {query!r}",
                       {"hits": [h.model_dump() for h in hits]})

