"""docs/troubleshooting.md covers every error a user can see: a section per error class, a catalogue entry per
place in the code that raises one (kept current), a hint on every Tanuki error, and real CLI errors that look
the way the page says."""

from __future__ import annotations

import ast
import importlib
import os
import re
import subprocess
import sys
import textwrap

import pytest

from tanuki_ollama import error_catalog
from tanuki_ollama.error_catalog import BEGIN, DOC_PATH, REGENERATE, anchor, error_classes, sites
from tanuki_ollama.errors import TanukiError

#: Sections the page has beside one per error class.
EXTRA_SECTIONS = ("Command-line usage errors", "HTTP errors of tanuki serve")


@pytest.fixture(scope="module")
def page() -> str:
    return DOC_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def catalogue():
    modules = list(error_catalog._modules())
    return error_classes(modules), sites(modules)


def _headings(text: str) -> list[str]:
    return [m.group(2).strip() for m in re.finditer(r"^(#{1,6}) (.+)$", text, re.MULTILINE)]


def test_every_error_class_has_a_section(page, catalogue):
    classes, _ = catalogue
    handwritten = page.split(BEGIN)[0]
    sections = set(_headings(handwritten))
    missing = [name for name in [*classes, *EXTRA_SECTIONS] if name not in sections]
    assert not missing, f"docs/troubleshooting.md needs a `### Name` section for: {missing}"
    assert len(classes) >= 20  # the walk found the family (errors.py alone defines 9)


def test_every_exception_the_cli_boundary_handles_is_explained(page):
    """Each ``except`` of ``main()`` in cli/main.py: its class has a section, and what it prints is quoted."""
    tree = ast.parse(error_catalog.PACKAGE_DIR.joinpath("cli", "main.py").read_text(encoding="utf-8"))
    main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
    handlers = [h for n in ast.walk(main) if isinstance(n, ast.Try) for h in n.handlers]
    sections = {"TanukiError": "TanukiError", "ClickException": "Command-line usage errors"}
    headings = set(_headings(page))
    assert len(handlers) >= 4
    for handler in handlers:
        name = error_catalog._base_name(handler.type)
        printed = [c.value for c in ast.walk(handler) if isinstance(c, ast.Constant) and isinstance(c.value, str)
                   and c.value.isalpha()]
        assert name in sections or printed, f"the boundary handles {name} without a message the page can quote"
        if name in sections:
            assert sections[name] in headings, name
        for text in printed:
            assert f"`{text}`" in page, f"the page does not say when the CLI prints {text!r}"


def test_links_inside_the_page_resolve(page):
    ids = {anchor(h) for h in _headings(page)}
    broken = sorted({target for target in re.findall(r"\]\(#([^)]+)\)", page) if target not in ids})
    assert not broken, f"links to missing sections: {broken}"


def test_the_walk_finds_exactly_the_classes_python_sees(catalogue):
    classes, _ = catalogue
    for cls in classes.values():
        module = importlib.import_module("tanuki_ollama." + cls.module.removesuffix(".py").replace("/", "."))
        assert issubclass(getattr(module, cls.name), TanukiError), cls
    seen, todo = set(), [TanukiError]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub.__module__.startswith("tanuki_ollama.") and sub.__name__ not in seen:
                seen.add(sub.__name__)
                todo.append(sub)
    assert seen <= set(classes), f"error classes the catalogue misses: {sorted(seen - set(classes))}"


def test_catalogue_is_current(page, catalogue):
    classes, found = catalogue
    generated = page.split(BEGIN, 1)[1] if BEGIN in page else ""
    absent = [s.key for s in found if error_catalog.code(s.message) not in generated]
    assert not absent, f"raise sites missing from docs/troubleshooting.md (regenerate with `{REGENERATE}`): " \
                       f"{absent[:10]}"
    fresh = error_catalog.splice(page, error_catalog.render(found, classes))
    assert fresh == page, f"docs/troubleshooting.md is stale: regenerate with `{REGENERATE}`"


def test_every_tanuki_error_names_its_fix(catalogue):
    classes, found = catalogue
    hintless = [s.key for s in found if s.cls in classes and not s.hint]
    assert not hintless, f"give these errors a hint= that names the fix: {hintless}"


def test_messages_are_rendered_as_users_see_them():
    source = textwrap.dedent('''
        from ..errors import ConfigError, TanukiError
        ENV = "TANUKI_ROSTER"
        HINT = "run ./install.sh"

        class Busy(TanukiError):
            def __init__(self, message, retry_after_s):
                super().__init__(message, hint="retry later")

        def load(path, name, extra):
            if not path:
                raise ConfigError(f"roster file {path} not found", hint=f"set {ENV} to your agents.yaml")
            if extra:
                raise ConfigError(f"no agent {name!r}" + (f" in {extra}" if extra else ""), HINT)
            raise Busy(f"server busy: {len(extra)} waiting", retry_after_s=1)

        def explain(exc):
            return ConfigError(f"bad value: {exc.errors()[0]['msg']}", hint="fix it")
    ''')
    modules = [("errors.py", ast.parse("class TanukiError(Exception): pass\nclass ConfigError(TanukiError): pass")),
               ("agents/roster.py", ast.parse(source))]
    classes = error_classes(modules)
    assert set(classes) == {"TanukiError", "ConfigError", "Busy"}
    got = {(s.cls, s.function, s.message, s.hint, s.built_not_raised) for s in sites(modules)}
    assert got == {
        ("ConfigError", "load", "roster file <path> not found", "set TANUKI_ROSTER to your agents.yaml", False),
        ("ConfigError", "load", "no agent '<name>'[ in <extra>]", "run ./install.sh", False),
        ("Busy", "load", "server busy: <n> waiting", "retry later", False),
        ("ConfigError", "explain", "bad value: <msg>", "fix it", True),
    }


def test_code_spans_survive_backticks():
    assert error_catalog.code("plain") == "`plain`"
    assert error_catalog.code("send `Authorization: Bearer <key>`") == "`` send `Authorization: Bearer <key>` ``"
    assert error_catalog.prose("see <log_path> or `tanuki run --resume <id>`") == \
        "see `<log_path>` or `tanuki run --resume <id>`"


# --------------------------------------------------------------------------------------------- the real CLI
def tanuki(*args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "TANUKI_RAISE_ERRORS"}
    full_env.update(env)
    return subprocess.run([sys.executable, "-m", "tanuki_ollama", *args], capture_output=True, text=True,
                          env=full_env, timeout=120, check=False)


def _matches_catalogue(cls: str, line: str, found) -> bool:
    """Whether ``line`` is one of the catalogue's messages of ``cls``, with its placeholders filled in."""
    for site in found:
        if site.cls != cls:
            continue
        parts = re.split(r"<\w+>", site.message)
        pattern = ".+?".join(re.escape(" ".join(p.split())) for p in parts)
        if re.fullmatch(pattern, line):
            return True
    return False


def _said(stderr: str) -> str:
    return " ".join(stderr.split())  # rich wraps long lines at the terminal width


@pytest.mark.ollama
def test_unknown_model_shows_the_message_and_the_hint(ollama_env, catalogue):
    out = tanuki("ask", "-m", "tanuki-no-such-model", "hello")
    said = _said(out.stderr)
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    message = re.search(r"error: (.*?) hint: ", said).group(1)
    assert "tanuki-no-such-model" in message
    assert _matches_catalogue("ModelNotFound", message, catalogue[1]), message
    assert "hint: list models with `tanuki models`" in said


def test_missing_recipe_file_shows_the_message_and_the_hint(catalogue):
    out = tanuki("train", "adapter", "--recipe", "no-such-recipe", "--agent", "coder")
    said = _said(out.stderr)
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    message = re.search(r"error: (.*?) hint: ", said).group(1)
    assert message == "no training recipe 'no-such-recipe'"
    assert _matches_catalogue("ConfigError", message, catalogue[1])
    hint = said.split("hint: ", 1)[1]
    assert "micro-cpu" in hint and "YAML path" in hint  # the known recipes, read from training/


def test_missing_file_argument_is_a_usage_error(tmp_path, page):
    out = tanuki("sandbox", "run", str(tmp_path / "missing.py"))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert f"Invalid value for 'FILE': File '{tmp_path / 'missing.py'}' does not exist." in _said(out.stderr)
    assert "Try 'tanuki sandbox run --help' for help." in out.stderr
    assert "Invalid value for 'FILE': File 'x.py' does not exist." in page


def test_bad_option_value_is_a_usage_error(page):
    out = tanuki("ask", "--num-ctx", "10", "hello")
    said = _said(out.stderr)
    assert out.returncode == 2
    assert "Invalid value for '--num-ctx': 10 is not in the range 256<=x<=262144." in said
    assert "Try 'tanuki ask --help' for help." in said
    assert "Invalid value for '--num-ctx': 10 is not in the range 256<=x<=262144." in _said(page)
