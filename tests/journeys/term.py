"""A small tmux driver: a real terminal a journey types into and reads from, as a user would.

Each ``Terminal`` is its own tmux server (``-S`` socket in a temp folder, no user config) holding one detached
session of a fixed size, started with exactly the environment given (a throwaway HOME and TANUKI_HOME, a plain
PATH). Commands are typed with ``send-keys -l`` and Enter; what the user sees is read back with
``capture-pane -J`` over the whole history. The shell's prompt carries the last exit status
(``[rc=N] journey$``), so ``run`` knows when a command has finished and how.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import time
from pathlib import Path
from typing import Self

PROMPT = "journey$ "
PROMPT_RE = re.compile(r"^(?:\^C)?\[rc=(\d+)\] journey\$ ", re.MULTILINE)  # after Ctrl-C: ^C[rc=0]
TRACEBACK = "Traceback (most recent call last)"


class Terminal:
    def __init__(self, root: Path, env: dict[str, str], cwd: Path, *, width: int = 180, height: int = 50):
        self.root, self.env, self.cwd = root, dict(env), cwd
        self.socket = root / "tmux.sock"
        self.width, self.height = width, height
        self.windows = ["main"]

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Terminal:
        conf = self.root / "tmux.conf"
        conf.write_text("set -g history-limit 100000\nset -g remain-on-exit off\n")
        rc = self.root / "bashrc"
        rc.write_text(f"PS1='[rc=$?] {PROMPT}'\nunset PROMPT_COMMAND\n")
        self._tmux("-f", str(conf), "new-session", "-d", "-s", "journey", "-n", "main", "-x", str(self.width),
                   "-y", str(self.height), "-c", str(self.cwd), self._shell(rc))
        self.wait_prompt(count=1, timeout=20)
        return self

    def new_window(self, name: str) -> None:
        """A second window (e.g. a server in one, its clients in another)."""
        self._tmux("new-window", "-d", "-t", "journey", "-n", name, "-c", str(self.cwd),
                   self._shell(self.root / "bashrc"))
        self.windows.append(name)
        self.wait_prompt(count=1, timeout=20, window=name)

    def close(self) -> None:
        subprocess.run(["tmux", "-S", str(self.socket), "kill-server"], check=False, capture_output=True,
                       timeout=20)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ keys and screen
    def type(self, line: str, window: str = "main") -> None:
        """Type LINE exactly as a user would, then Enter."""
        self._tmux("send-keys", "-t", f"journey:{window}", "-l", line)
        self._tmux("send-keys", "-t", f"journey:{window}", "Enter")

    def ctrl_c(self, window: str = "main") -> None:
        self._tmux("send-keys", "-t", f"journey:{window}", "C-c")

    def screen(self, window: str = "main") -> str:
        """Everything the window shows and has shown (the scrollback), wrapped lines joined."""
        out = self._tmux("capture-pane", "-p", "-J", "-S", "-", "-E", "-", "-t", f"journey:{window}")
        return out.rstrip("\n")

    def wait_for(self, pattern: str | re.Pattern, timeout: float, window: str = "main", after: int = 0) -> str:
        """Wait (bounded) until PATTERN (text or regex) appears on screen after offset AFTER; the screen."""
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(re.escape(pattern))
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen(window)
            if regex.search(text, after):
                return text
            if time.monotonic() >= deadline:
                raise AssertionError(f"{pattern!r} not seen within {timeout:.0f}s; the screen:\n{text[-6000:]}")
            time.sleep(0.5)

    def wait_prompt(self, count: int, timeout: float, window: str = "main") -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen(window)
            if len(PROMPT_RE.findall(text)) >= count:
                return text
            if time.monotonic() >= deadline:
                raise AssertionError(f"no prompt #{count} within {timeout:.0f}s; the screen:\n{text[-6000:]}")
            time.sleep(0.5)

    def run(self, line: str, timeout: float, window: str = "main") -> tuple[int, str]:
        """Type LINE, wait for the next prompt; (exit status, what the command showed)."""
        before = self.screen(window)
        n = len(PROMPT_RE.findall(before))
        self.type(line, window)
        text = self.wait_prompt(n + 1, timeout, window)
        prompts = list(PROMPT_RE.finditer(text))
        start, end = prompts[n - 1].end(), prompts[n]
        shown = text[start:end.start()]
        assert shown.startswith(line[:40]), f"the typed line is not what the terminal shows:\n{shown[:500]}"
        return int(end.group(1)), shown[shown.find("\n") + 1:] if "\n" in shown else ""

    # ------------------------------------------------------------------ internals
    def _shell(self, rc: Path) -> str:
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(self.env.items()))
        return f"env -i {env} bash --noprofile --rcfile {shlex.quote(str(rc))} -i"

    def _tmux(self, *args: str) -> str:
        out = subprocess.run(["tmux", "-S", str(self.socket), *args], check=False, capture_output=True, text=True,
                             timeout=20, env=self.env)
        if out.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args[:3])} failed: {out.stderr.strip()}")
        return out.stdout


def assert_helpful(shown: str, *messages: str) -> None:
    """An error a user can act on: each message, an `error:` line and a `hint:`, no Python traceback."""
    assert TRACEBACK not in shown, f"a traceback reached the user:\n{shown}"
    for message in messages:
        assert message in shown, f"{message!r} not shown:\n{shown}"
    assert "error:" in shown and "hint:" in shown, f"no error + hint:\n{shown}"
