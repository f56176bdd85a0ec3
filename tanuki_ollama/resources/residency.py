"""The residency manager: an LRU of loaded agent models under a memory budget.

- :meth:`ResidencyManager.ensure` makes a model resident and pins it (the agent working now is never evicted):
  it loads with ``keep_alive=-1`` (Ollama never expires it), after unloading least-recently-used, unpinned
  models (``keep_alive: 0``) until the newcomer fits ``budget_bytes``; :meth:`release` re-arms the expiry
  (``keep_alive``), so an unpinned agent stays warm for a while and is the first to go under pressure.
- :meth:`prefetch` loads the next step's agent in a background thread while the current one works, when it fits
  without evicting a pinned model.
- The LRU is reconciled with the engine's view (``/api/ps``) before every decision: Ollama may unload on its own
  (``OLLAMA_MAX_LOADED_MODELS``, expiry).

Sizes are Ollama's own estimates from ``/api/ps`` once a model is loaded, the file size before that.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from ..errors import TanukiError
from .monitor import ResourceMonitor

PREFETCH_JOIN_S = 300.0


class ResidencyManager:
    def __init__(self, engine: Any, *, budget_bytes: int | None = None, keep_alive: str | int = "30m",
                 options: dict[str, Any] | None = None, monitor: ResourceMonitor | None = None,
                 sizes: dict[str, int] | None = None):
        self.engine = engine
        self.budget = budget_bytes
        self.keep_alive = keep_alive
        self.options = dict(options or {})
        self.monitor = monitor or ResourceMonitor(engine)
        self._lru: OrderedDict[str, int] = OrderedDict()
        self._pinned: set[str] = set()
        self._sizes: dict[str, int] = dict(sizes or {})  # known sizes (e.g. from a previous run)
        self._lock = threading.RLock()
        self._inflight: dict[str, threading.Thread] = {}
        self.stats: dict[str, Any] = {"loads": 0, "hits": 0, "prefetches": 0, "evictions": [], "dropped": [],
                                      "load_s": 0.0, "over_budget": 0, "errors": []}

    # ------------------------------------------------------------------ public
    def ensure(self, model: str) -> float:
        """Make ``model`` resident and pin it; returns the seconds this call blocked."""
        t0 = time.perf_counter()
        self._join(model)
        with self._lock:
            self._sync()
            if model in self._lru:
                self._lru.move_to_end(model)
                self.stats["hits"] += 1
            self._pinned.add(model)
            self._load(model, exclude={model}, hit=model in self._lru)
        return time.perf_counter() - t0

    def release(self, model: str) -> None:
        """Unpin: the model stays loaded, now with an expiry (``keep_alive``), and may be evicted."""
        with self._lock:
            if model not in self._pinned:
                return
            self._pinned.discard(model)
            if model in self._lru:
                try:
                    self.engine.load(model, keep_alive=self.keep_alive, options=self.options or None)
                except TanukiError as exc:
                    self.stats["errors"].append(f"release {model}: {exc.message}")

    def keep_alive_for(self, model: str) -> str | int:
        """What a request for ``model`` should send: -1 (never expire) while pinned, else ``keep_alive``."""
        return -1 if model in self._pinned else self.keep_alive

    def prefetch(self, model: str) -> bool:
        """Start loading ``model`` in the background; False when it is resident, in flight, or would not fit."""
        with self._lock:
            if model in self._lru or model in self._inflight:
                return False
            if self.budget is not None and self._used() + self._size_of(model) > self.budget \
                    and not self._evictable(self._size_of(model)):
                return False
            thread = threading.Thread(target=self._prefetch_body, args=(model,), name=f"prefetch-{model}",
                                      daemon=True)
            self._inflight[model] = thread
            self.stats["prefetches"] += 1
        thread.start()
        return True

    def resident(self) -> list[str]:
        with self._lock:
            return list(self._lru)

    def close(self, wait_s: float = 5.0) -> None:
        """Wait (briefly) for prefetches in flight; they are daemon threads and never block an exit."""
        for model, thread in list(self._inflight.items()):
            thread.join(wait_s)

    def unload_all(self) -> None:
        """Unload every model this manager loaded (for benchmarks and tests)."""
        self.close()
        with self._lock:
            for model in list(self._lru):
                self._unload(model)
            self._pinned.clear()

    # ------------------------------------------------------------------ internals
    def _prefetch_body(self, model: str) -> None:
        try:
            with self._lock:
                self._sync()
                if model in self._lru:
                    return
                self._make_room(self._size_of(model), exclude={model})
            self._raw_load(model)  # outside the lock: the current agent keeps working meanwhile
            with self._lock:
                self._lru[model] = self._measured(model)
                self._lru.move_to_end(model)
        except TanukiError as exc:
            self.stats["errors"].append(f"prefetch {model}: {exc.message}")
        finally:
            with self._lock:
                self._inflight.pop(model, None)

    def _join(self, model: str) -> None:
        thread = self._inflight.get(model)
        if thread is not None:
            thread.join(PREFETCH_JOIN_S)

    def _load(self, model: str, exclude: set[str], hit: bool = False) -> None:
        """Load (or, for a resident model, just re-arm) ``model`` pinned: ``keep_alive=-1``."""
        if not hit:
            self._make_room(self._size_of(model), exclude=exclude)
        self._raw_load(model, keep_alive=-1, count=not hit)
        if not hit:
            self._lru[model] = self._measured(model)

    def _raw_load(self, model: str, keep_alive: str | int | None = None, count: bool = True) -> None:
        t0 = time.perf_counter()
        self.engine.load(model, keep_alive=self.keep_alive if keep_alive is None else keep_alive,
                         options=self.options or None)
        if count:
            self.stats["loads"] += 1
            self.stats["load_s"] += time.perf_counter() - t0

    def _measured(self, model: str) -> int:
        size = self.monitor.resident().get(model) or self.monitor.resident().get(f"{model}:latest") or 0
        if size:
            self._sizes[model] = size
        return size or self._size_of(model)

    def _size_of(self, model: str) -> int:
        if model not in self._sizes:
            size = 0
            try:
                wanted = {model, f"{model}:latest"}
                size = next((m.size_bytes for m in self.engine.list_models() if m.name in wanted), 0)
            except TanukiError:
                pass
            self._sizes[model] = size
        return self._sizes[model]

    def _used(self) -> int:
        return sum(self._lru.values())

    def _evictable(self, size: int) -> bool:
        free = self.budget - self._used() if self.budget is not None else size
        return free + sum(s for m, s in self._lru.items() if m not in self._pinned) >= size

    def _make_room(self, size: int, exclude: set[str]) -> None:
        if self.budget is None:
            return
        for victim in [m for m in self._lru if m not in self._pinned and m not in exclude]:
            if self._used() + size <= self.budget:
                return
            self._unload(victim)
            self.stats["evictions"].append(victim)
        if self._used() + size > self.budget:
            self.stats["over_budget"] += 1  # only pinned models left: load anyway, the step must run

    def _unload(self, model: str) -> None:
        try:
            self.engine.unload(model)
        except TanukiError as exc:
            self.stats["errors"].append(f"unload {model}: {exc.message}")
        self._lru.pop(model, None)

    def _sync(self) -> None:
        """Forget models the engine no longer holds (expired, or evicted by Ollama itself)."""
        resident = self.monitor.resident()
        if not resident and not self._lru:
            return
        names = set(resident) | {n.removesuffix(":latest") for n in resident}
        for model in list(self._lru):
            if model not in names and model not in self._inflight:
                self._lru.pop(model)
                self.stats["dropped"].append(model)  # the engine let it go (expiry, or its own eviction)
