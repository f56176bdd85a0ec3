"""Ollama Modelfiles as data: build, render, parse back, and write next to the exported files."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any


def builtin_template(name: str) -> str:
    """A Go chat template shipped in ``tanuki_ollama/data/templates/<name>.gotmpl``.

    The file's final newline is not part of the template (it would end every prompt with a stray ``\n``).
    """
    text = resources.files("tanuki_ollama").joinpath("data", "templates", f"{name}.gotmpl").read_text()
    return text[:-1] if text.endswith("\n") else text


def _quote(text: str) -> str:
    if '"""' in text:
        raise ValueError('a Modelfile value cannot contain """')
    return f'"""{text}"""'


def _param(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value) if (not value or any(c.isspace() for c in value) or value.startswith("<")) else value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class Modelfile:
    """``FROM`` a GGUF (or model name), at most one ``ADAPTER``, and the rest of what Ollama reads."""

    from_: str
    adapter: str | None = None
    template: str | None = None
    system: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    license: str | None = None

    def render(self) -> str:
        lines = [f"FROM {self.from_}"]
        if self.adapter:
            lines.append(f"ADAPTER {self.adapter}")
        if self.template is not None:
            lines.append(f"TEMPLATE {_quote(self.template)}")
        if self.system is not None:
            lines.append(f"SYSTEM {_quote(self.system)}")
        for key, value in self.parameters.items():
            for v in value if isinstance(value, list) else [value]:
                lines.append(f"PARAMETER {key} {_param(v)}")
        if self.license:
            lines.append(f"LICENSE {_quote(self.license)}")
        return "\n".join(lines) + "\n"

    def write(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.render())
        return path

    def api_parameters(self) -> dict[str, Any]:
        """The ``parameters`` object of ``/api/create`` (numbers as numbers, ``stop`` as a list)."""
        out: dict[str, Any] = {}
        for key, value in self.parameters.items():
            out[key] = list(value) if isinstance(value, list) else value
        return out


CHATML_STOPS = ["<|im_start|>", "<|im_end|>"]
