"""The release files: present, the right license, a changelog that names the current version, and the paths
the contributor and security guides send people to exist."""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path

import pytest

import tanuki_ollama

REPO = Path(__file__).resolve().parents[2]
RELEASE_FILES = ("LICENSE", "CONTRIBUTING.md", "CODE_OF_CONDUCT.md", "SECURITY.md", "CHANGELOG.md",
                 "docs/versioning.md", "docs/troubleshooting.md")
#: sha256 of https://www.apache.org/licenses/LICENSE-2.0.txt (also Debian's /usr/share/common-licenses/Apache-2.0)
APACHE_2_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
VERSION_HEADING = re.compile(r"^## \[(?P<version>[^\]]+)\](?: - (?P<date>\S+))?\s*$", re.MULTILINE)
SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$")
CHANGE_KINDS = ("Added", "Changed", "Deprecated", "Removed", "Fixed", "Security")


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def read(name: str) -> str:
    return (REPO / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", RELEASE_FILES)
def test_release_file_exists(name):
    assert (REPO / name).is_file(), f"{name} is missing"
    assert len(read(name)) > 500, f"{name} is a stub"


def test_license_is_the_apache_2_text_and_matches_the_metadata():
    assert hashlib.sha256((REPO / "LICENSE").read_bytes()).hexdigest() == APACHE_2_SHA256, \
        "LICENSE must be the unmodified Apache License 2.0 text"
    assert pyproject()["project"]["license"] in ({"text": "Apache-2.0"}, "Apache-2.0")
    assert "Apache License 2.0" in read("README.md").split("## License", 1)[1]


def _versions(changelog: str) -> list[tuple[str, str | None]]:
    return [(m["version"], m["date"]) for m in VERSION_HEADING.finditer(changelog)]


def test_changelog_top_version_is_the_package_version():
    version = pyproject()["project"]["version"]
    assert tanuki_ollama.__version__ == version, "pyproject.toml and tanuki_ollama/__init__.py disagree"
    released = [(v, d) for v, d in _versions(read("CHANGELOG.md")) if v != "Unreleased"]
    assert released, "CHANGELOG.md has no version section"
    top, date = released[0]
    assert top == version, f"CHANGELOG.md's newest version is {top}, pyproject.toml says {version}"
    assert date and re.fullmatch(r"\d{4}-\d{2}-\d{2}", date), f"the {top} section needs a date (YYYY-MM-DD)"


def test_changelog_follows_keep_a_changelog():
    text = read("CHANGELOG.md")
    versions = _versions(text)
    assert versions[0][0] == "Unreleased", "the first section is [Unreleased]"
    numbered = [v for v, _ in versions[1:]]
    assert all(SEMVER.match(v) for v in numbered), numbered
    as_tuples = [tuple(int(x) for x in v.split("-")[0].split(".")) for v in numbered]
    assert as_tuples == sorted(as_tuples, reverse=True), "versions must be newest first"
    kinds = re.findall(r"^### (.+)$", text, re.MULTILINE)
    assert kinds and set(kinds) <= set(CHANGE_KINDS), f"change kinds must be among {CHANGE_KINDS}: {kinds}"


def test_code_of_conduct_is_the_contributor_covenant_with_a_contact():
    text = read("CODE_OF_CONDUCT.md")
    assert "Contributor Covenant" in text and "version 2.1" in text
    assert "[INSERT CONTACT METHOD]" not in text
    assert re.search(r"reported to the community leaders responsible for enforcement at\s+\S+@\S+", text)


def test_security_policy_names_a_contact_and_the_supported_version():
    text = read("SECURITY.md")
    assert re.search(r"\b[\w.+-]+@[\w-]+(\.[\w-]+)+\b", text), "no reporting address"
    major_minor = ".".join(pyproject()["project"]["version"].split(".")[:2])
    assert f"{major_minor}.x" in text, f"the supported-versions table must name {major_minor}.x"
    for topic in ("Kernel exploits", "Side channels", "Reduced isolation", "Docker socket", "loopback rule",
                  "supply chain"):
        assert topic.lower() in text.lower(), f"SECURITY.md does not cover {topic!r}"


def test_the_agent_in_contributing_loads_into_the_real_roster(tmp_path, monkeypatch):
    """The `Add an agent` example is appended to adapters/agents.yaml exactly as written, then loaded."""
    from tanuki_ollama.agents.prompts import render_system_prompt
    from tanuki_ollama.agents.roster import load_roster
    from tanuki_ollama.factory.data.strategies import STRATEGIES
    from tanuki_ollama.tools import TOOL_NAMES

    section = read("CONTRIBUTING.md").split("## Add an agent", 1)[1].split("\n## ", 1)[0]
    snippet = re.search(r"```yaml\n(.*?)```", section, re.DOTALL).group(1)
    roster_file = tmp_path / "agents.yaml"
    roster_file.write_text(read("adapters/agents.yaml").rstrip("\n") + "\n\n" + snippet, encoding="utf-8")
    monkeypatch.setenv("TANUKI_ROSTER", str(roster_file))
    roster = load_roster()
    added = roster.agents[-1]
    assert added.name not in {a.name for a in roster.agents[:-1]}
    assert roster.get(added.role) is added
    assert set(added.tools) <= set(TOOL_NAMES) and set(added.data.strategies) <= set(STRATEGIES)
    assert render_system_prompt(added).startswith(f"You are {added.name}, the {added.role}")


# --------------------------------------------------------------------------------------------- paths in the guides
_CODE = re.compile(r"`([^`\n]+)`")
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_PATHLIKE = re.compile(r"^[\w.-]+(?:/[\w.*-]+)*/?$")


def referenced_paths(text: str) -> set[str]:
    """Repository paths a guide mentions: code spans that look like ``dir/file`` paths, and relative links."""
    found = set()
    for token in _CODE.findall(text):
        token = token.strip()
        if "/" in token and _PATHLIKE.match(token) and not token.startswith(".venv"):
            found.add(token)
    for target in _LINK.findall(text):
        if "://" not in target and not target.startswith(("#", "mailto:")):
            found.add(target.split("#", 1)[0])
    return {p for p in found if p}


def test_referenced_paths_are_found_in_guides():
    paths = referenced_paths("see `tanuki_ollama/tools/base.py`, `~/.cache/tanuki`, `/usr`, `tk_<id>_<x>`, "
                             "`sandbox/languages.yaml` and [the policy](docs/versioning.md#before-10), "
                             "[site](https://example.org/a/b), `.venv/bin`, `a | b`")
    assert paths == {"tanuki_ollama/tools/base.py", "sandbox/languages.yaml", "docs/versioning.md"}


@pytest.mark.parametrize("name", ["CONTRIBUTING.md", "SECURITY.md", "CHANGELOG.md", "docs/versioning.md"])
def test_paths_the_guides_name_exist(name):
    base = (REPO / name).parent
    paths = referenced_paths(read(name))
    assert len(paths) >= 3, f"{name}: expected the guide to name files of the repository"
    missing = []
    for rel in sorted(paths):
        candidates = [REPO / rel, base / rel]
        if "*" in rel:
            if not any(REPO.glob(rel)):
                missing.append(rel)
        elif not any(c.exists() for c in candidates):
            missing.append(rel)
    assert not missing, f"{name} names paths that do not exist: {missing}"
