"""The repo map: symbols of every source file (tree-sitter, for python, javascript, typescript, java, c, cpp,
go and rust) and BM25 retrieval over paths, symbols and code chunks.

    >>> m = RepoMap.build(Path("."))          # doctest: +SKIP
    >>> print(m.render(max_chars=2000))        # doctest: +SKIP
    >>> m.search("parse unified diff")         # doctest: +SKIP

Speed: parsed results are cached on disk by content hash (``<root>/.tanuki/repomap/``, or under
``$TANUKI_CACHE/repomap`` when the workspace is read-only), so a warm ``build`` only stats the files; ``update``
re-parses just the files that changed and patches the search index in place.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..settings import Settings

CACHE_VERSION = 1
CHUNK_LINES = 40
MAX_FILE_BYTES = 1_000_000
MAX_TERMS_PER_CHUNK = 64
IGNORED_DIRS = frozenset({".git", ".hg", ".svn", ".tanuki", ".venv", "venv", "node_modules", "__pycache__",
                          ".mypy_cache", ".pytest_cache", ".ruff_cache", "target", "build", "dist", ".idea",
                          ".terraform", ".gradle", "vendor"})

EXTENSIONS = {".py": "python", ".pyi": "python", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript",
              ".jsx": "javascript", ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "tsx",
              ".java": "java", ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp",
              ".hh": "cpp", ".hxx": "cpp", ".go": "go", ".rs": "rust"}

_JS = """
(function_declaration name: (identifier) @name) @function
(generator_function_declaration name: (identifier) @name) @function
(method_definition name: (property_identifier) @name) @method
(variable_declarator name: (identifier) @name value: [(arrow_function) (function_expression)]) @function
"""
_C_FUNCS = """
(function_definition declarator: (function_declarator declarator: (_) @name)) @function
(function_definition declarator: (pointer_declarator declarator: (function_declarator declarator: (_) @name))) @function
(struct_specifier name: (type_identifier) @name body: (field_declaration_list)) @struct
(enum_specifier name: (type_identifier) @name body: (enumerator_list)) @enum
(type_definition declarator: (type_identifier) @name) @type
"""
QUERIES = {
    "python": """
(function_definition name: (identifier) @name) @function
(class_definition name: (identifier) @name) @class
""",
    "javascript": _JS + "(class_declaration name: (identifier) @name) @class\n",
    "typescript": _JS + """
(class_declaration name: (type_identifier) @name) @class
(abstract_class_declaration name: (type_identifier) @name) @class
(interface_declaration name: (type_identifier) @name) @interface
(type_alias_declaration name: (type_identifier) @name) @type
(enum_declaration name: (identifier) @name) @enum
(function_signature name: (identifier) @name) @function
""",
    "java": """
(class_declaration name: (identifier) @name) @class
(interface_declaration name: (identifier) @name) @interface
(enum_declaration name: (identifier) @name) @enum
(record_declaration name: (identifier) @name) @class
(method_declaration name: (identifier) @name) @method
(constructor_declaration name: (identifier) @name) @method
""",
    "c": _C_FUNCS,
    "cpp": _C_FUNCS + """
(function_definition declarator: (reference_declarator (function_declarator declarator: (_) @name))) @function
(class_specifier name: (type_identifier) @name body: (field_declaration_list)) @class
(namespace_definition name: (namespace_identifier) @name) @namespace
""",
    "go": """
(function_declaration name: (identifier) @name) @function
(method_declaration name: (field_identifier) @name) @method
(type_spec name: (type_identifier) @name) @type
""",
    "rust": """
(function_item name: (identifier) @name) @function
(function_signature_item name: (identifier) @name) @function
(struct_item name: (type_identifier) @name) @struct
(enum_item name: (type_identifier) @name) @enum
(trait_item name: (type_identifier) @name) @trait
(impl_item type: (_) @name) @impl
(mod_item name: (identifier) @name) @module
""",
}
QUERIES["tsx"] = QUERIES["typescript"]
CONTAINERS = {"class", "interface", "struct", "trait", "impl", "namespace", "module", "enum"}


class Symbol(BaseModel):
    name: str
    kind: str
    line: int
    end_line: int
    signature: str
    parent: str | None = None  # the enclosing class/impl/namespace, if any


class Hit(BaseModel):
    path: str
    line: int
    score: float
    snippet: str
    symbol: str | None = None


# --------------------------------------------------------------------------------------------- parsing
@cache
def _language(lang: str) -> Any:
    import tree_sitter as ts

    if lang == "python":
        import tree_sitter_python as mod
        return ts.Language(mod.language())
    if lang == "javascript":
        import tree_sitter_javascript as mod
        return ts.Language(mod.language())
    if lang in ("typescript", "tsx"):
        import tree_sitter_typescript as mod
        return ts.Language(mod.language_typescript() if lang == "typescript" else mod.language_tsx())
    if lang == "java":
        import tree_sitter_java as mod
        return ts.Language(mod.language())
    if lang == "c":
        import tree_sitter_c as mod
        return ts.Language(mod.language())
    if lang == "cpp":
        import tree_sitter_cpp as mod
        return ts.Language(mod.language())
    if lang == "go":
        import tree_sitter_go as mod
        return ts.Language(mod.language())
    if lang == "rust":
        import tree_sitter_rust as mod
        return ts.Language(mod.language())
    raise KeyError(lang)


_local = threading.local()


def _parser_and_query(lang: str) -> tuple[Any, Any]:
    """One parser and query per language and thread (tree-sitter parsers are not thread-safe)."""
    import tree_sitter as ts

    cache = _local.__dict__.setdefault("pq", {})
    if lang not in cache:
        language = _language(lang)
        cache[lang] = (ts.Parser(language), ts.Query(language, QUERIES[lang]))
    return cache[lang]


def _signature(node: Any, source: bytes) -> str:
    body = node.child_by_field_name("body")
    end = body.start_byte if body is not None and body.start_byte > node.start_byte else node.end_byte
    text = source[node.start_byte:min(end, node.start_byte + 400)].decode("utf-8", "replace")
    if body is None:
        text = text.split("\n", 1)[0] if node.type not in ("type_spec", "type_definition") else text
    text = " ".join(text.split()).rstrip("{:= ").strip()
    return text[:200]


def parse_symbols(lang: str, source: bytes) -> list[Symbol]:
    """Definitions in one file, in source order, each with its enclosing container."""
    from tree_sitter import QueryCursor

    parser, query = _parser_and_query(lang)
    tree = parser.parse(source)
    found: dict[tuple[int, int], tuple[Any, Any, str]] = {}
    for _, caps in QueryCursor(query).matches(tree.root_node):
        kind = next((k for k in caps if k != "name"), None)
        if kind is None or "name" not in caps:
            continue
        node, name = caps[kind][0], caps["name"][0]
        found.setdefault((node.start_byte, node.end_byte), (node, name, kind))
    symbols: list[Symbol] = []
    stack: list[tuple[int, str, str]] = []  # (end_byte, name, kind) of open containers
    for (start, end), (node, name_node, kind) in sorted(found.items(), key=lambda kv: (kv[0][0], -kv[0][1])):
        while stack and stack[-1][0] <= start:
            stack.pop()
        parent, parent_kind = next(((n, k) for e, n, k in reversed(stack) if k in CONTAINERS), (None, None))
        name = name_node.text.decode("utf-8", "replace")
        if kind == "function" and parent_kind in ("class", "struct", "impl", "trait", "interface"):
            kind = "method"
        symbols.append(Symbol(name=name, kind=kind, line=node.start_point[0] + 1, end_line=node.end_point[0] + 1,
                              signature=_signature(node, source), parent=parent))
        stack.append((end, name, kind))
    return symbols


# --------------------------------------------------------------------------------------------- tokens / BM25
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


@lru_cache(maxsize=65536)
def _word_tokens(word: str) -> tuple[str, ...]:
    low = word.lower()
    parts = [p.lower() for piece in word.split("_") for p in _CAMEL.findall(piece)]
    return (low, *parts) if len(parts) > 1 else (low,)


def tokens(text: str) -> list[str]:
    """Identifiers and their camelCase/snake_case parts, lower-cased.

    >>> tokens("parseHTTPRequest read_file")
    ['parsehttprequest', 'parse', 'http', 'request', 'read_file', 'read', 'file']
    """
    out: list[str] = []
    for word in _WORD.findall(text):
        out += _word_tokens(word)
    return out


def _terms(text: str, weight: int = 1, limit: int | None = None) -> dict[str, int]:
    counts = Counter(t for t in tokens(text) if len(t) > 1)
    if weight != 1:
        counts = Counter({t: c * weight for t, c in counts.items()})
    return dict(counts.most_common(limit) if limit else counts)


def analyse(lang: str, source: bytes) -> dict[str, Any]:
    """What the cache keeps for one file content: symbols, and the search documents (one per symbol, one per
    block of CHUNK_LINES lines) as ``[line, label, signature, {term: count}]``."""
    text = source.decode("utf-8", "replace")
    try:
        symbols = parse_symbols(lang, source)
    except Exception:  # noqa: BLE001 - a file tree-sitter cannot handle still gets its chunks
        symbols = []
    docs: list[list[Any]] = []
    for s in symbols:
        counts = Counter(_terms(s.name, 3))
        counts.update(_terms(s.signature))
        if s.parent:
            counts.update(_terms(s.parent))
        docs.append([s.line, f"{s.parent}.{s.name}" if s.parent else s.name, s.signature, dict(counts)])
    lines = text.splitlines()
    for start in range(0, len(lines), CHUNK_LINES):
        counts = _terms("\n".join(lines[start:start + CHUNK_LINES]), limit=MAX_TERMS_PER_CHUNK)
        if counts:
            docs.append([start + 1, None, "", counts])
    return {"lang": lang, "lines": len(lines),
            "symbols": [[s.name, s.kind, s.line, s.end_line, s.signature, s.parent] for s in symbols], "docs": docs}


def _symbol(row: list[Any]) -> Symbol:
    return Symbol(name=row[0], kind=row[1], line=row[2], end_line=row[3], signature=row[4], parent=row[5])


class _Index:
    """BM25 (k1=1.2, b=0.75) by one scan over every document: no inverted index to build or patch, so the first
    search after a build costs no more than any other (a few ms per thousand files). A file's path is its own
    document, and a document's score gets half of its file's path score."""

    PATH_WEIGHT = 0.5

    def __init__(self) -> None:
        # path -> [(line, symbol, signature, {term: tf}, length, is_path_doc)]
        self.by_file: dict[str, list[tuple[int, str | None, str, dict[str, int], int, bool]]] = {}
        self.n_docs = 0
        self.total_len = 0

    def remove(self, path: str) -> None:
        for doc in self.by_file.pop(path, []):
            self.n_docs -= 1
            self.total_len -= doc[4]

    def add(self, path: str, obj: dict[str, Any]) -> None:
        self.remove(path)
        path_terms = _terms(path.replace("/", " ").replace(".", " "))
        docs = [(1, None, "", path_terms, sum(path_terms.values()), True)]
        docs += [(line, label, signature, counts, sum(counts.values()), False)
                 for line, label, signature, counts in obj["docs"]]
        self.by_file[path] = docs
        self.n_docs += len(docs)
        self.total_len += sum(d[4] for d in docs)

    def score(self, query: str, k1: float = 1.2, b: float = 0.75) -> list[tuple[float, str, int, str | None, str]]:
        """(score, path, line, symbol, signature) of every matching document, unsorted."""
        terms = set(tokens(query))
        if not terms or not self.n_docs:
            return []
        matched = [(path, doc) for path, docs in self.by_file.items() for doc in docs
                   if not terms.isdisjoint(doc[3])]
        df = Counter(t for _, doc in matched for t in terms if t in doc[3])
        idf = {t: math.log(1 + (self.n_docs - n + 0.5) / (n + 0.5)) for t, n in df.items()}
        avg = self.total_len / self.n_docs
        scored = []
        path_scores: dict[str, float] = {}
        for path, (line, symbol, signature, counts, length, is_path) in matched:
            norm = k1 * (1 - b + b * length / avg)
            s = sum(idf[t] * counts[t] * (k1 + 1) / (counts[t] + norm) for t in terms if t in counts)
            if is_path:
                path_scores[path] = s
            scored.append((s, path, line, symbol, signature, is_path))
        return [(s + (0.0 if is_path else self.PATH_WEIGHT * path_scores.get(path, 0.0)), path, line, symbol, sig)
                for s, path, line, symbol, sig, is_path in scored]


# --------------------------------------------------------------------------------------------- the map
def _default_cache_dir(root: Path) -> Path:
    if os.access(root, os.W_OK):
        return root / ".tanuki" / "repomap"
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:16]
    return Settings.from_env().cache / "repomap" / digest


def _write_json(path: Path, data: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(data, separators=(",", ":")))  # dumps: the C encoder (json.dump is pure Python)
    os.replace(tmp, path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


class RepoMap:
    """Symbols and a search index of one repository. Not thread-safe; one per workspace.

    On disk (``cache_dir``): ``files.json`` (path -> mtime, size, content hash), ``pack.json`` (symbols by content
    hash), ``docs.json`` (search documents by content hash, read on the first search) and ``objects/<hash>.json``
    (contents analysed since the last pack, so an ``update`` writes only what changed)."""

    REPACK_LOOSE = 200

    def __init__(self, root: Path, *, ignore: Iterable[str] = (), cache_dir: Path | None = None):
        self.root = Path(root).resolve()
        self.ignore = frozenset(ignore)
        self.cache_dir = Path(cache_dir) if cache_dir else _default_cache_dir(self.root)
        self.files: dict[str, list[Any]] = {}  # rel -> [mtime_ns, size, sha]
        self.objects: dict[str, dict[str, Any]] = {}  # sha -> analyse() result
        self._index: _Index | None = None
        self._loose: set[str] = set()
        self.stats: dict[str, Any] = {}

    # --- build / update ------------------------------------------------------------------------------------
    @classmethod
    def build(cls, root: Path, *, ignore: Iterable[str] = (), cache_dir: Path | None = None) -> RepoMap:
        """Scan ``root``; parse only the contents the on-disk cache does not hold."""
        t0 = time.perf_counter()
        self = cls(root, ignore=ignore, cache_dir=cache_dir)
        cached_files = self._load_cache()
        parsed = 0
        for rel, st in self._scan().items():
            old = cached_files.get(rel)
            if old and old[0] == st.st_mtime_ns and old[1] == st.st_size and old[2] in self.objects:
                self.files[rel] = old
            else:
                parsed += self._analyse(rel, st)
        changed = parsed > 0 or set(cached_files) != set(self.files) or any(
            cached_files[r] != v for r, v in self.files.items())
        if changed or self._loose:
            self._save(full=parsed > self.REPACK_LOOSE or len(self._loose) > self.REPACK_LOOSE)
        self.stats = {"files": len(self.files), "parsed": parsed, "build_s": round(time.perf_counter() - t0, 4)}
        return self

    def update(self, changed: Iterable[Path] | None = None) -> list[str]:
        """Re-check ``changed`` paths (absolute or relative to the root), or every file when None. Returns the
        relative paths that were added, modified or removed."""
        if changed is None:
            seen = self._scan()
            candidates = set(seen) | set(self.files)
        else:
            candidates, seen = set(), {}
            for p in changed:
                p = Path(p)
                try:
                    rel = (p.resolve().relative_to(self.root) if p.is_absolute() else p).as_posix()
                except ValueError:
                    continue  # outside the repository
                candidates.add(rel)
                full = self.root / rel
                if self._wanted(rel) and full.is_file() and not full.is_symlink():
                    seen[rel] = full.stat()
        out: list[str] = []
        dirty = False
        for rel in sorted(candidates):
            st, old = seen.get(rel), self.files.get(rel)
            if st is None:
                if old is not None:
                    del self.files[rel]
                    if self._index is not None:
                        self._index.remove(rel)
                    out.append(rel)
                    dirty = True
            elif old is None or old[0] != st.st_mtime_ns or old[1] != st.st_size:
                self._analyse(rel, st)
                dirty = True
                if old is None or old[2] != self.files[rel][2]:
                    out.append(rel)
                    if self._index is not None:
                        self._index.add(rel, self.objects[self.files[rel][2]])
        if dirty:
            self._save(full=False)
        return out

    def _wanted(self, rel: str) -> bool:
        parts = rel.split("/")
        return (Path(rel).suffix in EXTENSIONS and parts[-1] not in self.ignore
                and not any(p in IGNORED_DIRS or p in self.ignore for p in parts[:-1]))

    def _scan(self) -> dict[str, os.stat_result]:
        out: dict[str, os.stat_result] = {}
        stack = [""]
        while stack:
            rel_dir = stack.pop()
            try:
                entries = os.scandir(self.root / rel_dir if rel_dir else self.root)
            except OSError:
                continue
            with entries:
                for e in entries:
                    rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
                    if e.is_symlink():
                        continue
                    if e.is_dir():
                        if e.name not in IGNORED_DIRS and e.name not in self.ignore and not e.name.endswith(".egg-info"):
                            stack.append(rel)
                    elif e.name not in self.ignore and os.path.splitext(e.name)[1] in EXTENSIONS:
                        st = e.stat()
                        if st.st_size <= MAX_FILE_BYTES:
                            out[rel] = st
        return out

    def _analyse(self, rel: str, st: os.stat_result) -> int:
        """Hash the file; parse it unless that content is already known. Returns 1 when it parsed."""
        data = (self.root / rel).read_bytes()
        sha = hashlib.sha1(data).hexdigest()
        self.files[rel] = [st.st_mtime_ns, st.st_size, sha]
        if sha in self.objects:
            return 0
        self.objects[sha] = analyse(EXTENSIONS[Path(rel).suffix], data)
        self._loose.add(sha)
        return 1

    # --- cache ---------------------------------------------------------------------------------------------
    def _load_cache(self) -> dict[str, list[Any]]:
        head = {"version": CACHE_VERSION, "root": str(self.root)}
        files_doc = _read_json(self.cache_dir / "files.json")
        if not isinstance(files_doc, dict) or any(files_doc.get(k) != v for k, v in head.items()):
            return {}
        pack = _read_json(self.cache_dir / "pack.json")  # symbols only: the search documents load lazily
        if isinstance(pack, dict) and all(pack.get(k) == v for k, v in head.items()):
            self.objects.update(pack.get("objects") or {})
        files = files_doc.get("files") or {}
        for sha in {v[2] for v in files.values()} - set(self.objects):
            obj = _read_json(self.cache_dir / "objects" / f"{sha}.json")
            if isinstance(obj, dict):
                self.objects[sha] = obj
                self._loose.add(sha)
        return files

    def _load_docs(self) -> None:
        """Give every live object its search documents: from docs.json, else by analysing the file again."""
        missing = {v[2] for v in self.files.values() if "docs" not in self.objects[v[2]]}
        if not missing:
            return
        packed = _read_json(self.cache_dir / "docs.json")
        docs = packed.get("docs", {}) if isinstance(packed, dict) and packed.get("root") == str(self.root) else {}
        for rel, meta in self.files.items():
            sha = meta[2]
            if sha not in missing:
                continue
            if sha in docs:
                self.objects[sha]["docs"] = docs[sha]
            else:
                self.objects.pop(sha, None)
                self._analyse(rel, (self.root / rel).stat())
            missing.discard(sha)

    def _save(self, *, full: bool) -> None:
        """Write files.json; new contents as loose objects, or everything as packs when ``full``: pack.json
        (symbols, read by every build) and docs.json (search documents, read on the first search)."""
        head = {"version": CACHE_VERSION, "root": str(self.root)}
        try:
            (self.cache_dir / "objects").mkdir(parents=True, exist_ok=True)
            if full:
                self._load_docs()
                live = {v[2] for v in self.files.values()}
                _write_json(self.cache_dir / "pack.json", {**head, "objects": {
                    s: {k: v for k, v in o.items() if k != "docs"} for s, o in self.objects.items() if s in live}})
                _write_json(self.cache_dir / "docs.json",
                            {**head, "docs": {s: o["docs"] for s, o in self.objects.items() if s in live}})
                for sha in self._loose:
                    (self.cache_dir / "objects" / f"{sha}.json").unlink(missing_ok=True)
            else:
                for sha in self._loose:
                    path = self.cache_dir / "objects" / f"{sha}.json"
                    if not path.exists():
                        _write_json(path, self.objects[sha])
            _write_json(self.cache_dir / "files.json", {**head, "files": self.files})
            if full:
                self._loose.clear()
        except OSError:
            pass  # the cache is an optimisation: a read-only disk only makes the next build slower

    # --- queries -------------------------------------------------------------------------------------------
    def paths(self) -> list[str]:
        return sorted(self.files)

    def symbols(self, rel_path: str) -> list[Symbol]:
        meta = self.files.get(Path(rel_path).as_posix())
        return [_symbol(row) for row in self.objects[meta[2]]["symbols"]] if meta else []

    def _ensure_index(self) -> _Index:
        if self._index is None:
            self._load_docs()
            self._index = _Index()
            for rel, meta in self.files.items():
                self._index.add(rel, self.objects[meta[2]])
        return self._index

    def search(self, query: str, k: int = 8) -> list[Hit]:
        """The ``k`` best symbols, code chunks or paths for ``query`` (BM25; one hit per file and line)."""
        ranked = sorted(self._ensure_index().score(query), key=lambda r: (-r[0], r[1], r[2]))
        hits: list[Hit] = []
        seen: set[tuple[str, int]] = set()
        lines_cache: dict[str, list[str]] = {}
        for score, path, line, symbol, signature in ranked:
            if (path, line) in seen:
                continue
            seen.add((path, line))
            snippet = signature or self._snippet(path, line, lines_cache)
            hits.append(Hit(path=path, line=line, score=round(score, 4), snippet=snippet, symbol=symbol))
            if len(hits) >= k:
                break
        return hits

    def _snippet(self, rel: str, line: int, cache: dict[str, list[str]]) -> str:
        if rel not in cache:
            try:
                cache[rel] = (self.root / rel).read_text(errors="replace").splitlines()
            except OSError:
                cache[rel] = []
        lines = [ln.strip() for ln in cache[rel][line - 1:line + 2] if ln.strip()]
        return " | ".join(lines)[:200]

    def render(self, paths: Iterable[str] | None = None, max_chars: int | None = None) -> str:
        """A compact map: each file, then its symbols' signatures (members indented under their containers)."""
        chosen = list(paths) if paths is not None else self.paths()
        out: list[str] = []
        size = 0
        for i, rel in enumerate(chosen):
            meta = self.files.get(rel)
            if meta is None:
                continue
            block = [f"{rel}:"] + [("    " if row[5] else "  ") + f"{row[2]}: {row[4]}"
                                   for row in self.objects[meta[2]]["symbols"]]
            text = "\n".join(block)
            if max_chars is not None and size + len(text) + 1 > max_chars:
                note = f"... ({len(chosen) - i} more file(s))"
                if size + len(note) <= max_chars:
                    out.append(note)
                break
            out.append(text)
            size += len(text) + 1
        return "\n".join(out)


# --------------------------------------------------------------------------------------------- benchmark data
_SYN = {
    "python": ("py", ("class {C}:\n    def __init__(self, value):\n        self.value = value\n\n"
               "    def {f}(self, x):\n        return self.value + x\n\n\n"
               "def {g}(items):\n    total = 0\n    for item in items:\n        total += item\n    return total\n")),
    "javascript": ("js", ("export class {C} {{\n  constructor(v) {{ this.v = v; }}\n  {f}(x) {{ return this.v + x; }}\n}}\n\n"
                   "export function {g}(items) {{\n  return items.reduce((a, b) => a + b, 0);\n}}\n")),
    "typescript": ("ts", ("export interface {C}Options {{ size: number }}\n\nexport class {C} {{\n"
                   "  constructor(private v: number) {{}}\n  {f}(x: number): number {{ return this.v + x; }}\n}}\n\n"
                   "export function {g}(items: number[]): number {{\n  return items.reduce((a, b) => a + b, 0);\n}}\n")),
    "java": ("java", ("package synth;\n\npublic class {C} {{\n  private final int v;\n  public {C}(int v) {{ this.v = v; }}\n"
             "  public int {f}(int x) {{ return v + x; }}\n  public static int {g}(int[] items) {{\n"
             "    int t = 0; for (int i : items) t += i; return t;\n  }}\n}}\n")),
    "c": ("c", ("struct {C} {{ int v; }};\n\nint {f}(struct {C} *s, int x) {{\n  return s->v + x;\n}}\n\n"
          "int {g}(const int *items, int n) {{\n  int t = 0;\n  for (int i = 0; i < n; i++) t += items[i];\n  return t;\n}}\n")),
    "cpp": ("cpp", ("namespace synth {{\nclass {C} {{\n public:\n  explicit {C}(int v) : v_(v) {{}}\n"
            "  int {f}(int x) const {{ return v_ + x; }}\n private:\n  int v_;\n}};\n\n"
            "int {g}(const int* items, int n) {{\n  int t = 0;\n  for (int i = 0; i < n; ++i) t += items[i];\n  return t;\n}}\n}}\n")),
    "go": ("go", ("package synth\n\ntype {C} struct {{\n\tV int\n}}\n\nfunc (s *{C}) {F}(x int) int {{\n\treturn s.V + x\n}}\n\n"
           "func {G}(items []int) int {{\n\tt := 0\n\tfor _, i := range items {{\n\t\tt += i\n\t}}\n\treturn t\n}}\n")),
    "rust": ("rs", ("pub struct {C} {{\n    v: i64,\n}}\n\nimpl {C} {{\n    pub fn {f}(&self, x: i64) -> i64 {{\n"
             "        self.v + x\n    }}\n}}\n\npub fn {g}(items: &[i64]) -> i64 {{\n    items.iter().sum()\n}}\n")),
}
_WORDS = ("alpha", "beta", "gamma", "delta", "omega", "parse", "render", "cache", "index", "token", "graph", "queue",
          "stream", "buffer", "socket", "packet", "matrix", "vector", "ledger", "invoice")


def synthetic_repo(path: Path, files: int = 2000) -> Path:
    """Write a deterministic repository of ``files`` source files across all eight languages (about 15 lines
    each, in nested packages) for the repo-map and briefing benchmarks. Returns ``path``."""
    path = Path(path)
    langs = list(_SYN)
    for i in range(files):
        lang = langs[i % len(langs)]
        ext, template = _SYN[lang]
        w1, w2 = _WORDS[i % len(_WORDS)], _WORDS[(i // len(_WORDS)) % len(_WORDS)]
        cls = f"{w1.title()}{w2.title()}{i}"
        f, g = f"{w1}_{w2}_{i}", f"sum_{w2}_{i}"
        if lang in ("javascript", "typescript", "java"):
            f, g = f"{w1}{w2.title()}{i}", f"sum{w2.title()}{i}"
        text = template.format(C=cls, f=f, g=g, F=f"{w1.title()}{w2.title()}{i}", G=f"Sum{w2.title()}{i}")
        folder = path / f"pkg{i % 10}" / f"mod{(i // 10) % 20}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{cls}.java" if lang == "java" else f"{w1}_{i}.{ext}"
        (folder / name).write_text(text)
    return path


def bench(files: int = 2000, root: Path | None = None, queries: Iterable[str] = ("parse alpha sum", "vector cache"),
          repeat: int = 5) -> dict[str, Any]:
    """Timings of the repo map on a synthetic repository (``tanuki bench repomap``): cold and warm ``build``,
    the first ``search`` (it builds the BM25 index), later searches, ``render``, and ``update`` after one edit.
    Warm figures are medians of ``repeat`` runs."""
    import shutil
    import statistics

    own = root is None
    work = Path(tempfile.mkdtemp(prefix="tanuki-repomap-")) if own else Path(root)
    try:
        if not any(work.iterdir()):
            synthetic_repo(work, files)

        def timed(fn: Any) -> tuple[float, Any]:
            t0 = time.perf_counter()
            out = fn()
            return (time.perf_counter() - t0) * 1000, out

        cold_ms, m = timed(lambda: RepoMap.build(work))
        warm = [timed(lambda: RepoMap.build(work)) for _ in range(repeat)]
        m = warm[-1][1]
        first_search_ms, _ = timed(lambda: m.search(next(iter(queries))))
        search_ms = [timed(lambda q=q: m.search(q))[0] for q in queries for _ in range(repeat)]
        render_ms = [timed(lambda: m.render(max_chars=8000))[0] for _ in range(repeat)]
        target = work / m.paths()[0]
        original = target.read_bytes()
        update_ms, rescan_ms = [], []
        for i in range(repeat):
            target.write_bytes(original + f"\n// edit {i}\n".encode())
            update_ms.append(timed(lambda: m.update([target]))[0])
            rescan_ms.append(timed(lambda: m.update())[0])
        target.write_bytes(original)
        m.update([target])
        med = statistics.median
        return {"files": len(m.paths()), "cold_build_ms": round(cold_ms, 1),
                "warm_build_ms": round(med(t for t, _ in warm), 1), "first_search_ms": round(first_search_ms, 1),
                "search_ms": round(med(search_ms), 2), "render_8k_ms": round(med(render_ms), 2),
                "update_one_file_ms": round(med(update_ms), 2), "update_rescan_ms": round(med(rescan_ms), 1),
                "symbols": sum(len(m.objects[v[2]]["symbols"]) for v in m.files.values()),
                "cache_dir": str(m.cache_dir) if not own else "(temporary)"}
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)
