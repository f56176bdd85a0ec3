"""The doc-command extractor and parser (tests/docs/doccmd.py) on small Markdown strings."""

from __future__ import annotations

import click
import pytest

from tests.docs.doccmd import (
    DocCommandError,
    check_tanuki,
    command_lines,
    command_paths,
    covering_source,
    extract_blocks,
    names_command,
    parse_annotation,
    simple_commands,
    tanuki_invocations,
)

DOC = '''# Title

<!-- doc: run expect="ok" timeout=30 -->

```bash
# a comment
tanuki ask "hi" \\
  --json
cat > f.txt <<'EOF'
tanuki not-a-command
EOF
```

Some text.

```console
$ tanuki models
NAME  SIZE
$ OLLAMA_HOST=127.0.0.1:11435 ollama list
```

<!-- doc: skip reason="needs a GPU" -->
```bash
tanuki train backbone
```

```python
print("not a command block")
```

<!-- doc: journey quickstart -->
~~~bash
./install.sh
~~~
'''


def test_extract_blocks_annotations_and_lines():
    blocks = extract_blocks(DOC, "x.md")
    assert [(b.line, b.lang, b.annotation.kind) for b in blocks] == [
        (5, "bash", "run"), (16, "console", None), (23, "bash", "skip"), (32, "bash", "journey")]
    run, console, skip, journey = blocks
    assert run.annotation.params == {"expect": "ok", "timeout": "30"} and run.annotation.timeout == 30
    assert [(c.line, c.text) for c in run.commands] == [(7, 'tanuki ask "hi"  --json'), (9, "cat > f.txt <<'EOF'")]
    assert [c.text for c in console.commands] == ["tanuki models", "OLLAMA_HOST=127.0.0.1:11435 ollama list"]
    assert console.script() == "tanuki models\nOLLAMA_HOST=127.0.0.1:11435 ollama list\n"
    assert run.script().startswith("# a comment\ntanuki ask")
    assert skip.annotation.reason == "needs a GPU"
    assert journey.annotation.name == "quickstart" and journey.commands[0].text == "./install.sh"


def test_annotation_applies_only_to_the_next_block():
    blocks = extract_blocks("<!-- doc: run -->\n\ntext between\n\n```bash\nls\n```\n", "x.md")
    assert blocks[0].annotation.kind is None


@pytest.mark.parametrize("text", ["skip", 'skip reason=""', "journey", "journey a b", "run nonsense=1",
                                  "run timeout=soon", "run cwd=elsewhere", "explode"])
def test_bad_annotations_are_refused(text):
    with pytest.raises(DocCommandError):
        parse_annotation(text)


def test_annotation_before_a_non_command_block_is_refused():
    with pytest.raises(DocCommandError, match="x.md:2"):
        extract_blocks('<!-- doc: skip reason="r" -->\n```python\npass\n```\n', "x.md")


def test_console_continuations():
    lines = command_lines("console", "$ tanuki serve \\\n>   --port 1\nout\n", 10)
    assert [(c.line, c.text) for c in lines] == [(10, "tanuki serve  --port 1")]


def test_simple_commands_split_operators_redirections_and_env():
    assert simple_commands("A=1 B=2 nohup .venv/bin/tanuki serve --port 9 > log 2>&1 &") == [
        [".venv/bin/tanuki", "serve", "--port", "9"]]
    assert simple_commands("curl -s http://x/api/tags | python -m json.tool; echo done") == [
        ["curl", "-s", "http://x/api/tags"], ["python", "-m", "json.tool"], ["echo", "done"]]
    assert tanuki_invocations("./install.sh && .venv/bin/tanuki run 'fix it' --repo r  # note") == [
        ["run", "fix it", "--repo", "r"]]


def test_check_tanuki_accepts_real_commands():
    assert check_tanuki(["serve", "--port", "11434", "--family", "tanuki-micro"]) == "tanuki serve"
    assert check_tanuki(["data", "stats", "--help"]) == "tanuki data stats"
    assert check_tanuki(["--version"]) == "tanuki"


@pytest.mark.parametrize("args, message", [
    (["serve", "--bogus"], "No such option"),
    (["serve", "--port", "eleven"], "not a valid integer"),
    (["nope"], "has no command 'nope'"),
    (["bench"], "needs a subcommand"),
    (["ask"], "Missing argument"),
])
def test_check_tanuki_refuses_what_does_not_exist(args, message):
    with pytest.raises(DocCommandError, match=message):
        check_tanuki(args)


def test_path_options_need_not_exist_yet_and_are_restored():
    @click.command()
    @click.option("--repo", type=click.Path(exists=True))
    def cmd(repo):  # pragma: no cover - never invoked
        pass

    assert check_tanuki(["--repo", "/does/not/exist"], root=cmd) == "tanuki"
    assert cmd.params[0].type.exists is True


def test_covered_names_existing_tests_that_run_the_command():
    spec = "tests/test_cli.py::test_models_and_ps"
    annotation = parse_annotation(f'covered by="{spec},tests/test_cli.py::test_help_lists_the_commands"')
    assert annotation.kind == "covered" and annotation.tests[0] == spec
    source = covering_source(spec)
    assert names_command(source, "tanuki models") and not names_command(source, "tanuki serve")
    assert covering_source("tests/test_cli.py::test_no_such_test") is None
    assert covering_source("tests/no_such_file.py::test_x") is None
    with pytest.raises(DocCommandError, match="covered"):
        parse_annotation('covered by="not a test"')
    with pytest.raises(DocCommandError, match="covered"):
        parse_annotation('covered reason="x"')


def test_covered_source_includes_the_module_fixtures_a_test_takes():
    test = "tests/engines/test_hotswap_family.py::test_factory_build_strategy_engine_writes_the_manifest"
    source = covering_source(test)  # the test itself only reads the `engine_family` fixture's result
    assert names_command(source, "tanuki factory build")


def test_command_paths_find_every_spelling_of_one_command():
    assert command_paths("tanuki register") == {"tanuki register", "tanuki factory register"}
    assert command_paths("tanuki keys create") == {"tanuki keys create"}
