"""Scale-out deployment recipes, validated offline against their platforms' schemas:

- Kubernetes (deploy/k8s/scale): kubeconform -strict against the official schemas (as tests/server does);
- AWS ECS and EKS (deploy/aws/*.yaml, CloudFormation): cfn-lint, which checks every resource against the
  CloudFormation resource provider schemas it ships (AWS::ECS::TaskDefinition, AWS::EKS::Nodegroup, ...);
- Azure Container Apps (deploy/azure/containerapp.yaml): every key and value type checked, recursively, against
  the ``ContainerApp`` model of azure-mgmt-appcontainers (generated from the Container Apps REST API spec);
  unknown keys and wrong types are errors.
"""

from __future__ import annotations

import enum
import json
import subprocess
import sys
import types
import typing
from pathlib import Path

import pytest
import yaml

from tests.server.k8s_schemas import standalone_schemas
from tests.server.test_deploy import cache_root, kubeconform

REPO = Path(__file__).resolve().parents[2]
SCALE = REPO / "deploy" / "k8s" / "scale"
KINDS = ["deployment-apps-v1.json", "service-v1.json", "configmap-v1.json", "secret-v1.json",
         "horizontalpodautoscaler-autoscaling-v2.json", "poddisruptionbudget-policy-v1.json"]


def _kubeconform(target: Path) -> subprocess.CompletedProcess:
    schemas = standalone_schemas(cache_root() / "k8s-schemas", KINDS)
    return subprocess.run(
        [kubeconform(), "-strict", "-summary", "-output", "json", "-skip", "Kustomization",
         "-schema-location", f"{schemas}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json", str(target)],
        capture_output=True, text=True, timeout=120, check=False)


def test_k8s_scale_manifests_pass_kubeconform():
    proc = _kubeconform(SCALE)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads(proc.stdout)["summary"]
    assert summary["valid"] == 7 and summary["invalid"] == 0 and summary["errors"] == 0
    listed = yaml.safe_load((SCALE / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in SCALE.glob("*.yaml") if p.name != "kustomization.yaml")


def test_hpa_scales_on_queue_depth_and_replicas_have_their_own_backend():
    hpa = yaml.safe_load((SCALE / "hpa.yaml").read_text())
    pods = [m["pods"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]
    assert pods and pods[0]["metric"]["name"] == "tanuki_queue_waiting"
    rules = yaml.safe_load(yaml.safe_load((SCALE / "prometheus-adapter.yaml").read_text())["data"]["config.yaml"])
    assert rules["rules"][0]["name"]["as"] == "tanuki_queue_waiting"
    pod = yaml.safe_load((SCALE / "deployment.yaml").read_text())["spec"]["template"]["spec"]
    names = [c["name"] for c in pod["containers"]]
    assert names == ["tanuki", "ollama"] and pod["containers"][1]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    config = yaml.safe_load((SCALE / "configmap.yaml").read_text())["data"]
    assert config["OLLAMA_HOST"] == "http://127.0.0.1:11434"  # residency from its own /api/ps


def _cfn_lint(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).with_name("cfn-lint")), *map(str, paths)], capture_output=True, text=True,
                          timeout=300, check=False)


def test_aws_templates_pass_cfn_lint(tmp_path):
    templates = sorted((REPO / "deploy" / "aws").glob("*.yaml"))
    assert [p.name for p in templates] == ["ecs.yaml", "eks.yaml"]
    proc = _cfn_lint(*templates)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # and the linter is not lax: a misspelt task-definition key is refused
    bad = (REPO / "deploy" / "aws" / "ecs.yaml").read_text().replace("StopTimeout: 45", "StopTimout: 45")
    (tmp_path / "bad.yaml").write_text(bad)
    proc = _cfn_lint(tmp_path / "bad.yaml")
    assert proc.returncode != 0 and "StopTimout" in proc.stdout


# ------------------------------------------------------------------------------------------------ Azure
def _model_errors(value, hint, where: str) -> list[str]:
    """Errors of ``value`` against the type ``hint`` of an azure-mgmt-appcontainers model field."""
    from azure.mgmt.appcontainers import models

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        enums = [a for a in options if isinstance(a, type) and issubclass(a, enum.Enum)]
        if enums and isinstance(value, str):
            known = {e.value for e in enums[0]}
            return [] if value in known else [f"{where}: {value!r} is not one of {sorted(known)}"]
        results = [_model_errors(value, a, where) for a in options]
        return [] if any(not r for r in results) else results[0]
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: expected a list"]
        return [e for i, v in enumerate(value) for e in _model_errors(v, args[0], f"{where}[{i}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{where}: expected a mapping"]
        return [e for k, v in value.items() for e in _model_errors(v, args[1], f"{where}.{k}")]
    if isinstance(hint, type) and hint.__module__.startswith("azure.mgmt.appcontainers.models") \
            and not issubclass(hint, enum.Enum):
        if not isinstance(value, dict):
            return [f"{where}: expected an object ({hint.__name__})"]
        hint()  # builds the class's field table
        hints = typing.get_type_hints(hint, globalns={**vars(models), "_models": models})
        fields = {f._rest_name: hints[attr] for attr, f in hint._attr_to_rest_field.items()}
        errors = [f"{where}.{k}: unknown key for {hint.__name__}" for k in value if k not in fields]
        return errors + [e for k, v in value.items() if k in fields for e in _model_errors(v, fields[k], f"{where}.{k}")]
    if hint is typing.Any:
        return []
    if hint is float:
        return [] if isinstance(value, (int, float)) and not isinstance(value, bool) else [f"{where}: expected a number"]
    if isinstance(hint, type) and not isinstance(value, hint):
        return [f"{where}: expected {hint.__name__}, got {type(value).__name__}"]
    return []


def azure_errors(doc: dict) -> list[str]:
    from azure.mgmt.appcontainers import models

    errors = [] if doc.get("location") else ["location: required"]
    return errors + _model_errors(doc, models.ContainerApp, "containerapp")


def test_azure_container_app_matches_the_api_model():
    doc = yaml.safe_load((REPO / "deploy" / "azure" / "containerapp.yaml").read_text())
    assert azure_errors(doc) == []
    template = doc["properties"]["template"]
    assert [c["name"] for c in template["containers"]] == ["tanuki", "ollama"]
    assert {r["name"] for r in template["scale"]["rules"]} == {"queue-depth", "http-concurrency"}


@pytest.mark.parametrize("mutate, expect", [
    (lambda d: d["properties"]["template"].__setitem__("scaling", {}), "unknown key"),
    (lambda d: d["properties"]["template"]["scale"].__setitem__("maxReplicas", "eight"), "expected int"),
    (lambda d: d["properties"]["configuration"]["ingress"].__setitem__("transport", "carrier-pigeon"), "not one of"),
    (lambda d: d["properties"]["template"]["containers"][0]["probes"][0].__setitem__("type", "Ready"), "not one of"),
])
def test_azure_validation_is_strict(mutate, expect):
    doc = yaml.safe_load((REPO / "deploy" / "azure" / "containerapp.yaml").read_text())
    mutate(doc)
    errors = azure_errors(doc)
    assert errors and expect in errors[0]
