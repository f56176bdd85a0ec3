"""The attack suite: every attack is contained (the same suite as `tanuki sandbox check`)."""

from __future__ import annotations

import psutil
import pytest

from tanuki_ollama.sandbox.attacks import ATTACKS, run_suite

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def outcomes(sandbox):
    return {o.name: o for o in run_suite(sandbox, workers=2)}


@pytest.mark.parametrize("name", [a.name for a in ATTACKS])
def test_attack_is_contained(outcomes, name):
    o = outcomes[name]
    assert o.contained, f"{name}: {o.evidence}"


def test_no_sandbox_uid_outlives_the_runs(outcomes, sandbox):
    lo, hi = sandbox.backend.profile["uid_range"]
    left = [p.info for p in psutil.process_iter(["pid", "uids", "name"])
            if p.info["uids"] and lo <= p.info["uids"].real <= hi]
    assert left == []
