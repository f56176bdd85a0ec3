"""The run's calls out, timed and counted into its usage.

- ``ModelGate``: every model call of the loop. The agent's model is made resident (the previous one
  released, the next step's prefetched); the answer streams in a worker thread, so cancellation and timeouts
  cut the wait short, and an abandoned answer stops streaming, which tells Ollama to stop generating. Limits
  (step, review and run timeouts, cancellation) are checked before every call and while waiting for one.
- ``ToolCalls``: every tool call of the run, through the registry (permissions, validation, timeout, retry),
  and the test evidence, cached by the workspace's content.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ..agents.roster import Roster
from ..errors import Cancelled, RunTimeout, StepTimeout
from ..resources import ResidencyManager
from ..types import ChatResult, Message, Usage
from .evidence import Tests
from .models import PlanStep, RunConfig
from .router import route
from .workspace import Workspace


class ModelGate:
    """Model calls under the run's limits; ``usage`` is the run's, shared with the loop and the search."""

    def __init__(self, engine: Any, config: RunConfig, roster: Roster, cancel: threading.Event,
                 deadline: float, run_id: str, usage: dict[str, Any]):
        self.engine, self.config, self.roster, self.cancel = engine, config, roster, cancel
        self.deadline, self.run_id, self.usage = deadline, run_id, usage
        self.residency = ResidencyManager(engine, budget_bytes=config.memory_budget_bytes,
                                          options=config.runner_options())
        self.current_model: str | None = None

    def use(self, model: str) -> None:
        if self.current_model and self.current_model != model:
            self.residency.release(self.current_model)
        self.current_model = model
        self.residency.ensure(model)

    def prefetch_after(self, step: PlanStep, pending: list[PlanStep]) -> None:
        """Start loading the model of the step after ``step`` (``pending``: the plan's steps not yet done)."""
        if not self.config.prefetch:
            return
        pending = [s for s in pending if s.id != step.id]
        if pending and pending[0].kind != "check":
            agent = route(pending[0], self.roster, self.config.agents or None)
            self.residency.prefetch(self.config.model_for(agent.name))

    def chat(self, model: str, messages: list[Message], schema: dict, deadline: float) -> ChatResult:
        """One model call (residency included) in a worker thread, so cancellation and timeouts cut the wait
        short; an abandoned answer stops streaming, which tells Ollama to stop generating."""
        self.check_limits()
        if time.monotonic() >= deadline:
            raise StepTimeout(f"no time left for {model}", hint="raise --step-timeout")
        self.usage["model_requests"] += 1
        box: dict[str, Any] = {}
        abort = threading.Event()
        options = {**self.config.runner_options(), "num_predict": self.config.num_predict}
        if self.config.temperature is not None:
            options["temperature"] = self.config.temperature

        def call() -> None:
            try:
                self.use(model)
                box["result"] = self._stream(model, messages, schema, options, abort)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                box["error"] = exc

        t0 = time.monotonic()
        worker = threading.Thread(target=call, name=f"chat-{model}", daemon=True)
        worker.start()
        try:
            while worker.is_alive():
                worker.join(0.05)
                if self.cancel.is_set():
                    raise Cancelled("cancelled while waiting for the model",
                                    hint=f"continue with `tanuki run --resume {self.run_id}`")
                if time.monotonic() >= self.deadline:
                    raise RunTimeout(f"the run went over {self.config.run_timeout_s:.0f}s", hint="raise --timeout")
                if time.monotonic() >= deadline:
                    raise StepTimeout(f"{model} did not answer in time", hint="raise --step-timeout")
        finally:
            abort.set()
            self.usage["model_s"] += time.monotonic() - t0  # waiting for a model, answered or not
        if "error" in box:
            raise box["error"]
        result: ChatResult = box["result"]
        self.usage["prompt_tokens"] += result.usage.prompt_tokens
        self.usage["completion_tokens"] += result.usage.completion_tokens
        self.usage["model_calls"] += 1
        return result

    def _stream(self, model: str, messages: list[Message], schema: dict, options: dict,
                abort: threading.Event) -> ChatResult:
        content: list[str] = []
        calls: list[Any] = []
        last = None
        stream = self.engine.chat_stream(model, messages, format=schema, options=options,
                                         keep_alive=self.residency.keep_alive_for(model))
        try:
            for chunk in stream:
                content.append(chunk.content)
                calls += chunk.tool_calls
                last = chunk
                if abort.is_set():
                    break
        finally:
            stream.close()
        return ChatResult(model=model, message=Message(role="assistant", content="".join(content), tool_calls=calls),
                          done_reason=last.done_reason if last else None,
                          usage=last.usage if last is not None and last.usage else Usage())

    def check_limits(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("the run was cancelled", hint=f"continue it with `tanuki run --resume {self.run_id}`")
        if time.monotonic() >= self.deadline:
            raise RunTimeout(f"the run went over {self.config.run_timeout_s:.0f}s",
                             hint="raise --timeout, or give a smaller task")


class ToolCalls:
    """The run's tool calls in its workspace (``ctx``), timed into ``usage["tool_s"]``."""

    def __init__(self, registry: Any, ctx: Any, ws: Workspace, usage: dict[str, Any],
                 emit: Callable[..., None]):
        self.registry, self.ctx, self.ws, self.usage, self.emit = registry, ctx, ws, usage, emit
        self._test_cache: dict[str, Tests] = {}

    def call(self, name: str, args: dict, ctx: Any, *, allowed: list[str] | None = None) -> Any:
        """Every tool call of the run: through the registry (permissions, validation, timeout, retry), timed."""
        t0 = time.monotonic()
        obs = self.registry.call(name, args, ctx, allowed=allowed)
        self.usage["tool_s"] += time.monotonic() - t0
        return obs

    def tests(self, allowed: list[str] | None = None) -> Tests:
        """The test evidence; a workspace whose content did not change since the last run is not re-tested."""
        key = self.ws.fingerprint()
        permitted = allowed is None or "run_tests" in allowed
        if permitted and key in self._test_cache:
            return self._test_cache[key]
        obs = self.call("run_tests", {}, self.ctx, allowed=allowed)
        tests = Tests.from_observation(obs)
        if permitted:
            self._test_cache[key] = tests
        self.emit("tool", f"run_tests: {tests.summary}", ok=tests.ok)
        return tests

    def forget_tests(self) -> None:
        """Drop the cached test evidence: the next ``tests()`` runs the tests again."""
        self._test_cache.clear()

    def acceptance_ok(self, step: PlanStep, tests: Tests) -> bool:
        ok = tests.ok or not tests.found
        if any("lint" in a.lower() for a in step.acceptance):
            ok = ok and self.call("lint", {}, self.ctx).ok
        return ok
