"""Edit units a small model can produce: the replacement of one function, or of a few lines around a suspicious
span, never a whole file. The model sees the region and its line numbers; it answers only the new text of the
region (``EDIT_SCHEMA``), so it never has to reproduce code it is not changing.

A candidate is applied to the file's text here (re-indented to the region's indentation), checked for syntax or
compilation before anything runs (``static_check``: ``ast`` for Python, ``node --check`` for JavaScript, ``gofmt``
for Go, the compiler's syntax-only mode for C/C++, a bracket balance for the rest), and keyed for deduplication
by its normalised form (``normal_key``: the AST for Python, the token text elsewhere).
"""

from __future__ import annotations

import ast
import hashlib
import io
import re
import shutil
import subprocess
import tempfile
import textwrap
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .act import strip_fences

EDIT_SCHEMA: dict[str, Any] = {"type": "object", "required": ["code"], "additionalProperties": False,
                               "properties": {"code": {"type": "string"}}}
MAX_FUNCTION_LINES = 60  # a longer function is edited as a window of lines around its suspicious line
WINDOW = 3  # lines either side of the suspicious line in a window region
LANG_OF = {".py": "python", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".ts": "typescript",
           ".java": "java", ".go": "go", ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".hpp": "cpp",
           ".rs": "rust"}


@dataclass
class Region:
    """Lines ``start..end`` (1-based, inclusive) of ``path``: what a candidate replaces."""

    path: str
    start: int
    end: int
    text: str
    function: str | None = None
    focus: int | None = None  # the suspicious line inside the region
    kind: str = "function"  # "function" or "lines"
    hot: list[int] = field(default_factory=list)  # the region's suspicious lines, most suspicious first

    @property
    def language(self) -> str:
        return LANG_OF.get(Path(self.path).suffix, "text")

    def label(self) -> str:
        what = f"{self.function} " if self.function else ""
        return f"{self.path}:{self.start}-{self.end} {what}({self.kind})".replace("  ", " ")

    def numbered(self) -> str:
        return "\n".join(f"{n:>4}| {line}" for n, line in enumerate(self.text.splitlines(), self.start))


@dataclass
class Candidate:
    """One proposed edit of one region, and what became of it."""

    id: int
    region: Region
    code: str  # the region's replacement as the model wrote it
    agent: str
    variant: str
    temperature: float
    round: int
    new_text: str = ""  # the whole file after the edit
    key: str = ""
    status: str = "new"  # new, duplicate, no-op, syntax, broke, failing, partial, passed, rejected, accepted
    reason: str = ""
    failed: list[str] = field(default_factory=list)
    new_failures: list[str] = field(default_factory=list)
    passed: int = 0
    diff_lines: int = 0
    messages: dict[str, str] = field(default_factory=dict)
    gen_s: float = 0.0
    val_s: float = 0.0
    tokens: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "round": self.round, "agent": self.agent, "variant": self.variant,
                "temperature": self.temperature, "region": self.region.label(), "status": self.status,
                "reason": self.reason[:300], "failed": self.failed[:5], "new_failures": self.new_failures[:5],
                "passed": self.passed, "diff_lines": self.diff_lines, "gen_s": round(self.gen_s, 3),
                "val_s": round(self.val_s, 3)}


# --------------------------------------------------------------------------------------------- regions
def function_region(path: str, text: str, qualname: str | None, start: int, end: int,
                    focus: int | None = None) -> Region:
    """The whole function ``start..end``; a function longer than ``MAX_FUNCTION_LINES`` becomes a window."""
    lines = text.splitlines()
    if end - start + 1 > MAX_FUNCTION_LINES and focus is not None:
        return window_region(path, text, focus, function=qualname)
    body = "\n".join(lines[start - 1:end])
    return Region(path, start, end, body, function=qualname, focus=focus, kind="function")


def window_region(path: str, text: str, line: int, function: str | None = None, width: int = WINDOW) -> Region:
    lines = text.splitlines()
    line = max(1, min(line, len(lines) or 1))
    start, end = max(1, line - width), min(len(lines), line + width)
    return Region(path, start, end, "\n".join(lines[start - 1:end]), function=function, focus=line, kind="lines")


def python_function(region: Region) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The Python function a region holds (its text dedented and parsed), or None."""
    if region.language != "python":
        return None
    try:
        tree = ast.parse(textwrap.dedent(region.text))
    except SyntaxError:
        return None
    return next((n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None)


# --------------------------------------------------------------------------------------------- answers
_CODE_FIELD = re.compile(r'"code"\s*:\s*"((?:[^"\\]|\\.)*)', re.DOTALL)


def code_of(answer: str) -> str | None:
    """The replacement in a model's answer: the ``code`` of a JSON object, else a fenced block, else None.
    An answer cut off mid-string (``num_predict``) still yields what it holds."""
    import json

    text = answer.strip()
    try:
        obj = json.loads(text)
        if isinstance(obj, dict) and isinstance(obj.get("code"), str):
            return strip_fences(obj["code"])
    except json.JSONDecodeError:
        match = _CODE_FIELD.search(text)
        if match:
            try:
                return strip_fences(json.loads('"' + match.group(1).rstrip("\\") + '"'))
            except json.JSONDecodeError:
                pass
    fenced = re.search(r"```[\w+-]*\n(.*?)(```|$)", text, re.DOTALL)
    return fenced.group(1) if fenced else None


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def fit(region: Region, code: str) -> str:
    """The replacement re-indented to the region's own indentation (models often answer at column 0)."""
    new = [ln.rstrip() for ln in code.replace("\t", "    ").strip("\n").splitlines()]
    while new and not new[-1].strip():
        new.pop()
    if not new:
        return ""
    old_first = next((ln for ln in region.text.splitlines() if ln.strip()), "")
    want = _indent(old_first)
    dedented = textwrap.dedent("\n".join(new))
    return textwrap.indent(dedented, want, lambda ln: bool(ln.strip()))


def apply(text: str, region: Region, code: str) -> str:
    lines = text.splitlines()
    replacement = fit(region, code).splitlines()
    out = lines[: region.start - 1] + replacement + lines[region.end:]
    return "\n".join(out) + ("\n" if text.endswith("\n") or not text else "")


def diff_size(old: str, new: str) -> int:
    """Changed lines between two texts (a cheap line diff)."""
    import difflib

    return sum(1 for ln in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
               if ln[:1] in "+-" and not ln.startswith(("+++", "---")))


# --------------------------------------------------------------------------------------------- dedup
def normal_key(path: str, text: str) -> str:
    """The same program, whatever its layout or comments: the AST for Python, the token stream elsewhere."""
    if path.endswith(".py"):
        try:
            return "py:" + hashlib.sha256(ast.dump(ast.parse(text)).encode()).hexdigest()
        except (SyntaxError, ValueError):
            pass
        try:
            toks = [t.string for t in tokenize.generate_tokens(io.StringIO(text).readline)
                    if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                                      tokenize.DEDENT)]
            return "tok:" + hashlib.sha256("\x00".join(toks).encode()).hexdigest()
        except (tokenize.TokenError, IndentationError, SyntaxError):
            pass
    stripped = re.sub(r"//[^\n]*|/\*.*?\*/|#[^\n]*", "", text, flags=re.DOTALL)
    toks = re.findall(r"\w+|[^\s\w]", stripped)
    return "tok:" + hashlib.sha256("\x00".join(toks).encode()).hexdigest()


# --------------------------------------------------------------------------------------------- static checks
def _run_checker(argv: list[str], suffix: str, text: str, timeout: float = 20.0) -> str | None:
    with tempfile.TemporaryDirectory(prefix="tanuki-check-") as tmp:
        path = Path(tmp) / f"candidate{suffix}"
        path.write_text(text, encoding="utf-8")
        try:
            proc = subprocess.run([*argv, str(path)], check=False, capture_output=True, text=True,
                                  timeout=timeout, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None if isinstance(exc, OSError) else f"syntax check timed out after {timeout:.0f}s"
        if proc.returncode != 0:
            first = (proc.stderr or proc.stdout).strip().splitlines()
            return (first[0] if first else "does not compile").replace(str(path), "")[:300]
    return None


def _brackets(text: str) -> str | None:
    stripped = re.sub(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|//[^\n]*|/\*.*?\*/', "", text, flags=re.DOTALL)
    pairs, stack = {")": "(", "]": "[", "}": "{"}, []
    for n, ch in enumerate(stripped):
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs and (not stack or stack.pop() != pairs[ch]):
            return f"unbalanced '{ch}' near character {n}"
    return f"unclosed '{stack[-1]}'" if stack else None


def static_check(path: str, text: str) -> str | None:
    """A one-line syntax or compile error of the edited file, or None. Costs milliseconds, runs nothing."""
    suffix = Path(path).suffix
    lang = LANG_OF.get(suffix)
    if lang == "python":
        try:
            compile(text, path, "exec", dont_inherit=True)
        except SyntaxError as exc:
            return f"{path} line {exc.lineno}: syntax error: {exc.msg}"
        except ValueError as exc:  # NUL bytes
            return f"{path}: {exc}"
        return None
    if lang == "javascript" and shutil.which("node"):
        return _run_checker(["node", "--check"], suffix, text)
    if lang == "go" and shutil.which("gofmt"):
        return _run_checker(["gofmt", "-e", "-l"], suffix, text)
    compiler = shutil.which("gcc" if lang == "c" else "g++") if lang in ("c", "cpp") else None
    if compiler:
        error = _run_checker([compiler, "-fsyntax-only", "-w"], suffix, text)
        # a missing header of the project is not the candidate's fault
        return None if error and "No such file" in error else error
    return _brackets(text)
