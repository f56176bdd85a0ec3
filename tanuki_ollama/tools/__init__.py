"""Tools agents call: one protocol (``Tool``), JSON-schema arguments, permissions per agent, structured results.

    >>> from tanuki_ollama.tools import ToolContext, default_registry      # doctest: +SKIP
    >>> obs = default_registry().call("read_file", {"path": "README.md"}, ToolContext(workspace=Path(".")),
    ...                               allowed=["read_file"])                # doctest: +SKIP

Importing this package does no I/O; programs (linters, git, the sandbox) are found on first use.
"""

from .base import (
    Observation,
    PathOutsideWorkspace,
    Tool,
    ToolContext,
    ToolError,
    ToolRegistry,
    ToolUnavailable,
    TransientToolError,
    resolve_path,
)

TOOL_NAMES = ("read_file", "write_file", "apply_patch", "search", "run_tests", "lint", "format", "gdb", "docker",
              "terraform", "git", "design_api")


def default_registry() -> ToolRegistry:
    """Every built-in tool, under the names used in adapters/agents.yaml."""
    from .design_api import DesignAPI
    from .files import ApplyPatch, ReadFile, Search, WriteFile
    from .gdb import Gdb
    from .git import Git
    from .infra import Docker, Terraform
    from .lint import Format, Lint
    from .testing import RunTests

    return ToolRegistry([ReadFile(), WriteFile(), ApplyPatch(), Search(), RunTests(), Lint(), Format(), Gdb(),
                         Docker(), Terraform(), Git(), DesignAPI()])


__all__ = [
    "TOOL_NAMES",
    "Observation",
    "PathOutsideWorkspace",
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolRegistry",
    "ToolUnavailable",
    "TransientToolError",
    "default_registry",
    "resolve_path",
]
