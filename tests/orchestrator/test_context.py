"""Briefing packets: fitted to num_ctx, sealed with a checksum, sent as differential updates, verified on receipt."""

import pytest

from tanuki_ollama.engines.scripted import ScriptedEngine, count_words
from tanuki_ollama.orchestrator.context import (
    CALIBRATION_TEXT,
    AgentSession,
    ContextManager,
    Packet,
    PacketCorrupt,
    PacketDelta,
    TokenEstimator,
    compress_code,
    compress_log,
)

CODE = "import os\n\n" + "\n".join(
    f"def f{i}(x):\n    y = x + {i}\n    z = y * 2\n    return z\n" for i in range(60))


def sections(**over):
    base = {"task": "make the failing test pass", "step": "fix add()", "evidence": "1 failed",
            "files": CODE, "repo_map": "calc.py: def add(a, b)\n" * 200, "history": "s0 accepted\n" * 50,
            "tools": "- read_file: read a file"}
    base.update(over)
    return base


def test_estimator_is_calibrated_by_one_real_count():
    engine = ScriptedEngine()
    est = TokenEstimator(engine)
    ratio = est.ratio("m")
    assert ratio == pytest.approx(len(CALIBRATION_TEXT) / count_words(CALIBRATION_TEXT))
    est.count("m", "x" * 1000)
    est.count("m", "y" * 10)
    assert est.ratios == {"m": ratio}  # calibrated once per model, not once per chunk


def test_packet_fits_the_context_and_keeps_the_task():
    est = TokenEstimator(ScriptedEngine())
    cm = ContextManager(est, num_ctx=1024, reserve=256)
    packet = cm.build(agent="tanuki-coder", model="m", step_id="s1", sections=sections(), system="sys")
    assert packet.tokens <= cm.budget("m", "sys")
    names = [k for k, _ in packet.sections]
    assert names[0] == "task" and dict(packet.sections)["task"] == "make the failing test pass"
    assert "history" in packet.dropped or len(dict(packet.sections).get("history", "")) < len(sections()["history"])
    big = cm.build(agent="tanuki-coder", model="m", step_id="s1", sections=sections(), system="sys")
    roomy = ContextManager(est, num_ctx=65536).build(agent="tanuki-coder", model="m", step_id="s1",
                                                     sections=sections())
    assert roomy.dropped == [] and dict(roomy.sections)["files"] == CODE
    assert big.checksum == packet.checksum  # deterministic


def test_compression_is_extractive():
    small = compress_code(CODE, 600, keep=[30])
    assert len(small) <= 600
    lines = CODE.splitlines()
    assert lines[29] in small  # the line the failure points at survives
    assert "def f0(x):" in small and "lines)" in small
    log = "\n".join(f"collecting {i}" for i in range(300)) + "\nE   AssertionError: assert -1 == 5\n" + \
        "\n".join(f"tail {i}" for i in range(30))
    kept = compress_log(log, 800)
    assert "AssertionError" in kept and "collecting 0" in kept and len(kept) <= 800


def test_differential_updates_are_verified_on_receipt():
    est = TokenEstimator(ScriptedEngine())
    cm = ContextManager(est, num_ctx=65536)
    receiver = AgentSession("tanuki-coder")
    first = cm.build(agent="tanuki-coder", model="m", step_id="s1", sections=sections(requests=""))
    sent = cm.send(first)
    assert isinstance(sent, Packet)
    full = receiver.receive(sent, "hint")
    assert "## task" in full and "## files" in full
    second = cm.build(agent="tanuki-coder", model="m", step_id="s1",
                      sections=sections(requests="- make test_add pass", evidence="2 failed"))
    delta = cm.send(second)
    assert isinstance(delta, PacketDelta)
    assert {k for k, _ in delta.changed} == {"requests", "evidence"}
    update = receiver.receive(delta, "hint")
    assert "make test_add pass" in update and "## files" not in update  # unchanged files are not resent
    assert receiver.held.checksum == second.checksum and receiver.held.sections == second.sections
    # a stale or tampered update is refused
    with pytest.raises(PacketCorrupt):
        receiver.receive(delta, "hint")  # its base is no longer what the receiver holds
    tampered = first.model_copy(update={"sections": first.sections[:-1]})
    with pytest.raises(PacketCorrupt):
        AgentSession("x").receive(tampered, "hint")
    # a new step starts with a full packet again
    other = cm.build(agent="tanuki-coder", model="m", step_id="s2", sections=sections())
    assert isinstance(cm.send(other), Packet)
