"""The residency manager: LRU under a memory budget, pinning, prefetch in the background, reconciliation."""

from tanuki_ollama.engines.scripted import ScriptedEngine
from tanuki_ollama.resources import ResidencyManager, ResourceMonitor, parse_size

MB = 1 << 20


def manager(budget, **kw):
    engine = ScriptedEngine(models=["a", "b", "c", "d"])
    sizes = {"a": 100 * MB, "b": 100 * MB, "c": 100 * MB, "d": 250 * MB}
    return engine, ResidencyManager(engine, budget_bytes=budget, sizes=sizes, **kw)


def test_lru_eviction_under_the_budget():
    engine, rm = manager(250 * MB)
    for model in ("a", "b"):
        rm.ensure(model)
        rm.release(model)
    assert set(engine.resident) == {"a", "b"}
    rm.ensure("a")  # a is now the most recently used
    rm.release("a")
    rm.ensure("c")  # needs 100 MB: evicts b, the least recently used
    assert set(engine.resident) == {"a", "c"}
    assert rm.stats["evictions"] == ["b"]
    assert rm.stats["hits"] == 1 and rm.stats["loads"] == 3


def test_pinned_model_is_never_evicted():
    engine, rm = manager(200 * MB)
    rm.ensure("a")  # pinned (the agent working now)
    rm.ensure("d")  # 250 MB does not fit even alone: loads anyway, a stays
    assert {"a", "d"} <= set(engine.resident)
    assert rm.stats["evictions"] == [] and rm.stats["over_budget"] == 1


def test_prefetch_loads_the_next_agent_in_the_background():
    engine, rm = manager(None)
    rm.ensure("a")
    assert rm.prefetch("b") is True
    assert rm.prefetch("a") is False  # already resident
    rm.close()
    assert "b" in engine.resident
    blocked = rm.ensure("b")
    assert rm.stats["hits"] == 1 and rm.stats["prefetches"] == 1
    assert blocked < 1.0
    kinds = [c["kind"] for c in engine.calls]
    assert kinds == []  # load() is not a generation


def test_manager_forgets_models_the_engine_dropped():
    engine, rm = manager(None)
    rm.ensure("a")
    rm.release("a")
    engine.unload("a")  # Ollama expired it on its own
    rm.ensure("a")
    assert rm.stats["loads"] == 2 and rm.stats["hits"] == 0


def test_monitor_and_sizes():
    engine, rm = manager(None)
    rm.ensure("a")
    snap = ResourceMonitor(engine).snapshot()
    assert "a" in snap.models and snap.available_bytes > 0
    assert parse_size("6GB") == 6 << 30 and parse_size("1.5g") == int(1.5 * (1 << 30))
