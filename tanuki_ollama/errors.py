"""Errors a user may see. The library raises these; only the CLI turns them into exit codes and messages.

Every error carries a ``hint`` that names the fix.
"""

from __future__ import annotations


class TanukiError(Exception):
    """A displayable error: ``message`` says what went wrong, ``hint`` says what to do about it."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class ConfigError(TanukiError):
    """Bad settings, bad YAML, bad flags."""


class BackendUnavailable(TanukiError):
    """An engine (Ollama, llama-server) cannot be reached."""


class ModelNotFound(TanukiError):
    """The engine does not know the requested model."""


class EngineError(TanukiError):
    """The engine answered with an error."""


class CapabilityMissing(TanukiError):
    """The installed engine lacks a feature we need (e.g. an Ollama that refuses ADAPTER)."""


class ToolchainMissing(TanukiError):
    """A build tool, binary or Python package is not installed."""


class InvalidModelFile(TanukiError):
    """A GGUF or safetensors file is corrupt, truncated or of the wrong kind."""


class DiskFull(TanukiError):
    """No space left while writing outputs; finished work is kept and a rerun resumes."""


class Cancelled(TanukiError):
    """The run was cancelled (Ctrl-C); its journal is kept and ``--resume RUN_ID`` continues it."""


class RunTimeout(TanukiError):
    """The whole run went over ``run_timeout_s``."""


class StepTimeout(TanukiError):
    """One step (or its review) went over its time limit."""
