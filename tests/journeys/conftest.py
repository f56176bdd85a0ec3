"""Fixtures for the newcomer journeys: a user's terminal (tmux) with a clean environment, a checkout copy.

The terminal's environment is what a new user has after following the README: a throwaway HOME and TANUKI_HOME,
PATH = the checkout's .venv/bin (the README says to activate it) + the system's, and OLLAMA_HOST pointing at the
session's real Ollama (so no journey starts a second server on 11434). Built toolchains stay shared through
TANUKI_CACHE, as on a machine where ./install.sh ran before.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tanuki_ollama.settings import Settings

from .term import Terminal

REPO = Path(__file__).resolve().parents[2]


def user_env(home: Path, ollama_url: str, venv_bin: Path = REPO / ".venv" / "bin") -> dict[str, str]:
    return {
        "HOME": str(home),
        "TANUKI_HOME": str(home / ".tanuki"),
        "TANUKI_CACHE": str(Settings.from_env().cache),
        "OLLAMA_HOST": ollama_url,
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "USER": "journey",
    }


@pytest.fixture
def home(tmp_path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture
def terminal(home, ollama_env, micro_model) -> Iterator[Callable[..., Terminal]]:
    """``terminal(cwd=REPO, **env) -> Terminal``, started; every tmux server is killed at the end."""
    opened: list[Terminal] = []
    roots: list[str] = []

    def open_terminal(cwd: Path = REPO, **env: str) -> Terminal:
        root = tempfile.mkdtemp(prefix="tj-")  # short: tmux sockets live in sun_path (108 bytes)
        roots.append(root)
        term = Terminal(Path(root), {**user_env(home, ollama_env), **env}, cwd)
        opened.append(term)
        return term.start()

    yield open_terminal
    for term in opened:
        term.close()
    for root in roots:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def checkout(tmp_path) -> Path:
    """A fresh checkout of the working tree (tracked + untracked, not ignored files), its .venv linked.

    A `git clone` would miss uncommitted work. The .venv is shared, so ./install.sh must find it up to date:
    were pyproject.toml newer than the venv, install.sh would re-point the shared editable install at this copy.
    """
    key = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()[:16]
    if (REPO / ".venv" / ".tanuki-deps").read_text().strip() != key:
        pytest.fail("the .venv is older than pyproject.toml: run ./install.sh in the checkout first (CI does)")
    dest = tmp_path / "tanuki-programmer"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                           capture_output=True, timeout=30).stdout.decode().split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    (dest / ".venv").symlink_to(REPO / ".venv")
    return dest
