"""docker (hadolint; build only where an engine runs) and terraform (binary, or the HCL2 parser fallback)."""

from __future__ import annotations

import shutil

import pytest

from tanuki_ollama.tools.infra import engine_available

DOCKERFILE = """FROM ubuntu
RUN apt-get update && apt-get install -y curl
ADD app.py /app/app.py
CMD python3 /app/app.py
"""


def test_hadolint_findings(registry, ctx, workspace):
    (workspace / "Dockerfile").write_text(DOCKERFILE)
    obs = registry.call("docker", {"action": "lint"}, ctx)
    assert not obs.ok
    got = {(f["code"], f["line"]) for f in obs.data["findings"]}
    assert {("DL3006", 1), ("DL3008", 2), ("DL3015", 2), ("DL3009", 2), ("DL3020", 3), ("DL3025", 4)} <= got
    (workspace / "ok.Dockerfile").write_text('FROM python:3.12-slim\nCOPY app.py /app/app.py\nUSER 65534\n'
                                             'CMD ["python3", "/app/app.py"]\n')
    assert registry.call("docker", {"dockerfile": "ok.Dockerfile"}, ctx).ok


def test_docker_build_needs_an_engine(registry, ctx, workspace):
    if engine_available() is not None:
        pytest.skip("a container engine runs here; the build path is exercised by the sandbox's container tests")
    (workspace / "Dockerfile").write_text("FROM scratch\n")
    obs = registry.call("docker", {"action": "build"}, ctx)
    assert not obs.ok and "no container engine" in obs.error and "action=lint" in obs.error


UGLY_TF = 'variable "region" {\ntype = string\n  default = "eu"\n}\n'
BAD_REF_TF = 'variable "region" {\n  type = string\n}\n\noutput "r" {\n  value = var.zone\n}\n'


def test_terraform_without_the_binary_checks_syntax(registry, ctx, workspace, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    (workspace / "main.tf").write_text(UGLY_TF)
    obs = registry.call("terraform", {"action": "fmt"}, ctx)
    assert obs.ok and obs.data["formatter"] == "python-hcl2"
    (workspace / "broken.tf").write_text('resource "x" "y" {\n  a = \n}\n')
    obs = registry.call("terraform", {"action": "fmt"}, ctx)
    assert not obs.ok and [(f["path"], f["line"]) for f in obs.data["findings"]] == [("broken.tf", 2)]
    obs = registry.call("terraform", {"action": "validate"}, ctx)
    assert not obs.ok and "terraform binary" in obs.error


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
def test_terraform_fmt_and_validate(registry, ctx, workspace):
    (workspace / "infra").mkdir()
    (workspace / "infra" / "main.tf").write_text(UGLY_TF)
    check = registry.call("terraform", {"action": "fmt", "path": "infra"}, ctx)
    assert not check.ok and check.data["changed"] == ["infra/main.tf"]
    fixed = registry.call("terraform", {"action": "fmt", "path": "infra", "write": True}, ctx)
    assert fixed.ok and "  type    = string\n  default = " in (workspace / "infra" / "main.tf").read_text()
    assert registry.call("terraform", {"action": "validate", "path": "infra"}, ctx).ok
    (workspace / "infra" / "main.tf").write_text(BAD_REF_TF)
    obs = registry.call("terraform", {"action": "validate", "path": "infra"}, ctx)
    assert not obs.ok and obs.data["findings"][0]["path"] == "infra/main.tf" and obs.data["findings"][0]["line"] == 6
