"""Doc commands: find the command blocks of the Markdown docs, read their annotations, and check every
``tanuki`` command line against the real click tree.

The convention (README.md, CONTRIBUTING.md and docs/**/*.md):

- a fenced block whose info string is ``bash`` or ``console`` is a command block: every non-comment line of a
  ``bash`` block (``\\`` joins lines, heredoc bodies are data), the lines starting with ``$ `` in a ``console``
  block;
- an HTML comment right before the block (blank lines allowed) says what the test suite does with it:
  ``<!-- doc: run -->`` (optionally ``expect="text"``, ``timeout=120``, ``cwd=copy|tmp``, ``serve``),
  ``<!-- doc: journey NAME -->`` (a test in tests/journeys runs it),
  ``<!-- doc: covered by="tests/path.py::test_name[,...]" -->`` (a test runs the same command with smaller
  arguments: it must exist and its source must name the command's subcommand path),
  ``<!-- doc: skip reason="..." -->``;
- every ``tanuki`` command is parsed against ``tanuki_ollama.cli.main.cli`` whatever the annotation; an
  unannotated block may hold nothing but ``tanuki`` commands.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import click

REPO = Path(__file__).resolve().parents[2]
DOC_GLOBS = ("README.md", "CONTRIBUTING.md", "docs/**/*.md")
COMMAND_LANGS = frozenset({"bash", "console"})
KINDS = frozenset({"run", "journey", "covered", "skip"})
RUN_PARAMS = frozenset({"expect", "timeout", "cwd", "serve"})

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")
_ANNOTATION = re.compile(r"^\s*<!--\s*doc:(?P<body>.*?)-->\s*$")
_HEREDOC = re.compile(r"<<-?\s*(?P<q>['\"]?)(?P<tag>[A-Za-z_][A-Za-z0-9_]*)(?P=q)")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SEPARATORS = frozenset({"&&", "||", ";", "|", "&", "(", ")", ";;", "|&"})
_REDIRECTS = frozenset({">", ">>", "<", "<<", "<<<", ">&", "<&", "&>", "&>>", ">|", "<<-"})
_FD_REDIRECT = re.compile(r"(?<=\s)\d+([<>])")
_WRAPPERS = frozenset({"env", "nohup", "time", "exec", "nice", "command"})


class DocCommandError(Exception):
    """A doc block or command that breaks the convention; the message says where and why."""


@dataclass(frozen=True)
class Annotation:
    kind: str | None = None  # run | journey | covered | skip | None (parse only)
    params: dict[str, str] = field(default_factory=dict)
    name: str | None = None  # journey name

    @property
    def reason(self) -> str | None:
        return self.params.get("reason")

    @property
    def tests(self) -> list[str]:
        """The ``path::name`` tests of a ``covered by=`` annotation."""
        return [t.strip() for t in self.params.get("by", "").split(",") if t.strip()]

    @property
    def timeout(self) -> float:
        return float(self.params.get("timeout", 60))


@dataclass(frozen=True)
class Command:
    line: int  # 1-based line in the file
    text: str  # one logical line, continuations joined


@dataclass(frozen=True)
class Block:
    path: str  # relative to the repository
    line: int  # line of the opening fence
    lang: str
    body: str
    annotation: Annotation
    commands: tuple[Command, ...]

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"

    def script(self) -> str:
        """What ``bash`` runs for this block: the block itself (bash) or its ``$`` commands (console)."""
        if self.lang == "bash":
            return self.body
        return "\n".join(command.text for command in self.commands) + "\n"


def parse_annotation(text: str) -> Annotation:
    """The body of ``<!-- doc: ... -->`` -> Annotation.

    >>> parse_annotation('run expect="hello" timeout=30')
    Annotation(kind='run', params={'expect': 'hello', 'timeout': '30'}, name=None)
    >>> parse_annotation('journey quickstart').name
    'quickstart'
    """
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise DocCommandError(f"unreadable doc annotation {text!r}: {exc}") from None
    if not words or words[0] not in KINDS:
        raise DocCommandError(f"doc annotation {text!r} must start with one of {sorted(KINDS)}")
    kind, rest = words[0], words[1:]
    params: dict[str, str] = {}
    bare: list[str] = []
    for word in rest:
        key, sep, value = word.partition("=")
        if sep:
            params[key] = value
        else:
            bare.append(word)
    if kind == "journey":
        if len(bare) != 1 or params:
            raise DocCommandError(f"`doc: journey` takes exactly one NAME, got {text!r}")
        return Annotation(kind, {}, bare[0])
    if kind == "skip":
        if not params.get("reason", "").strip() or bare or set(params) != {"reason"}:
            raise DocCommandError(f'`doc: skip` needs reason="..." and nothing else, got {text!r}')
        return Annotation(kind, params)
    if kind == "covered":
        tests = params.get("by", "").split(",")
        if bare or set(params) != {"by"} or not all(re.fullmatch(r"tests/[\w/.-]+\.py::\w+", t.strip())
                                                      for t in tests):
            raise DocCommandError(f'`doc: covered` needs by="tests/path.py::test_name[,...]", got {text!r}')
        return Annotation(kind, params)
    for word in bare:  # run: bare words are flags
        params[word] = "1"
    unknown = set(params) - RUN_PARAMS
    if unknown:
        raise DocCommandError(f"`doc: run` does not know {sorted(unknown)} (known: {sorted(RUN_PARAMS)})")
    if "timeout" in params:
        try:
            float(params["timeout"])
        except ValueError:
            raise DocCommandError(f"`doc: run timeout=` needs seconds, got {params['timeout']!r}") from None
    if params.get("cwd", "repo") not in {"repo", "copy", "tmp"}:
        raise DocCommandError(f"`doc: run cwd=` is repo, copy or tmp, got {params['cwd']!r}")
    return Annotation(kind, params)


def command_lines(lang: str, body: str, first_line: int) -> list[Command]:
    """The logical command lines of a block body; ``first_line`` is the file line of the body's first line."""
    lines = body.split("\n")
    out: list[Command] = []
    i = 0
    while i < len(lines):
        raw, start = lines[i], first_line + i
        i += 1
        if lang == "console":
            if not raw.startswith("$ "):
                continue
            raw = raw[2:]
        if lang == "bash" and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        text = raw
        while text.endswith("\\") and i < len(lines):
            nxt = lines[i]
            i += 1
            if lang == "console" and nxt.startswith("> "):
                nxt = nxt[2:]
            text = text[:-1] + " " + nxt.strip()
        out.append(Command(start, text.strip()))
        heredoc = _HEREDOC.search(text)
        if heredoc:  # skip the heredoc's body up to its terminator
            while i < len(lines) and lines[i].strip() != heredoc.group("tag"):
                i += 1
            i += 1
    return out


def extract_blocks(text: str, path: str) -> list[Block]:
    """Every ``bash``/``console`` fenced block of a Markdown text, with its annotation and command lines."""
    lines = text.split("\n")
    blocks: list[Block] = []
    pending: Annotation | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        annotation = _ANNOTATION.match(line)
        if annotation:
            try:
                pending = parse_annotation(annotation.group("body"))
            except DocCommandError as exc:
                raise DocCommandError(f"{path}:{i + 1}: {exc}") from None
            i += 1
            continue
        fence = _FENCE.match(line)
        if not fence:
            if line.strip():
                pending = None  # an annotation only applies to the very next block
            i += 1
            continue
        marker, lang = fence.group("fence"), (fence.group("info").split() or [""])[0].lower()
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and not lines[i].strip().startswith(marker):
            body.append(lines[i])
            i += 1
        i += 1
        if lang in COMMAND_LANGS:
            content = "\n".join(body) + "\n"
            blocks.append(Block(path, start + 1, lang, content, pending or Annotation(),
                                tuple(command_lines(lang, content, start + 2))))
        elif pending is not None:
            raise DocCommandError(f"{path}:{start + 1}: a doc annotation precedes a {lang or 'plain'!r} block; "
                                  "only bash and console blocks are command blocks")
        pending = None
    if pending is not None:
        raise DocCommandError(f"{path}: a doc annotation at the end of the file annotates nothing")
    return blocks


def doc_files(root: Path = REPO) -> list[Path]:
    files: set[Path] = set()
    for pattern in DOC_GLOBS:
        files.update(p for p in root.glob(pattern) if p.is_file())
    return sorted(files)


def all_blocks(root: Path = REPO) -> list[Block]:
    blocks: list[Block] = []
    for path in doc_files(root):
        blocks.extend(extract_blocks(path.read_text(encoding="utf-8"), str(path.relative_to(root))))
    return blocks


def simple_commands(text: str) -> list[list[str]]:
    """Split one shell command line into its simple commands (argv lists), without redirections.

    >>> simple_commands("FOO=1 tanuki ask hi > out.txt && curl -s x | jq . # comment")
    [['tanuki', 'ask', 'hi'], ['curl', '-s', 'x'], ['jq', '.']]
    """
    text = _FD_REDIRECT.sub(r"\1", text)  # "2>&1" -> ">&1": the fd is not an argument
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        tokens = list(lexer)
    except ValueError as exc:
        raise DocCommandError(f"cannot split {text!r}: {exc}") from None
    commands: list[list[str]] = []
    current: list[str] = []
    skip_next = False
    for token in tokens:
        if skip_next:
            skip_next = False
            continue
        if token in _SEPARATORS:
            if current:
                commands.append(current)
            current = []
            continue
        if token in _REDIRECTS:
            skip_next = True
            continue
        if not current and (_ASSIGNMENT.match(token) or token in _WRAPPERS):
            continue
        current.append(token)
    if current:
        commands.append(current)
    return commands


def is_tanuki(argv0: str) -> bool:
    return argv0 == "tanuki" or argv0.endswith("/tanuki")


def tanuki_invocations(text: str) -> list[list[str]]:
    """The argument lists (after ``tanuki``) of the tanuki commands in one command line."""
    return [argv[1:] for argv in simple_commands(text) if is_tanuki(argv[0])]


def other_commands(text: str) -> list[str]:
    """The programs other than tanuki that a command line runs."""
    return [argv[0] for argv in simple_commands(text) if not is_tanuki(argv[0])]


@contextlib.contextmanager
def _paths_need_not_exist(command: click.Command) -> Iterator[None]:
    """Docs name paths that an earlier step creates: check the option's type, not the file system."""
    changed = [p.type for p in command.params if isinstance(p.type, click.Path) and p.type.exists]
    for path_type in changed:
        path_type.exists = False
    try:
        yield
    finally:
        for path_type in changed:
            path_type.exists = True


def check_tanuki(args: list[str], root: click.Command | None = None) -> str:
    """Parse ``tanuki ARGS`` against the click tree without invoking anything; returns the command path.

    Raises DocCommandError naming the unknown command, option or bad value.
    """
    if root is None:
        from tanuki_ollama.cli.main import cli as root
    command, name, parent, rest = root, "tanuki", None, list(args)
    path = ["tanuki"]
    sink = io.StringIO()
    while True:
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), \
                    _paths_need_not_exist(command):
                ctx = command.make_context(name, list(rest), parent=parent, resilient_parsing=False)
        except click.exceptions.Exit as exc:  # --help, --version
            if exc.exit_code == 0:
                return " ".join(path)
            raise DocCommandError(f"`{shlex.join(['tanuki', *args])}` exits {exc.exit_code}") from None
        except click.ClickException as exc:
            message = exc.format_message()
            if type(exc).__name__ == "NoArgsIsHelpError":
                message = f"`{' '.join(path)}` needs a subcommand or arguments"
            raise DocCommandError(f"`{shlex.join(['tanuki', *args])}`: {message}") from None
        if not isinstance(command, click.Group):
            return " ".join(path)
        rest = [*ctx._protected_args, *ctx.args]
        if not rest:
            if command.invoke_without_command:
                return " ".join(path)
            raise DocCommandError(f"`{shlex.join(['tanuki', *args])}`: `{' '.join(path)}` needs a subcommand")
        sub = command.get_command(ctx, rest[0])
        if sub is None:
            known = ", ".join(sorted(command.list_commands(ctx)))
            raise DocCommandError(f"`{shlex.join(['tanuki', *args])}`: `{' '.join(path)}` has no command "
                                  f"{rest[0]!r} (known: {known})")
        command, name, parent, rest = sub, rest[0], ctx, rest[1:]
        path.append(name)


def covering_source(spec: str, root: Path = REPO) -> str | None:
    """The source of the test ``path::name`` and of the same-module fixtures it takes; None if missing."""
    path, _, name = spec.partition("::")
    file = root / path
    if not file.is_file():
        return None
    text = file.read_text(encoding="utf-8")
    functions = {node.name: node for node in ast.walk(ast.parse(text))
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    if name not in functions:
        return None

    def source(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        return "\n".join(text.split("\n")[first - 1:node.end_lineno])

    test = functions[name]
    fixtures = [functions[a.arg] for a in test.args.args if a.arg in functions and a.arg != name]
    return "\n".join(source(node) for node in [test, *fixtures])


def names_command(source: str, command_path: str) -> bool:
    """Whether test source runs ``tanuki A B``: the words in order, as text or as quoted argv items.

    >>> names_command('main(["factory", "build", "--backbone", "x"])', "tanuki factory build")
    True
    >>> names_command('bench("humaneval", "--plus")', "tanuki bench humaneval")
    True
    >>> names_command('[sys.executable, "-m", "tanuki_ollama", "serve", "--port"]', "tanuki serve")
    True
    >>> names_command('assert data["models"]', "tanuki models") or names_command("x", "tanuki ask")
    False
    """
    words = command_path.split()[1:]
    if not words:
        return False
    joined = r"[\s\"',(\[]+".join(map(re.escape, words))
    if len(words) == 1:  # a lone word: `tanuki models` as text, or the first item of an argv list
        as_text = rf"tanuki(_ollama)?[\"']?[\s,]+[\"']?{joined}\b"  # tanuki models, "tanuki_ollama", "serve"
        first_item = rf"\(\s*\[?\s*[\"']{joined}[\"']"  # tanuki("models", ...), main(["models", ...])
        return re.search(f"{as_text}|{first_item}", source) is not None
    return re.search(rf"\b{joined}\b", source) is not None


def command_paths(command_path: str, root: click.Command | None = None) -> set[str]:
    """Every path of the click tree that reaches the same command object (``tanuki register`` is also
    ``tanuki factory register``)."""
    if root is None:
        from tanuki_ollama.cli.main import cli as root
    words = command_path.split()[1:]
    target, ctx = root, click.Context(root)
    for word in words:
        target = target.get_command(ctx, word)  # type: ignore[union-attr]
    found: set[str] = set()

    def walk(command: click.Command, path: list[str]) -> None:
        if command is target:
            found.add(" ".join(path))
        if isinstance(command, click.Group) and len(path) < 4:
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), [*path, name])

    walk(root, ["tanuki"])
    return found or {command_path}
