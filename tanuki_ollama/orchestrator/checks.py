"""Acceptance checks for a task that has no failing test (a feature, "implement the function"): a pytest file the
candidate search validates its candidates against.

Two sources, both generic:

- :func:`example_checks`: the examples the task text and the docstrings of the source files state - doctests
  (``>>> f(1)`` and the expected output), and the common forms ``f(x) == y``, ``f(x) -> y``, ``f(x) => y``,
  ``f(x) ➞ y``, ``f(x) returns y``, ``f(x) should return y``, ``f(x) raises E``, ``Input: ... Output: ...`` and a
  call followed by its value in an "Example(s):" section. Each example is one test function; an expected value is
  used only when it is a literal or a plain expression of literals (never a call of the code under test).
- the tester agent: :func:`tester_messages` asks ``tanuki-tester`` for a pytest file, :func:`parse_tester_checks`
  accepts its answer only when it parses, asserts something and imports the code under test, and
  :func:`review_messages` asks the reviewer whether the checks match the task text.

>>> c = example_checks("`add(2, 3) == 5`", Path("/nonexistent"), [], functions={"add": "calc"})
>>> c.cases, c.names, "from calc import add" in c.content
(1, ['test_add_1'], True)
"""

from __future__ import annotations

import ast
import builtins
import doctest
import importlib.util
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..agents.prompts import render_system_prompt, render_template
from ..errors import TanukiError
from ..types import Message
from . import act
from .parse import parse_object

CHECKS_FILE = "test_tanuki_checks.py"
TESTER_AGENT = "tanuki-tester"
REVIEWER_AGENT = "tanuki-reviewer"  # answer: verdict accept|revise, reasons (review.parse_verdict reads it)
MAX_EXAMPLES = 40  # tests per generated file
MAX_SOURCE_FILES = 50  # files scanned for definitions when no sources are named
# calls an expected value may contain (the values of literals that have no literal syntax)
SAFE_CALLS = {"set", "frozenset", "float", "int", "str", "tuple", "list", "dict", "complex", "bool", "bytes"}
SAFE_OPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.USub, ast.UAdd, ast.Not, ast.Pow)
_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".tanuki", "build", "dist", "site-packages"}
# the operator between a call and its expected value ("raises" forms expect an exception name)
_OPERATOR = re.compile(r"\s*(?:#\s*)?(==|->|=>|=(?![=>])|➞|→|⟶|\breturns\b|\bshould (?:return|be|give)\b|\bmust return\b|"
                       r"\bgives\b|\bevaluates to\b|\b(?:should )?raises?\b)\s*", re.IGNORECASE)
_EXAMPLE_HEADER = re.compile(r"^\s*(?:for\s+)?(?:an?\s+)?examples?\b[^:\n]*:\s*$", re.IGNORECASE)
_SECTION_END = re.compile(r"^\s*(?:args|arguments|parameters|params|returns?|raises|yields|notes?|see also)\s*:",
                          re.IGNORECASE)
_IO_INPUT = re.compile(r"^\s*(?:[-*]\s*)?input\s*:\s*(.+?)\s*$", re.IGNORECASE)
_IO_OUTPUT = re.compile(r"^\s*(?:[-*]\s*)?output\s*:\s*(.+?)\s*$", re.IGNORECASE)


class ChecksError(TanukiError):
    """Acceptance checks could not be written (an unreadable source, a bad path)."""


class Checks(BaseModel):
    """A generated pytest file: its workspace-relative ``path``, ``content``, where it came from (``examples`` or
    ``tester``), the number of ``cases`` and the test ``names`` (functions; ``Class::method`` in classes)."""

    path: str = CHECKS_FILE
    content: str
    origin: str
    cases: int
    names: list[str] = Field(default_factory=list)

    @property
    def node_ids(self) -> list[str]:
        """pytest's ids of the tests (``test_tanuki_checks.py::test_add_1``)."""
        return [f"{self.path}::{n}" for n in self.names]

    def write(self, root: Path) -> Path:
        """Write the file into the workspace ``root``; returns its path."""
        target = (Path(root) / self.path).resolve()
        if Path(root).resolve() not in target.parents:
            raise ChecksError(f"the checks file {self.path} is outside the workspace",
                              hint="give Checks.path relative to the workspace")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.content, encoding="utf-8")
        return target


# ---------------------------------------------------------------------------------------------- modules
@dataclass
class _Module:
    """One source file as an importable module: its name, the ``sys.path`` entry it needs, what it defines."""

    name: str
    import_root: str  # workspace-relative folder to put on sys.path ("" = the workspace root)
    tree: ast.Module
    defined: set[str] = field(default_factory=set)
    functions: dict[str, list[str]] = field(default_factory=dict)  # top-level function -> parameter names


def module_name(rel: str, root: Path) -> tuple[str, str]:
    """``(module, import root)`` of a workspace-relative Python file: the module is dotted from the first folder
    above it without ``__init__.py`` (``pkg/calc.py`` with ``pkg/__init__.py`` -> ``pkg.calc``; ``src/calc.py`` ->
    ``calc`` imported from ``src``).

    >>> module_name("calc.py", Path("/nonexistent"))
    ('calc', '')
    """
    parts = list(Path(rel).with_suffix("").parts)
    cut = len(parts) - 1  # index of the module's own name
    while cut > 0 and (Path(root, *parts[:cut]) / "__init__.py").is_file():
        cut -= 1
    return ".".join(parts[cut:]), "/".join(parts[:cut])


def _defined_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"}
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


def _load_module(root: Path, rel: str) -> _Module | None:
    try:
        tree = ast.parse((Path(root) / rel).read_text(encoding="utf-8", errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return None
    name, import_root = module_name(rel, root)
    if not all(part.isidentifier() for part in name.split(".")):
        return None
    funcs = {n.name: [a.arg for a in [*n.args.posonlyargs, *n.args.args, *n.args.kwonlyargs]]
             for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return _Module(name, import_root, tree, _defined_names(tree), funcs)


def _default_sources(root: Path) -> list[str]:
    """Non-test Python files of the workspace (shallow first, at most ``MAX_SOURCE_FILES``), when the caller
    names none; virtual environments, VCS and build folders are not entered."""
    found: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith(".") and d not in ("tests", "test"))
        rel = Path(folder).relative_to(root)
        found += [(rel / f).as_posix() for f in sorted(files) if f.endswith(".py") and not (
            f.startswith("test_") or f.endswith("_test.py") or f == "conftest.py")]
    return sorted(found, key=lambda r: (r.count("/"), r))[:MAX_SOURCE_FILES]


# ---------------------------------------------------------------------------------------------- values
def _is_safe_value(node: ast.AST, names: frozenset[str] = frozenset()) -> bool:
    """A literal, a container of safe values, arithmetic on them, or ``set()``/``float('inf')``-like calls;
    ``names`` may also be referenced (a doctest's own variables)."""
    if isinstance(node, ast.Expression):
        return _is_safe_value(node.body, names)
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return all(_is_safe_value(e, names) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _is_safe_value(k, names) for k in node.keys) and all(
            _is_safe_value(v, names) for v in node.values)
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.op, SAFE_OPS) and _is_safe_value(node.operand, names)
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Pow) and not (isinstance(node.right, ast.Constant)
                                                 and isinstance(node.right.value, int) and node.right.value <= 64):
            return False
        return isinstance(node.op, SAFE_OPS) and _is_safe_value(node.left, names) and _is_safe_value(node.right, names)
    if isinstance(node, ast.Call):
        return (isinstance(node.func, ast.Name) and (node.func.id in SAFE_CALLS or node.func.id in names)
                and all(_is_safe_value(a, names) for a in node.args)
                and all(k.arg and _is_safe_value(k.value, names) for k in node.keywords))
    if isinstance(node, ast.Name):
        return node.id in names
    return False


def _parse_value(text: str, names: frozenset[str] = frozenset()) -> ast.expr | None:
    text = text.strip()
    if not text or text.endswith((",", ".")):
        return None
    try:
        node = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError):
        return None
    if isinstance(node, ast.Tuple) and not text.startswith("("):
        return None  # "2, f(3) == 6" is prose, not a tuple
    return node if _is_safe_value(node, names) else None


def _leading_value(text: str, names: frozenset[str] = frozenset()) -> str | None:
    """The longest prefix of ``text`` that is a safe value (``"5 because ..."`` -> ``"5"``)."""
    text = text[:300].rstrip()
    for end in range(len(text), 0, -1):
        if end < len(text) and (text[end - 1].isspace() or (text[end - 1].isalnum() and text[end].isalnum())):
            continue  # cut only at the end of a word or symbol
        if _parse_value(text[:end], names) is not None:
            return text[:end]
    return None


def _places(expected: str) -> int | None:
    """Decimals shown by the float literals of an expected value (``3.33`` -> 2): a float shown rounded matches."""
    decimals = [len(m.group(1)) for m in re.finditer(r"\d\.(\d+)(?![\deE])", expected)]
    return max(decimals) if decimals else None


def _exception_name(text: str, module_names: set[str]) -> str | None:
    name = text.strip().rstrip(".:").split(":")[0].strip().split(".")[-1]
    if not name.isidentifier():
        return None
    obj = getattr(builtins, name, None)
    if isinstance(obj, type) and issubclass(obj, BaseException):
        return name
    return name if name in module_names else None


# ---------------------------------------------------------------------------------------------- examples
@dataclass
class _Example:
    func: str  # the name the test is named after
    call: str  # the expression under test
    expected: str = ""  # the expected value's source ("" with `raises`)
    raises: str = ""  # an exception name
    printed: bool = False  # compare str(call) with `expected` as text (a doctest's print)
    setup: list[str] = field(default_factory=list)
    names: set[str] = field(default_factory=set)  # module names the test uses
    origin: str = ""
    module: str = ""  # the module whose names the test imports ("": each name from the module defining it)

    def key(self) -> tuple:
        return (tuple(self.setup), _norm(self.call), _norm(self.expected) if not self.printed else self.expected,
                self.raises)


def _norm(src: str) -> str:
    try:
        return ast.dump(ast.parse(src, mode="eval"))
    except SyntaxError:
        return src.strip()


def _call_end(text: str, start: int) -> int | None:
    """The index after the parenthesis that closes the one at ``start`` (strings respected), or None."""
    depth, quote, i = 0, "", start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i + 1
        elif ch == "\n":
            return None
        i += 1
    return None


def _safe_call(src: str, funcs: set[str]) -> ast.Call | None:
    try:
        node = ast.parse(src, mode="eval").body
    except (SyntaxError, ValueError):
        return None
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in funcs):
        return None
    args_ok = all(_is_safe_value(a) for a in node.args) and all(k.arg and _is_safe_value(k.value)
                                                                 for k in node.keywords)
    return node if args_ok else None


def _inline_examples(text: str, funcs: set[str], module_names: set[str], origin: str) -> list[_Example]:
    """``f(x) OP y`` forms anywhere in ``text`` (doctest lines excluded: the doctest parser reads them)."""
    if not funcs:
        return []
    pattern = re.compile(r"(?<![\w.])(" + "|".join(sorted(map(re.escape, funcs), key=len, reverse=True)) + r")\s*\(")
    out = []
    for line in text.splitlines():
        if line.lstrip().startswith((">>>", "...")):
            continue
        pos = 0
        while (m := pattern.search(line, pos)) is not None:
            pos = m.end()
            if re.search(r"\bdef\s*$", line[:m.start()]):
                continue
            end = _call_end(line, m.end() - 1)
            call = line[m.start():end] if end else ""
            if not call or _safe_call(call, funcs) is None:
                continue
            op = _OPERATOR.match(line, end)
            if op is None:
                continue
            rest = line[op.end():]
            if "raise" in op.group(1).lower():
                exc = _exception_name(re.split(r"[\s`,;]", rest.strip() or "?")[0], module_names)
                if exc:
                    out.append(_Example(m.group(1), call, raises=exc, origin=origin))
                continue
            value = _leading_value(rest)
            if value is not None:
                out.append(_Example(m.group(1), call, expected=value, origin=origin))
                pos = op.end() + len(value)
    return out


def _example_sections(text: str) -> list[list[str]]:
    """The lines of each "Example(s):" section (up to the next "Args:"/"Returns:"-like header)."""
    sections: list[list[str]] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if _EXAMPLE_HEADER.match(line):
            current = []
            sections.append(current)
        elif current is not None and _SECTION_END.match(line):
            current = None
        elif current is not None:
            current.append(line)
    return sections


def _as_call(func: str, args: str, params: list[str]) -> str | None:
    """``Input: nums = [1, 2], k = 3`` -> ``f(nums=[1, 2], k=3)`` (keywords kept when they are parameters, else
    the values in order)."""
    for src in (f"{func}({args})", f"{func}(*({args},))"):
        try:
            node = ast.parse(src, mode="eval").body
        except SyntaxError:
            continue
        if isinstance(node, ast.Call):
            break
    else:
        # "a = 1, b = [2]": a chain of assignments read as keywords
        pairs = re.split(r",\s*(?=[A-Za-z_]\w*\s*=(?!=))", args)
        kw = [p.split("=", 1) for p in pairs if re.match(r"^\s*[A-Za-z_]\w*\s*=(?!=)", p)]
        if len(kw) != len(pairs):
            return None
        return _as_call(func, ", ".join(f"{k.strip()}={v.strip()}" for k, v in kw), params)
    if not all(_is_safe_value(a) for a in node.args) or not all(k.arg and _is_safe_value(k.value)
                                                                 for k in node.keywords):
        return None
    if node.keywords and not all(k.arg in params for k in node.keywords):
        if node.args:
            return None
        node = ast.Call(func=node.func, args=[k.value for k in node.keywords], keywords=[])
    return ast.unparse(node)


def _section_examples(text: str, funcs: dict[str, list[str]], func_hint: str | None,
                      origin: str) -> list[_Example]:
    """In "Example(s):" sections: ``Input:``/``Output:`` pairs, and a call line followed by its value line."""
    out = []
    for lines in _example_sections(text):
        rows = [ln.strip() for ln in lines if ln.strip()]
        for i, row in enumerate(rows[:-1]):
            nxt = rows[i + 1]
            inp, outp = _IO_INPUT.match(row), _IO_OUTPUT.match(nxt)
            if inp and outp and func_hint:
                call = _as_call(func_hint, inp.group(1), funcs.get(func_hint, []))
                value = _leading_value(outp.group(1))
                if call and value:
                    out.append(_Example(func_hint, call, expected=value, origin=origin))
                continue
            call_node = _safe_call(row.rstrip(";"), set(funcs))
            if call_node is not None and not _OPERATOR.match(nxt) and _safe_call(nxt, set(funcs)) is None:
                value = _leading_value(nxt)
                if value is not None and value == nxt.rstrip():
                    out.append(_Example(call_node.func.id, row.rstrip(";"), expected=value, origin=origin))
    return out


def _load_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _bound_names(node: ast.AST) -> set[str]:
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    names |= {n.arg for n in ast.walk(node) if isinstance(n, ast.arg)}
    for n in ast.walk(node):
        if isinstance(n, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in n.names}
        elif isinstance(n, (ast.FunctionDef, ast.ClassDef)):
            names.add(n.name)
    return names


def _doctest_examples(text: str, module_names: set[str], origin: str) -> list[_Example]:
    """Doctests: each expression with an expected output (or an expected exception) is one test; the statements
    before it in the same docstring are its setup."""
    try:
        parsed = doctest.DocTestParser().get_examples(text)
    except ValueError:
        return []
    out: list[_Example] = []
    setup: list[str] = []
    bound: set[str] = set()
    known = set(dir(builtins))
    for ex in parsed:
        src = ex.source.rstrip("\n")
        try:
            tree = ast.parse(src)
        except SyntaxError:
            return out
        if _load_names(tree) - known - module_names - bound - _bound_names(tree):
            return out  # the docstring relies on names we cannot provide: stop here
        single = len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr)
        if not single:
            setup.append(src)
            bound |= _bound_names(tree)
            continue
        used = (_load_names(tree) | {n for s in setup for n in _load_names(ast.parse(s))}) & module_names
        expr = tree.body[0].value
        func = _called(expr, module_names) or min(used, default="example")
        if ex.options.get(doctest.SKIP) or (ex.options.get(doctest.ELLIPSIS) and "..." in ex.want) or not used:
            pass  # skipped, an elided output, or an example that does not touch the code
        elif ex.exc_msg is not None:
            exc = _exception_name(ex.exc_msg, module_names)
            if exc:
                out.append(_Example(func, src, raises=exc, setup=list(setup), names=used, origin=origin))
        elif (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "print"
              and len(expr.args) == 1 and not expr.keywords and ex.want):
            out.append(_Example(func, ast.unparse(expr.args[0]), expected=ex.want.rstrip("\n"), printed=True,
                                setup=list(setup), names=used, origin=origin))
        elif ex.want:
            value = _parse_value(ex.want.strip(), frozenset(module_names | bound))
            if value is not None:
                out.append(_Example(func, src, expected=ex.want.strip(), setup=list(setup),
                                    names=used | (_load_names(value) & module_names), origin=origin))
        elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id in module_names:
            out.append(_Example(func, src, expected="None", setup=list(setup), names=used, origin=origin))
        if ex.exc_msg is None and (not ex.want or _load_names(tree) & bound):
            setup.append(src)  # it may change state the next examples see (a doctest's session goes on)
    return out


def _called(expr: ast.AST, module_names: set[str]) -> str | None:
    for node in ast.walk(expr):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in module_names:
            return node.func.id
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id in module_names):
            return node.func.value.id
    return None


def _docstrings(tree: ast.Module) -> list[tuple[str, str | None]]:
    """``(docstring, the function it documents)`` of the module, its functions, classes and methods."""
    out: list[tuple[str, str | None]] = []
    doc = ast.get_docstring(tree, clean=True)
    if doc:
        out.append((doc, None))
    for node in tree.body:
        inner = [node] + ([n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
                          if isinstance(node, ast.ClassDef) else [])
        for n in inner:
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                doc = ast.get_docstring(n, clean=True)
                if doc:
                    top = n.name if n is node and not isinstance(n, ast.ClassDef) else None
                    out.append((doc, top))
    return out


# ---------------------------------------------------------------------------------------------- rendering
_HELPER = '''

def _tanuki_eq(got, want, places=None):
    """Equality, with floats equal when close (or equal at the decimals the example shows)."""
    if isinstance(want, float) or (isinstance(got, float) and isinstance(want, int) and not isinstance(want, bool)):
        if not isinstance(got, (int, float)) or isinstance(got, bool):
            return False
        if math.isnan(want) or math.isnan(got):
            return math.isnan(want) and math.isnan(got)
        if math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12):
            return True
        return places is not None and abs(got - want) <= 0.5 * 10 ** -places + 1e-12
    if isinstance(want, (list, tuple)) and isinstance(got, (list, tuple)) and type(got) is type(want):
        return len(got) == len(want) and all(_tanuki_eq(g, w, places) for g, w in zip(got, want))
    if isinstance(want, dict) and isinstance(got, dict):
        return got.keys() == want.keys() and all(_tanuki_eq(got[k], want[k], places) for k in want)
    return got == want
'''


def _test_function(name: str, ex: _Example) -> str:
    label = f"{ex.call} {'raises ' + ex.raises if ex.raises else '-> ' + ex.expected} ({ex.origin})"
    body = [*(line for s in ex.setup for line in s.splitlines())]
    if ex.raises:
        body += [f"with pytest.raises({ex.raises}):", f"    {ex.call}"]
    elif ex.printed:
        body += [f"got = str({ex.call}).rstrip()",
                 f"assert got == {ex.expected.rstrip()!r}, {label!r} + ', got ' + repr(got)"]
    else:
        places = _places(ex.expected)
        body += [f"got = {ex.call}",
                 f"assert _tanuki_eq(got, {ex.expected}, {places}), {label!r} + ', got ' + repr(got)"]
    return f"\n\ndef {name}():\n" + "\n".join(f"    {line}" for line in body) + "\n"


def _render(examples: list[_Example], modules: list[_Module], uses: dict[str, set[str]]) -> tuple[str, list[str]]:
    paths = sorted({m.import_root for m in modules if m.import_root})
    head = ['"""Acceptance checks from the examples of the task and the docstrings (written by tanuki)."""', "",
            "import math", "import sys", "from pathlib import Path", "", "import pytest", ""]
    head += [f"sys.path.insert(0, str(Path(__file__).resolve().parent / {p!r}))" for p in paths]
    head += [f"from {m.name} import {', '.join(sorted(uses[m.name]))}  # noqa: E402" for m in modules]
    names: list[str] = []
    counts: dict[str, int] = {}
    body = []
    for ex in examples:
        base = re.sub(r"\W", "_", ex.func).strip("_") or "example"
        counts[base] = counts.get(base, 0) + 1
        names.append(f"test_{base}_{counts[base]}")
        body.append(_test_function(names[-1], ex))
    return "\n".join(head) + "\n" + _HELPER + "".join(body), names


def example_checks(task: str, root: Path, sources: list[str], *,
                   functions: dict[str, str] | None = None) -> Checks | None:
    """Tests from the examples stated in ``task`` and in the docstrings of ``sources`` (workspace-relative Python
    files; none: the workspace's non-test Python files). ``functions`` maps more function names to their module
    (for code that is not on disk yet). None when no example is found."""
    root = Path(root)
    rels = list(dict.fromkeys(sources or _default_sources(root)))
    modules = [m for rel in rels if rel.endswith(".py") if (m := _load_module(root, rel)) is not None]
    for fname, mod in (functions or {}).items():
        if not any(fname in m.defined for m in modules):
            modules.append(_Module(mod, "", ast.Module(body=[], type_ignores=[]), {fname}, {fname: []}))
    owner: dict[str, _Module] = {}
    for m in modules:
        for name in m.defined:
            owner.setdefault(name, m)
    examples = _collect(task, modules, owner)
    if not examples:
        return None
    by_name = {m.name: m for m in modules}
    uses: dict[str, set[str]] = {}
    for ex in examples:
        for name in ex.names:
            mod = ex.module or owner[name].name
            uses.setdefault(mod, set()).add(name)
    content, names = _render(examples, [by_name[m] for m in uses], uses)
    return Checks(content=content, origin="examples", cases=len(names), names=names)


def _collect(task: str, modules: list[_Module], owner: dict[str, _Module]) -> list[_Example]:
    """Every example of the task text and the docstrings, deduplicated, each naming the module names it uses."""
    all_names = set(owner)
    funcs = {f: params for m in modules for f, params in m.functions.items() if owner.get(f) is m}
    mentioned = [f for f in funcs if re.search(rf"(?<![\w.]){re.escape(f)}\b", task)]
    hint = mentioned[0] if len(mentioned) == 1 else next(iter(funcs)) if len(funcs) == 1 else None
    found = _doctest_examples(task, all_names, "task")
    found += _inline_examples(task, set(funcs), all_names, "task")
    found += _section_examples(task, funcs, hint, "task")
    for m in modules:
        local_funcs = m.functions
        for doc, func in _docstrings(m.tree):
            origin = f"docstring of {func}" if func else f"docstring in {m.name}"
            here = _doctest_examples(doc, m.defined, origin)
            here += _inline_examples(doc, set(local_funcs), m.defined, origin)
            here += _section_examples(doc, local_funcs, func, origin)
            for ex in here:
                ex.module = m.name
            found += here
    unique: dict[tuple, _Example] = {}
    for ex in found:
        scope = next(m.defined for m in modules if m.name == ex.module) if ex.module else set(owner)
        ex.names = {n for n in ex.names | {ex.func} if n in scope}
        unique.setdefault(ex.key(), ex)
    return list(unique.values())[:MAX_EXAMPLES]


# ---------------------------------------------------------------------------------------------- tester
def _agent(name: str, roster: Any = None) -> Any:
    from ..agents.roster import load_roster

    return (roster or load_roster()).get(name)


def tester_messages(task: str, sources: dict[str, str], *, roster: Any = None,
                    root: Path | None = None) -> list[Message]:
    """Ask the tester agent for a pytest file that checks ``task`` against the code in ``sources``
    (``{workspace-relative path: text}``); its answer's ``tests`` field holds the file."""
    tester = _agent(TESTER_AGENT, roster)
    files = []
    for rel, text in sources.items():
        mod = module_name(rel, Path(root)) if root is not None else (Path(rel).with_suffix("").name, "")
        files.append({"path": rel, "module": mod[0], "text": text, "signatures": _signatures(text)})
    user = render_template("orchestrator/checks_tester.j2", task=task, files=files, checks_file=CHECKS_FILE,
                           answer_hint=act.answer_hint(tester, None, CHECKS_FILE))
    return [Message(role="system", content=render_system_prompt(tester)), Message(role="user", content=user)]


def _signatures(text: str) -> list[str]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    out = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out.append(f"def {node.name}({ast.unparse(node.args)})"
                       + (f" -> {ast.unparse(node.returns)}" if node.returns else ""))
        elif isinstance(node, ast.ClassDef):
            out.append(f"class {node.name}")
    return out


def review_messages(task: str, checks: Checks, *, reviewer: Any = None, roster: Any = None) -> list[Message]:
    """Ask a reviewer (an agent or its name; default ``tanuki-reviewer``) whether ``checks`` test what the task
    text asks; the prompt names the verdicts of that reviewer's schema. Read the reply with
    ``review.parse_verdict(text, name)``: approve, or requests."""
    if reviewer is None or isinstance(reviewer, str):
        reviewer = _agent(reviewer or REVIEWER_AGENT, roster)
    answer = (reviewer.output_schema.get("properties") or {}).get("answer") or {}
    verdicts = ((answer.get("properties") or {}).get("verdict") or {}).get("enum") or ["accept", "revise"]
    user = render_template("orchestrator/checks_review.j2", task=task, path=checks.path, checks=checks.content,
                           origin=checks.origin, verdicts=verdicts,
                           answer_hint=act.answer_hint(reviewer, None, None))
    return [Message(role="system", content=render_system_prompt(reviewer)), Message(role="user", content=user)]


_CODE_FENCE = re.compile(r"```(?:python|py|python3)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


def _tests_text(text: str) -> list[str]:
    """Candidate pytest sources in a reply: the JSON answer's ``tests`` (or ``code``), fenced blocks, the text."""
    out: list[str] = []
    parsed, _ = parse_object(text)
    answer = act.answer_of(parsed) if parsed is not None else {}
    for key in ("tests", "code", "test"):
        value = answer.get(key) if isinstance(answer, dict) else None
        if isinstance(value, str) and value.strip():
            out.append(act.strip_fences(value.strip()))
    out += [m.group(1) for m in _CODE_FENCE.finditer(text)]
    out.append(text)
    return out


def _importable_elsewhere(name: str) -> bool:
    top = name.split(".")[0]
    if top in sys.stdlib_module_names or top in ("pytest", "hypothesis"):
        return True
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


def _target_module(name: str, level: int, modules: list[str]) -> str | None:
    """The module of ``modules`` an import means: itself, a dotted suffix match (``src.calc`` -> ``calc``,
    ``calc`` -> ``pkg.calc``), a relative import, or the only module when the name is not importable otherwise."""
    if name in modules and not level:
        return None
    for mod in modules:
        if name and (name.endswith("." + mod) or mod.endswith("." + name) or (level and mod.split(".")[-1] == name)):
            return mod
    if len(modules) == 1 and (level or not _importable_elsewhere(name)):
        return modules[0]
    return None


def _normalise_imports(tree: ast.Module, lines: list[str], modules: list[str]) -> tuple[list[str], bool]:
    """Rewrite the imports of the code under test to ``modules`` (wherever they are); add ``pytest``/``math``
    when used and not imported. Returns the new lines and whether a module of ``modules`` is imported."""
    imports_target = False
    replace: dict[int, tuple[int, str]] = {}
    for node in ast.walk(tree):
        new: ast.stmt | None = None
        if isinstance(node, ast.ImportFrom):
            target = _target_module(node.module or "", node.level, modules)
            if target:
                new = ast.ImportFrom(module=target, names=node.names, level=0)
            imports_target |= bool(target) or (node.module in modules and not node.level)
        elif isinstance(node, ast.Import):
            aliases = []
            for a in node.names:
                target = _target_module(a.name, 0, modules)
                imports_target |= bool(target) or a.name in modules
                aliases.append(ast.alias(name=target, asname=a.asname or a.name) if target else a)
            if aliases != node.names:
                new = ast.Import(names=aliases)
        if new is not None:
            indent = re.match(r"\s*", lines[node.lineno - 1]).group(0)
            replace[node.lineno] = (node.end_lineno or node.lineno, indent + ast.unparse(new))
    out: list[str] = []
    skip_to = 0
    for no, line in enumerate(lines, start=1):
        if no <= skip_to:
            continue
        if no in replace:
            skip_to, text = replace[no]
            out.append(text)
        else:
            out.append(line)
    used, bound = _load_names(tree), _bound_names(tree)
    missing = [f"import {m}" for m in ("pytest", "math") if m in used and m not in bound]
    future = [n.end_lineno or n.lineno for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == "__future__"]
    at = max(future, default=0)  # line numbers are kept: a rewritten import is one line, and lines after it move
    at -= sum(end - start for start, (end, _) in replace.items() if start <= at)
    return out[:at] + missing + out[at:], imports_target


def _drop_shadowing(content: str, modules: list[str]) -> str:
    """Remove top-level definitions that replace a name imported from the code under test (a tester that pastes
    its own copy of the function would test the copy)."""
    tree = ast.parse(content)
    imported = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module in modules
                for a in n.names}
    lines = content.splitlines()
    drop: set[int] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in imported:
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            drop |= set(range(first, (node.end_lineno or node.lineno) + 1))
    return "\n".join(line for no, line in enumerate(lines, start=1) if no not in drop).rstrip() + "\n"


def _test_names(tree: ast.Module) -> list[str]:
    names = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            names.append(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            names += [f"{node.name}::{n.name}" for n in node.body
                      if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name.startswith("test")]
    return names


def _wrap_script(tree: ast.Module) -> str:
    """Top-level asserts without a test function become one test function (a script-style answer)."""
    head = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef))]
    rest = [n for n in tree.body if n not in head]
    fn = ast.parse("def test_tester_checks():\n    pass\n").body[0]
    fn.body = rest or fn.body
    return ast.unparse(ast.fix_missing_locations(ast.Module(body=[*head, fn], type_ignores=[]))) + "\n"


def parse_tester_checks(text: str, modules: list[str]) -> Checks | None:
    """The tester's pytest file from its reply (JSON answer ``tests``, a fenced block or bare code), accepted only
    when it parses, holds an ``assert`` and imports one of ``modules`` (imports of the code under test are
    normalised to those names). None when no candidate qualifies."""
    for source in _tests_text(text):
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        if not any(isinstance(n, ast.Assert) for n in ast.walk(tree)):
            continue
        if not _test_names(tree):
            source = _wrap_script(tree)
            tree = ast.parse(source)
        lines, imports_target = _normalise_imports(tree, source.splitlines(), modules)
        if not imports_target:
            continue
        try:
            content = _drop_shadowing("\n".join(lines).rstrip() + "\n", modules)
            final = ast.parse(content)
        except SyntaxError:
            continue
        names = _test_names(final)
        return Checks(content=content, origin="tester", cases=len(names), names=names)
    return None
