"""Fault localisation: which source lines and functions the failing tests point at.

    >>> loc = localise(root, tests, registry=registry, ctx=ctx, task="fix add")   # doctest: +SKIP
    >>> loc.summary()                                                               # doctest: +SKIP
    'calculator.py:5 add (ochiai 1.00, traceback, assertion)'

Evidence per source line ``l`` in function ``f(l)`` (test files, conftest.py and the ``java`` framework's Main
classes are never suspects):

- **traceback** ``tb(l)`` in [0, 1]: locations in each failing test's failure text (Python tracebacks
  ``File "x.py", line N``, pytest's ``x.py:N:`` lines, Java ``at p.C.m(C.java:N)``, JS ``at f (x.js:N:C)``, javac's
  ``C.java:N: error:``, Go ``x.go:N``, Rust ``src/x.rs:N:C``). Per test, the deepest frame outside test files
  weighs 1, the next ones 0.7, 0.49, ... (Python prints the deepest frame last, the others first); ``tb(l)`` is
  the mean over the failing tests whose text named any such frame.
- **ochiai** ``o(l) = ef / sqrt(F * (ef + ep))`` (pytest only): ``ef``/``ep`` failing/passing tests that ran
  ``l`` (coverage.py with one dynamic context per test, through ``run_tests coverage=true``), ``F`` the failing
  tests.
- **assertion** ``a(f)`` in [0, 1]: ``f`` is called (or passed along, ``check(f)``) by a failing test: 1 in the
  failing statement (Python, resolved with ``ast`` through the test's imports) or when the failure message names
  it, 0.5 elsewhere in the test.
  Other languages: names called in the failing test's file that are defined in a source file. Halved for a
  test whose traceback reaches the source (there the frames say more than the call).
- **repo map** ``r(l)`` in (0, 0.1]: BM25 hits of the task (plus the failing tests' names and messages), used only
  when nothing above points anywhere (a feature task, or a failure without locations).

``score(l) = o(l) + 0.5 * tb(l) + 0.25 * a(f(l)) + r(l)``. A function's score is the max over its lines; a
function implicated only by ``a(f)`` is listed with its first body line. ``why`` names the kinds of evidence.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import posixpath
import re
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from .evidence import Tests, is_test_path

#: The order in which ``why`` and ``methods`` name the kinds of evidence.
METHODS = ("traceback", "assertion", "ochiai", "repo map")
TRACEBACK_WEIGHT = 0.5
ASSERTION_BONUS = 0.25
REPO_MAP_WEIGHT = 0.1
FRAME_DECAY = 0.7
LOCATED_FACTOR = 0.5
MAX_FILES = 20_000
MAX_FILE_BYTES = 1_000_000

CODE_EXTENSIONS = frozenset({".py", ".java", ".kt", ".scala", ".js", ".mjs", ".cjs", ".jsx", ".ts", ".mts", ".cts",
                             ".tsx", ".go", ".rs", ".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".hxx", ".cs",
                             ".swift", ".php"})
_TS_LANG = {".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
            ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "tsx", ".java": "java",
            ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp", ".hh": "cpp",
            ".hxx": "cpp", ".go": "go", ".rs": "rust"}


class Suspect(BaseModel):
    path: str  # workspace-relative, posix
    line: int  # 1-based line the evidence points at (for a function entry: its best line)
    score: float  # higher = more suspicious, comparable within one Localisation
    function: str | None = None  # enclosing function/method qualname (e.g. "Calc.add"), None at module level
    start: int | None = None  # first line of the enclosing function (decorators included), 1-based
    end: int | None = None  # last line of the enclosing function, inclusive
    why: str = ""  # "traceback", "assertion", "ochiai", "repo map" (comma-joined when several)
    evidence: dict[str, float] = Field(default_factory=dict)  # each kind's value (tb, a, o, r) before weighting

    def label(self) -> str:
        parts = [f"ochiai {self.evidence['ochiai']:.2f}" if k == "ochiai" and "ochiai" in self.evidence else k
                 for k in self.why.split(", ") if k]
        name = f" {self.function}" if self.function else ""
        return f"{self.path}:{self.line}{name} ({', '.join(parts)})"


class Localisation(BaseModel):
    lines: list[Suspect]  # suspicious lines, best first (source files only, never test files)
    functions: list[Suspect]  # one entry per enclosing function, best first, start/end set
    methods: list[str]  # which methods contributed, e.g. ["traceback", "ochiai"]
    seconds: float
    notes: list[str] = Field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able, the top 10 of each list (for the run report)."""
        return {"lines": [s.model_dump() for s in self.lines[:10]],
                "functions": [s.model_dump() for s in self.functions[:10]],
                "methods": list(self.methods), "seconds": round(self.seconds, 3), "notes": list(self.notes)}

    def summary(self) -> str:
        """One line: the best function (else the best line) and its evidence."""
        best = self.functions[0] if self.functions else self.lines[0] if self.lines else None
        if best is None:
            return "no suspects" + (f" ({self.notes[0]})" if self.notes else "")
        return best.label()


# --------------------------------------------------------------------------------------------- function spans
def function_spans(path: str, text: str) -> list[tuple[str, int, int]]:
    """Functions and methods of one file as ``(qualname, start, end)``, 1-based and inclusive, sorted by start.

    Python through ``ast`` (decorators included in ``start``; an indentation scan when the file does not parse),
    other languages through tree-sitter (the repo map's grammars) and, where that fails or the language has no
    grammar here, a brace-matching scan (``brace_spans``).

    >>> function_spans("m.py", "class C:\\n    @staticmethod\\n    def f():\\n        return 1\\n")
    [('C.f', 2, 4)]
    """
    suffix = posixpath.splitext(path)[1].lower()
    if suffix in (".py", ".pyi"):
        try:
            return [(d.qualname, d.start, d.end) for d in _python_defs(text)]
        except (SyntaxError, ValueError):
            return _indent_spans(text)
    if suffix in _TS_LANG:
        spans = _tree_sitter_spans(_TS_LANG[suffix], text)
        if spans is not None:
            return spans
    return brace_spans(text, rust=suffix == ".rs")


@dataclasses.dataclass(frozen=True)
class _PyDef:
    qualname: str
    start: int  # decorators included
    end: int
    body: int  # first statement after the docstring


def _python_defs(text: str) -> list[_PyDef]:
    tree = ast.parse(text)
    out: list[_PyDef] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                body = child.body[1] if len(child.body) > 1 and _is_docstring(child.body[0]) else child.body[0]
                out.append(_PyDef(prefix + child.name, start, child.end_lineno or child.lineno, body.lineno))
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return sorted(out, key=lambda d: (d.start, -d.end))


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


_PY_DEF = re.compile(r"^(\s*)(?:async\s+)?(def|class)\s+(\w+)")


def _indent_spans(text: str) -> list[tuple[str, int, int]]:
    """Python that does not parse: ``def`` blocks by indentation (decorators not included)."""
    lines = text.splitlines()
    out: list[tuple[str, int, int]] = []
    open_: list[tuple[int, str, str, int]] = []  # (indent, kind, name, start)

    def close(upto: int, indent: int) -> None:
        while open_ and open_[-1][0] >= indent:
            _, kind, name, start = open_.pop()
            if kind == "def":
                qual = ".".join([n for _, _, n, _ in open_] + [name])
                out.append((qual, start, upto))

    last = 0
    for i, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        close(last, indent)
        m = _PY_DEF.match(line)
        if m:
            open_.append((indent, m.group(2), m.group(3), i))
        last = i
    close(last, -1)
    return sorted(out, key=lambda s: (s[1], -s[2]))


def _tree_sitter_spans(lang: str, text: str) -> list[tuple[str, int, int]] | None:
    """The repo map's tree-sitter symbols as spans; None when the grammar is missing or fails."""
    from .repomap import parse_symbols

    try:
        symbols = parse_symbols(lang, text.encode("utf-8"))
    except Exception:  # noqa: BLE001 - a missing or failing grammar: the caller falls back to the brace scan
        return None
    spans = {(f"{s.parent}.{s.name}" if s.parent else s.name, s.line, s.end_line)
             for s in symbols if s.kind in ("function", "method")}
    return sorted(spans, key=lambda s: (s[1], -s[2]))


# --------------------------------------------------------------------------------------------- brace scan
_CONTROL = frozenset({"if", "for", "while", "switch", "catch", "else", "do", "try", "finally", "return", "synchronized",
                      "using", "lock", "foreach", "with", "unsafe", "loop", "match", "defer", "go", "select", "case",
                      "default", "new", "throw", "sizeof", "typeof", "await", "yield"})
_CONTINUES = ("implements", "extends", "throws", "where", "->", ":", "const", "noexcept", "override", "&&", "||")
_PREFIX_LINE = ("@", "#[", "[", "template")
_CONTAINER = re.compile(r"^(?:[@\w.]+(?:\([^()]*\))?\s+)*?(class|interface|enum|struct|record|trait|namespace|object"
                        r"|impl|mod|module)\b(?:\s*<[^{}]*?>)?\s+([A-Za-z_$][\w$]*(?:::[A-Za-z_$][\w$]*)*)([^{}]*)$")
_PAREN_KEYWORDS = frozenset({"if", "for", "while", "switch", "catch", "return", "synchronized", "using", "lock",
                             "foreach", "with", "new", "throw", "sizeof", "typeof", "await", "yield", "elif", "when"})
_IMPL_FOR = re.compile(r"\bfor\s+([A-Za-z_$][\w$:]*)")
_GO_FUNC = re.compile(r"\bfunc\b\s*(?:\(([^()]*)\)\s*)?([A-Za-z_]\w*)\s*[\[(]")
_RUST_FN = re.compile(r"\bfn\s+([A-Za-z_]\w*)")
_JS_FUNC = re.compile(r"\bfunction\b\s*\*?\s*([A-Za-z_$][\w$]*)\s*\(")
_JS_ARROW = re.compile(r"([A-Za-z_$][\w$]*)\s*[:=]\s*(?:async\s+)?(?:\([^()]*\)|[A-Za-z_$][\w$]*)"
                       r"(?:\s*:\s*[^=]+?)?\s*=>\s*$")
_JS_ASSIGNED = re.compile(r"([A-Za-z_$][\w$]*)\s*[:=]\s*(?:async\s+)?function\b")
_CALLABLE = re.compile(r"(?<![\w$.])([A-Za-z_$~][\w$]*(?:::~?[A-Za-z_$][\w$]*)*)\s*(?:<[^()=;]*?>)?\s*\(")


def brace_spans(text: str, *, rust: bool = False) -> list[tuple[str, int, int]]:
    """Functions of a brace language (Java, JS/TS, Go, C/C++, Rust, C#, Kotlin...) by matching braces: a
    function starts at its signature (annotations/attributes included) and ends at its closing brace. Strings,
    comments and C preprocessor lines are skipped; ``rust`` reads ``'a`` as a lifetime, not a char literal.

    >>> brace_spans("class A {\\n  int f(int x) {\\n    return x;\\n  }\\n}\\n")
    [('A.f', 2, 4)]
    """
    out: list[tuple[str, int, int]] = []
    stack: list[tuple[str, str | None, int]] = []  # (kind, name, start) of open braces
    header: list[tuple[int, str]] = []  # (line, char) since the last ; { }
    for line, ch in _code_chars(text, rust=rust):
        if ch == "{":
            kind, name, start = _classify(header, stack)
            stack.append((kind, name, start))
            header = []
        elif ch == "}":
            if stack:
                kind, name, start = stack.pop()
                if kind == "function" and name:
                    qual = ".".join([n for k, n, _ in stack if k != "block" and n] + [name])
                    out.append((qual, start, line))
            header = []
        elif ch == ";":
            header = []
        else:
            header.append((line, ch))
    return sorted(out, key=lambda s: (s[1], -s[2]))


def _code_chars(text: str, *, rust: bool) -> Iterable[tuple[int, str]]:
    """The characters of code with their line numbers; a string literal becomes ``""``, comments disappear."""
    i, n, line = 0, len(text), 1
    at_line_start = True
    while i < n:
        ch = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if ch == "\n":
            line += 1
            at_line_start = True
            yield line - 1, ch
            i += 1
            continue
        if at_line_start and ch == "#" and not rust and nxt != "[":  # C preprocessor line (with continuations)
            while i < n and not (text[i] == "\n" and text[i - 1] != "\\"):
                i += 1
            continue
        if not ch.isspace():
            at_line_start = False
        if ch == "/" and nxt == "/":
            while i < n and text[i] != "\n":
                i += 1
            continue
        if ch == "/" and nxt == "*":
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            line += text.count("\n", i, end)
            i = end
            continue
        if ch in "\"`" or (ch == "'" and (not rust or nxt == "\\" or text[i + 2:i + 3] == "'")):
            j = i + 1
            while j < n and text[j] != ch:
                j += 2 if text[j] == "\\" else 1
            yield line, '"'
            yield line, '"'
            line += text.count("\n", i, min(j, n))
            i = j + 1
            continue
        yield line, ch
        i += 1


def _classify(header: list[tuple[int, str]], stack: list[tuple[str, str | None, int]]) -> tuple[str, str | None, int]:
    """What a ``{`` opens: ``("container", name)``, ``("function", name)`` or ``("block", None)``, and the line
    its header starts on."""
    lines: dict[int, list[str]] = defaultdict(list)
    for ln, ch in header:
        lines[ln].append(ch)
    rows = [(ln, " ".join("".join(chs).split())) for ln, chs in sorted(lines.items())]
    rows = [(ln, t) for ln, t in rows if t]
    if not rows:
        return "block", None, stack[-1][2] if stack else 1
    first = len(rows) - 1
    while first > 0:  # the signature's lines: open parentheses, continuation lines, annotations above
        text = " ".join(t for _, t in rows[first:])
        if not (text.count(")") > text.count("(") or rows[first][1].startswith(_CONTINUES)
                or rows[first - 1][1].startswith(_PREFIX_LINE)):
            break
        first -= 1
    sig = " ".join(t for _, t in rows[first:])
    start = rows[first][0]
    body = re.sub(r"^(?:(?:@[\w.]+(?:\([^()]*\))?|#\[[^\]]*\]|\[[^\]]*\]|template\s*<[^{}]*?>)\s*)+", "", sig)
    m = _CONTAINER.match(body)
    if m and ("(" not in m.group(3) or m.group(3).lstrip().startswith("(") or m.group(1) == "impl"):
        if m.group(1) == "impl":
            other = _IMPL_FOR.search(m.group(3))
            return "container", (other.group(1) if other else m.group(2)).split("::")[-1], start
        return "container", m.group(2).split("::")[-1], start
    name = _function_name(body)
    return ("function", name, start) if name else ("block", None, start)


def _function_name(sig: str) -> str | None:
    words = re.findall(r"[\w$]+", sig)
    if not words or words[0] in _CONTROL:
        return None
    for rx in (_GO_FUNC, _RUST_FN, _JS_FUNC):
        m = rx.search(sig)
        if m:
            if rx is _GO_FUNC and m.group(1):
                receiver = m.group(1).replace("*", " ").split()
                return f"{receiver[-1]}.{m.group(2)}" if receiver else m.group(2)
            return m.group(m.lastindex or 1)
    m = _JS_ARROW.search(sig) or _JS_ASSIGNED.search(sig)
    if m:
        return m.group(1)
    m = _CALLABLE.search(sig)
    before = sig[:m.start()] if m else ""
    if m is None or m.group(1) in _PAREN_KEYWORDS or "=" in before or re.search(r"\bnew\s*$", before):
        return None
    close = _matching_paren(sig, sig.index("(", m.start()))
    if close < 0:
        return None
    tail = sig[close + 1:]
    if re.search(r"(?<![=<>!-])=(?![=>])", tail):
        return None
    return m.group(1)


def _matching_paren(text: str, i: int) -> int:
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "(":
            depth += 1
        elif text[j] == ")":
            depth -= 1
            if depth == 0:
                return j
    return -1


# --------------------------------------------------------------------------------------------- the workspace
class _Workspace:
    """Source files of the workspace (cached text and spans) and which of them are tests."""

    def __init__(self, root: Path, extra_tests: Iterable[str] = ()):
        from ..tools.base import walk_files
        from ..tools.testing import is_java_test_file

        self.root = root
        self.files: list[str] = []
        self.by_name: dict[str, list[str]] = defaultdict(list)
        self._text: dict[str, str] = {}
        self._spans: dict[str, list[tuple[str, int, int]]] = {}
        self.tests: set[str] = set()
        for f in walk_files(root, max_files=MAX_FILES):
            if f.suffix.lower() not in CODE_EXTENSIONS:
                continue
            rel = f.relative_to(root).as_posix()
            self.files.append(rel)
            self.by_name[f.name].append(rel)
            harness = f.suffix == ".java" and (f.name == "Main.java" or f.stem.endswith(("Test", "Tests")))
            if is_test_path(rel) or f.name == "conftest.py" or (harness and is_java_test_file(rel, self.text(rel))):
                self.tests.add(rel)
        self.tests.update(extra_tests)
        self._set = set(self.files)

    def is_source(self, rel: str | None) -> bool:
        return rel is not None and rel in self._set and rel not in self.tests

    def text(self, rel: str) -> str:
        if rel not in self._text:
            try:
                path = self.root / rel
                self._text[rel] = path.read_text(errors="replace") if path.stat().st_size <= MAX_FILE_BYTES else ""
            except OSError:
                self._text[rel] = ""
        return self._text[rel]

    def spans(self, rel: str) -> list[tuple[str, int, int]]:
        if rel not in self._spans:
            self._spans[rel] = function_spans(rel, self.text(rel))
        return self._spans[rel]

    def enclosing(self, rel: str, line: int) -> tuple[str, int, int] | None:
        """The innermost function around ``line``."""
        inside = [s for s in self.spans(rel) if s[1] <= line <= s[2]]
        return min(inside, key=lambda s: s[2] - s[1]) if inside else None

    def body_line(self, rel: str, qualname: str) -> int | None:
        """The first body line of a function (after a Python docstring)."""
        if rel.endswith(".py"):
            try:
                return next((d.body for d in _python_defs(self.text(rel)) if d.qualname == qualname), None)
            except (SyntaxError, ValueError):
                pass
        span = next((s for s in self.spans(rel) if s[0] == qualname), None)
        return None if span is None else min(span[1] + 1, span[2])

    def resolve(self, text: str, package: str | None = None) -> str | None:
        """A location's path as printed (``/work/x.py``, ``src/x.rs``, ``Solution.java``) -> a workspace file."""
        path = text.removeprefix("file://").replace("\\", "/")
        if path.startswith("/"):
            for prefix in ("/work/", f"{self.root.as_posix()}/"):
                if path.startswith(prefix):
                    return self._known(posixpath.normpath(path[len(prefix):]))
            return None  # the standard library, site-packages: never a suspect
        path = posixpath.normpath(path)
        if path in self._set:
            return path
        if package:
            hit = self._known(f"{package.replace('.', '/')}/{posixpath.basename(path)}")
            if hit:
                return hit
        tails = [f for f in self.files if f.endswith("/" + path)]
        if tails:
            return tails[0]
        return None

    def _known(self, rel: str) -> str | None:
        if rel in self._set:
            return rel
        tails = [f for f in self.files if f.endswith("/" + rel)]
        return tails[0] if tails else None

    def test_file_of(self, test_id: str) -> str | None:
        """The file a test id names: ``tests/test_x.py::t`` -> tests/test_x.py; ``pkg.MainTest`` -> its .java."""
        head = test_id.split("::")[0].split("[")[0]
        if head.endswith(".py"):
            return head if head in self._set else None
        if re.fullmatch(r"[\w$.]+", head):
            parts = head.split(".")
            return self._known("/".join(parts) + ".java") or next(iter(self.by_name.get(parts[-1] + ".java", [])),
                                                                  None)
        return None


# --------------------------------------------------------------------------------------------- tracebacks
_PY_FRAME = re.compile(r'File "([^"\n]+)", line (\d+)')
_JAVA_FRAME = re.compile(r"\bat\s+([\w$.<>/]+)\.[\w$<>]+\(([\w$-]+\.(?:java|kt|scala)):(\d+)\)")
_EXT = r"py|java|kt|scala|[cm]?js|jsx|[cm]?ts|tsx|go|rs|c|h|cc|cpp|cxx|hpp|hh|hxx|cs|swift|php"
_LOC = re.compile(rf"(?<![\w.@+/-])((?:file://)?/?(?:[\w.@+$-]+/)*[\w.@+$-]+\.(?:{_EXT})):(\d+)(?::\d+)?")


@dataclasses.dataclass
class _Frame:
    pos: int
    path: str  # workspace-relative
    line: int
    python: bool  # Python prints the deepest frame last; the others print it first


def parse_frames(text: str, ws: _Workspace) -> list[_Frame]:
    """The workspace locations named in one failure text, in the order printed."""
    frames: list[_Frame] = []
    taken: list[tuple[int, int]] = []
    for rx in (_PY_FRAME, _JAVA_FRAME, _LOC):
        for m in rx.finditer(text):
            if any(a <= m.start() < b for a, b in taken):
                continue
            taken.append((m.start(), m.end()))
            if rx is _JAVA_FRAME:
                cls = m.group(1)
                package = cls.rsplit(".", 1)[0] if "." in cls else None
                rel, line = ws.resolve(m.group(2), package), int(m.group(3))
            else:
                rel, line = ws.resolve(m.group(1)), int(m.group(2))
            if rel is not None and line > 0:
                frames.append(_Frame(m.start(), rel, line, rel.endswith(".py")))
    return sorted(frames, key=lambda f: f.pos)


def _frame_weights(frames: list[_Frame], ws: _Workspace) -> dict[tuple[str, int], float]:
    """Source frames of one test, deepest first: weight FRAME_DECAY ** rank."""
    ordered = [f for f in reversed(frames) if f.python] + [f for f in frames if not f.python]
    out: dict[tuple[str, int], float] = {}
    rank = 0
    for f in ordered:
        key = (f.path, f.line)
        if not ws.is_source(f.path) or key in out:
            continue
        out[key] = FRAME_DECAY ** rank
        rank += 1
    return out


_SECTION = re.compile(r"^_{3,} (.+?) _{3,}$", re.MULTILINE)


def failure_texts(tests: Tests, failing: list[str], tracebacks: dict[str, str] | None = None) -> dict[str, str]:
    """Each failing test's failure text: its message, its traceback (from a coverage run) and its section of the
    run's output (pytest's ``____ test_x ____`` blocks)."""
    sections: dict[str, str] = {}
    heads = list(_SECTION.finditer(tests.output or ""))
    for i, m in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(tests.output)
        sections[m.group(1).strip()] = tests.output[m.end():end]
    out: dict[str, str] = {}
    for tid in failing:
        parts = [tests.messages.get(tid, ""), (tracebacks or {}).get(tid, "")]
        short = tid.split("::", 1)[1].replace("::", ".") if "::" in tid else tid
        parts.append(sections.get(short, ""))
        out[tid] = "\n".join(p for p in parts if p)
    return out


def traceback_scores(texts: dict[str, str], ws: _Workspace) -> tuple[dict[tuple[str, int], float],
                                                                       dict[str, list[_Frame]]]:
    """``tb(l)`` (see the module docstring) and every test's frames (test files included)."""
    frames = {tid: parse_frames(text, ws) for tid, text in texts.items()}
    per_test = [w for w in (_frame_weights(fs, ws) for fs in frames.values()) if w]
    total: dict[tuple[str, int], float] = defaultdict(float)
    for weights in per_test:
        for key, w in weights.items():
            total[key] += w / len(per_test)
    return dict(total), frames


# --------------------------------------------------------------------------------------------- assertions
@dataclasses.dataclass
class _Imports:
    names: dict[str, tuple[str, str]]  # local name -> (module file, attribute)
    modules: dict[str, str]  # local name -> module file
    star: list[str] = dataclasses.field(default_factory=list)  # modules imported with *


def _module_file(module: str, level: int, here: str, ws: _Workspace) -> str | None:
    base = module.replace(".", "/") if module else ""
    if level:
        parent = Path(here).parent
        for _ in range(level - 1):
            parent = parent.parent
        stem = (parent / base).as_posix() if base else parent.as_posix()
        cands = [f"{stem}.py", f"{stem}/__init__.py"]
    else:
        cands = [f"{base}.py", f"{base}/__init__.py", f"src/{base}.py", f"src/{base}/__init__.py",
                 (Path(here).parent / f"{base}.py").as_posix()]
    return next((posixpath.normpath(c) for c in cands if posixpath.normpath(c) in ws._set), None)


def _imports(tree: ast.AST, here: str, ws: _Workspace) -> _Imports:
    imp = _Imports({}, {})
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                rel = _module_file(a.name, 0, here, ws)
                if rel:
                    imp.modules[a.asname or a.name] = rel
        elif isinstance(node, ast.ImportFrom):
            for a in node.names:
                local = a.asname or a.name
                if a.name == "*":
                    star = _module_file(node.module or "", node.level, here, ws)
                    imp.star += [star] if star else []
                    continue
                sub = _module_file(f"{node.module}.{a.name}" if node.module else a.name, node.level, here, ws)
                rel = _module_file(node.module or "", node.level, here, ws)
                if sub:
                    imp.modules[local] = sub
                elif rel:
                    imp.names[local] = (rel, a.name)
    return imp


def _home(rel: str, name: str, ws: _Workspace, depth: int = 0) -> tuple[str, str] | None:
    """Where ``name`` (a function or a class) seen from module ``rel`` is defined, as (file, its own name),
    following re-exports (``from .cart import Cart`` in a package's ``__init__``) two levels deep."""
    if any(q == name or q.startswith(name + ".") for q, _, _ in ws.spans(rel)):
        return rel, name
    if depth < 2 and rel.endswith(".py"):
        try:
            imp = _imports(ast.parse(ws.text(rel)), rel, ws)
        except (SyntaxError, ValueError):
            return None
        if name in imp.names:
            mod, attr = imp.names[name]
            return _home(mod, attr, ws, depth + 1)
    return None


def _definition(rel: str, name: str, ws: _Workspace) -> list[tuple[str, str]]:
    """What calling ``name`` from module ``rel`` runs, as ``(file, qualname)``: the function, or a class's
    ``__init__``."""
    found = _home(rel, name, ws)
    if found is None:
        return []
    home, real = found
    quals = {q for q, _, _ in ws.spans(home)}
    if real in quals:
        return [(home, real)]
    return [(home, f"{real}.__init__")] if f"{real}.__init__" in quals else []


def _class_of(rel: str, name: str, ws: _Workspace) -> tuple[str, str] | None:
    found = _home(rel, name, ws)
    if found is None or not any(q.startswith(found[1] + ".") for q, _, _ in ws.spans(found[0])):
        return None
    return found


class _CallResolver:
    """Resolves the calls of one Python test function to source functions."""

    def __init__(self, imp: _Imports, ws: _Workspace, func: ast.AST):
        self.imp, self.ws = imp, ws
        self.var_class: dict[str, tuple[str, str]] = {}
        for node in ast.walk(func):  # c = Calc(...)  ->  c is a Calc
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                cls = self._class(node.value.func)
                for t in node.targets:
                    if cls and isinstance(t, ast.Name):
                        self.var_class[t.id] = cls

    def _class(self, func: ast.expr) -> tuple[str, str] | None:
        if isinstance(func, ast.Name) and func.id in self.imp.names:
            mod, attr = self.imp.names[func.id]
            return _class_of(mod, attr, self.ws)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in self.imp.modules:
            return _class_of(self.imp.modules[func.value.id], func.attr, self.ws)
        return None

    def resolve(self, func: ast.expr) -> tuple[list[tuple[str, str]], float]:
        """Targets of one call and how sure we are (1, or 0.5 for a method matched by name only)."""
        if isinstance(func, ast.Name) and func.id in self.imp.names:
            mod, attr = self.imp.names[func.id]
            return _definition(mod, attr, self.ws), 1.0
        if isinstance(func, ast.Name):
            return [d for mod in self.imp.star for d in _definition(mod, func.id, self.ws)], 1.0
        if not isinstance(func, ast.Attribute):
            return [], 0.0
        owner = func.value
        if isinstance(owner, ast.Name) and owner.id in self.imp.modules:
            return _definition(self.imp.modules[owner.id], func.attr, self.ws), 1.0
        cls = None
        if isinstance(owner, ast.Name):
            cls = self.var_class.get(owner.id) or (self._class(owner) if owner.id in self.imp.names else None)
        elif isinstance(owner, ast.Call):
            cls = self._class(owner.func)
        if cls:
            qual = f"{cls[1]}.{func.attr}"
            return ([(cls[0], qual)] if any(q == qual for q, _, _ in self.ws.spans(cls[0])) else []), 1.0
        files = set(self.imp.modules.values()) | {m for m, _ in self.imp.names.values()}
        hits = [(rel, q) for rel in sorted(files) for q, _, _ in self.ws.spans(rel) if q.endswith("." + func.attr)]
        return hits, 0.5


def _find_test_function(tree: ast.Module, parts: list[str]) -> ast.AST | None:
    scope: list[ast.stmt] = tree.body
    node: ast.AST | None = None
    for part in parts:
        node = next((n for n in scope if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                     and n.name == part), None)
        if node is None:
            return None
        scope = node.body  # type: ignore[attr-defined]
    return node if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None


def python_assertion_calls(test_id: str, frames: list[_Frame], message: str,
                           ws: _Workspace) -> dict[tuple[str, str], float]:
    """``a(f)`` for one failing pytest test: functions called in its failing statement (the deepest frame in the
    test function, else its asserts) weigh 1, or when the failure message names them; other calls 0.5."""
    rel = ws.test_file_of(test_id)
    if rel is None or "::" not in test_id:
        return {}
    try:
        tree = ast.parse(ws.text(rel))
    except (SyntaxError, ValueError):
        return {}
    parts = [re.sub(r"\[.*\]$", "", p) for p in test_id.split("::")[1:]]
    func = _find_test_function(tree, parts)
    if func is None:
        return {}
    lo, hi = func.lineno, func.end_lineno or func.lineno  # type: ignore[attr-defined]
    lines = [f.line for f in frames if f.path == rel and lo <= f.line <= hi]
    failing_stmt = _statement_at(func, lines[-1]) if lines else None
    resolver = _CallResolver(_imports(tree, rel, ws), ws, func)
    out: dict[tuple[str, str], float] = {}
    callees = {id(n.func) for n in ast.walk(func) if isinstance(n, ast.Call)}
    for node in ast.walk(func):
        if isinstance(node, ast.Call):
            ref = node.func
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and id(node) not in callees:
            ref = node  # a function passed along: check(candidate)
        else:
            continue
        targets, sure = resolver.resolve(ref)
        name = ref.id if isinstance(ref, ast.Name) else getattr(ref, "attr", "")
        in_stmt = (failing_stmt is not None and failing_stmt[0] <= node.lineno <= failing_stmt[1]) or (
            failing_stmt is None and _inside_assert(func, node)) or bool(name and re.search(rf"\b{name}\(", message))
        weight = (1.0 if in_stmt else 0.5) * sure
        for target in targets:
            if ws.is_source(target[0]):
                out[target] = max(out.get(target, 0.0), weight)
    return out


def _statement_at(func: ast.AST, line: int) -> tuple[int, int] | None:
    best = None
    for node in ast.walk(func):
        if isinstance(node, ast.stmt) and node is not func and node.lineno <= line <= (node.end_lineno or node.lineno):
            span = (node.lineno, node.end_lineno or node.lineno)
            if best is None or span[1] - span[0] < best[1] - best[0]:
                best = span
    return best


def _inside_assert(func: ast.AST, node: ast.expr) -> bool:
    return any(isinstance(n, ast.Assert) and n.lineno <= node.lineno <= (n.end_lineno or n.lineno)
               for n in ast.walk(func))


_CALL_NAME = re.compile(r"(?<![\w$])([A-Za-z_$][\w$]*)\s*\(")


def named_calls(test_file: str, message: str, ws: _Workspace) -> dict[tuple[str, str], float]:
    """``a(f)`` for a failing test in another language: names called in its file that are defined in the source
    files it can see (its folder, or files whose name it mentions: ``Solution.find``, ``require('./calc')``);
    1 when the failure message names the function too, else 0.5."""
    text = ws.text(test_file)
    called = set(_CALL_NAME.findall(text))
    if not called:
        return {}
    words = set(re.findall(r"[\w$]+", text))
    folder = posixpath.dirname(test_file)
    out: dict[tuple[str, str], float] = {}
    for rel in ws.files:
        if not ws.is_source(rel) or rel.endswith(".py"):
            continue
        if posixpath.dirname(rel) != folder and posixpath.splitext(posixpath.basename(rel))[0] not in words:
            continue
        for qual, _, _ in ws.spans(rel):
            short = qual.rsplit(".", 1)[-1]
            if short in called:
                out[(rel, qual)] = 1.0 if re.search(rf"\b{re.escape(short)}\b", message) else 0.5
    return out


def assertion_scores(failing: list[str], messages: dict[str, str], frames: dict[str, list[_Frame]],
                     ws: _Workspace) -> dict[tuple[str, str], float]:
    """``a(f)`` over the failing tests (the max); ``messages`` are the reports' short failure messages."""
    out: dict[tuple[str, str], float] = {}
    for tid in failing:
        rel = ws.test_file_of(tid)
        if rel is None:
            continue
        message = messages.get(tid, "")
        calls = python_assertion_calls(tid, frames.get(tid, []), message, ws) if rel.endswith(".py") \
            else named_calls(rel, message, ws)
        located = any(ws.is_source(f.path) for f in frames.get(tid, []))
        for key, w in calls.items():  # a traceback into the source outranks what the test called
            out[key] = max(out.get(key, 0.0), w * (LOCATED_FACTOR if located else 1.0))
    return out


# --------------------------------------------------------------------------------------------- ochiai
def ochiai_scores(coverage: dict[str, dict[Any, list[str]]], failed: Iterable[str],
                  ws: _Workspace) -> dict[tuple[str, int], float]:
    """``o(l) = ef / sqrt(F * (ef + ep))`` over ``{file: {line: [test ids that ran it]}}``."""
    fail = set(failed)
    if not fail:
        return {}
    out: dict[tuple[str, int], float] = {}
    for path, lines in coverage.items():
        rel = posixpath.normpath(str(path))
        if not ws.is_source(rel):
            continue
        for line, ids in lines.items():
            ef = sum(1 for t in set(ids) if t in fail)
            if ef:
                out[(rel, int(line))] = ef / math.sqrt(len(fail) * len(set(ids)))
    return out


def _coverage_run(root: Path, registry: Any, ctx: Any, notes: list[str]) -> tuple[dict, dict[str, str], list[str]]:
    """``run_tests coverage=true`` on ``root``: (coverage, tracebacks, failing ids), empty with a note when it
    could not measure."""
    args: dict[str, Any] = {"framework": "pytest", "coverage": True}
    if root != ctx.workspace:
        if root.is_relative_to(ctx.workspace):
            args["path"] = root.relative_to(ctx.workspace).as_posix()
        else:
            ctx = dataclasses.replace(ctx, workspace=root, repomap=None)
    obs = registry.call("run_tests", args, ctx)
    data = obs.data or {}
    if "coverage" not in data:
        why = data.get("coverage_error") or obs.error or obs.summary
        if data.get("timed_out"):
            why = f"the run under coverage timed out ({obs.summary}); raise the tool timeout or pass coverage=False"
        notes.append(f"coverage unavailable for pytest: {why}")
        return {}, dict(data.get("tracebacks") or {}), []
    ids = set(data.get("test_ids") or [])
    failing = [str(t) for t in [*(data.get("failed") or []), *(data.get("errors") or [])] if not ids or t in ids]
    if not failing:
        notes.append(f"the coverage run had no failing test ({obs.summary}): no spectrum")
    return dict(data["coverage"]), dict(data.get("tracebacks") or {}), failing


# --------------------------------------------------------------------------------------------- repo map
def repo_map_scores(root: Path, repomap: Any, query: str, ws: _Workspace, limit: int,
                    notes: list[str]) -> dict[tuple[str, int], float]:
    """``r(l)``: BM25 hits of ``query`` scaled into (0, REPO_MAP_WEIGHT]."""
    if repomap is None:
        try:
            from .repomap import RepoMap

            repomap = RepoMap.build(root)
        except Exception as exc:  # noqa: BLE001 - no grammar, unreadable tree: localise without it, say why
            notes.append(f"repo map unavailable: {type(exc).__name__}: {exc}")
            return {}
    hits = [h for h in repomap.search(query, k=limit * 2) if ws.is_source(h.path)]
    if not hits:
        notes.append("the repo map found nothing for the task")
        return {}
    top = max(h.score for h in hits) or 1.0
    out: dict[tuple[str, int], float] = {}
    for h in hits[:limit]:
        key = (h.path, h.line)
        out[key] = max(out.get(key, 0.0), REPO_MAP_WEIGHT * max(h.score, 0.0) / top)
    return out


# --------------------------------------------------------------------------------------------- combining
def _combine(tb: dict[tuple[str, int], float], och: dict[tuple[str, int], float],
             calls: dict[tuple[str, str], float], rmap: dict[tuple[str, int], float],
             ws: _Workspace) -> list[Suspect]:
    evidence: dict[tuple[str, int], dict[str, float]] = defaultdict(dict)
    for kind, values in (("traceback", tb), ("ochiai", och), ("repo map", rmap)):
        for key, v in values.items():
            if v > 0:
                evidence[key][kind] = v
    for (rel, qual), a in calls.items():
        span = next((s for s in ws.spans(rel) if s[0] == qual), None)
        if span is None:
            continue
        mine = [k for k in evidence if k[0] == rel and ws.enclosing(rel, k[1]) == span]
        if not mine:
            mine = [(rel, ws.body_line(rel, qual) or span[1])]
        for key in mine:
            evidence[key]["assertion"] = max(evidence[key].get("assertion", 0.0), a)
    out = []
    for (rel, line), ev in evidence.items():
        score = (ev.get("ochiai", 0.0) + TRACEBACK_WEIGHT * ev.get("traceback", 0.0)
                 + ASSERTION_BONUS * ev.get("assertion", 0.0) + ev.get("repo map", 0.0))
        span = ws.enclosing(rel, line)
        out.append(Suspect(path=rel, line=line, score=round(score, 6), function=span[0] if span else None,
                           start=span[1] if span else None, end=span[2] if span else None,
                           why=", ".join(k for k in METHODS if k in ev),
                           evidence={k: round(v, 4) for k, v in ev.items()}))
    return sorted(out, key=lambda s: (-s.score, s.path, s.line))


def _functions(lines: list[Suspect]) -> list[Suspect]:
    best: dict[tuple[str, str, int], Suspect] = {}
    kinds: dict[tuple[str, str, int], set[str]] = defaultdict(set)
    values: dict[tuple[str, str, int], dict[str, float]] = defaultdict(dict)
    for s in lines:  # best first, so the first one seen is the function's best line
        if s.function is None or s.start is None:
            continue
        key = (s.path, s.function, s.start)
        best.setdefault(key, s)
        kinds[key].update(s.why.split(", "))
        for k, v in s.evidence.items():
            values[key][k] = max(values[key].get(k, 0.0), v)
    return [s.model_copy(update={"why": ", ".join(k for k in METHODS if k in kinds[key]), "evidence": values[key]})
            for key, s in best.items()]


def localise(root: Path, tests: Tests, *, registry: Any, ctx: Any, task: str = "", repomap: Any = None,
             coverage: bool = True, limit: int = 20) -> Localisation:
    """Rank the source lines and functions of ``root`` by how suspicious the failing ``tests`` make them (see the
    module docstring). ``coverage`` reruns pytest under coverage.py for Ochiai (Python only); without failing
    tests the repo map's hits for ``task`` are the suspects. Never raises for missing tooling: ``notes`` say why
    a method did not contribute."""
    t0 = time.monotonic()
    root = Path(root).resolve()
    notes: list[str] = []
    failing = list(dict.fromkeys([*tests.failed, *tests.errors]))
    ws = _Workspace(root)
    ws.tests.update(f for f in (ws.test_file_of(t) for t in failing) if f)
    cov: dict = {}
    tracebacks: dict[str, str] = {}
    cov_failing: list[str] = []
    if coverage and failing:
        from ..tools.testing import detect_framework

        framework = detect_framework(root)
        if framework == "pytest":
            cov, tracebacks, cov_failing = _coverage_run(root, registry, ctx, notes)
        else:
            notes.append(f"coverage unavailable for {framework or 'this workspace'}: spectra are measured for "
                         "pytest only")
    elif coverage and tests.found:
        notes.append("coverage skipped: no failing test")
    texts = failure_texts(tests, failing, tracebacks)
    tb, frames = traceback_scores(texts, ws)
    if not tb and tests.output and failing:  # no test-level text located anything: try the run's whole output
        tb, pooled = traceback_scores({"output": tests.output}, ws)
        for tid in failing:
            frames.setdefault(tid, []).extend(pooled["output"])
    calls = assertion_scores(failing, tests.messages, frames, ws)
    och = ochiai_scores(cov, cov_failing, ws)
    rmap: dict[tuple[str, int], float] = {}
    if not (tb or calls or och):
        query = " ".join([task, *failing[:5], *(tests.messages.get(t, "")[:200] for t in failing[:5])]).strip()
        if query:
            rmap = repo_map_scores(root, repomap, query, ws, limit, notes)
        else:
            notes.append("no failing test and no task: nothing to localise")
    lines = _combine(tb, och, calls, rmap, ws)
    methods = [m for m, v in (("traceback", tb), ("assertion", calls), ("ochiai", och), ("repo map", rmap)) if v]
    return Localisation(lines=lines[:limit], functions=_functions(lines)[:limit], methods=methods,
                        seconds=time.monotonic() - t0, notes=notes)
