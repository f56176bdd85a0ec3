"""``tanuki data teach``: a teacher model writes process-reward examples (step-level judgements).

For each agent in a dataset, the hardest ``fraction`` (default 2 %, at least one) of its train examples by the
difficulty score (see :mod:`.analysis`) are sent to a teacher: any Ollama-native (``/api/chat``) or
OpenAI-compatible (``/v1/chat/completions``) endpoint. The teacher labels every step of the example's ReAct
trace (the opening thought, each action step, the final answer) ``good``/``bad`` with a reason, as JSON that
must match :data:`JUDGEMENT_SCHEMA` (sent as Ollama ``format`` / OpenAI ``response_format``).

Stored apart from the synthetic data: ``<out>/<dataset version>/<model slug>/judgements-00000.jsonl`` plus a
``manifest.json`` with provenance (endpoint, api, model, prompt hash, times). Resumable: ids already judged are
skipped. Rate-limited (requests per second, concurrency) with bounded retries on transport errors, 429 and 5xx.

Several endpoints (``--endpoint URL[,rps=R][,concurrency=C]``, repeatable) are used at once, each within its own
limits (:class:`TeacherPool`): every example goes to the least busy endpoint with a free slot, and an endpoint
that fails is rested for a while and its examples go to the others.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from ...agents.prompts import PROMPTS_DIR, render_template
from ...errors import BackendUnavailable, ConfigError, EngineError
from ...settings import Settings
from . import store

DEFAULT_MODEL = "deepseek-coder:33b-instruct"
PROMPT_TEMPLATE = "teacher_judge.j2"
JUDGEMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["steps", "final"],
    "properties": {
        "steps": {"type": "array", "items": {
            "type": "object", "required": ["index", "label", "reason"],
            "properties": {"index": {"type": "integer"}, "label": {"type": "string", "enum": ["good", "bad"]},
                           "reason": {"type": "string"}}}},
        "final": {"type": "object", "required": ["label", "reason"],
                  "properties": {"label": {"type": "string", "enum": ["good", "bad"]}, "reason": {"type": "string"}}},
    },
}


def default_teacher_root() -> Path:
    return Settings.from_env().home / "teacher"


@dataclass
class TeachConfig:
    endpoint: str = "http://127.0.0.1:11434"
    api: str = "ollama"  # or "openai"
    model: str = DEFAULT_MODEL
    fraction: float = 0.02
    rps: float = 2.0
    concurrency: int = 2
    retries: int = 3
    timeout_s: float = 300.0
    api_key: str | None = None
    temperature: float = 0.0
    max_tokens: int = 1024  # bounds every answer: a weak teacher can otherwise fill its whole context
    agents: list[str] | None = None
    limit: int | None = None
    endpoints: list[str] | None = None  # several teachers at once: "URL[,rps=R][,concurrency=C]" each


def parse_endpoint(spec: str, cfg: TeachConfig) -> TeachConfig:
    """One endpoint's config: ``URL[,rps=R][,concurrency=C]``; unspecified limits are ``cfg``'s.

    >>> e = parse_endpoint("http://gpu1:11434,rps=4,concurrency=8", TeachConfig())
    >>> (e.endpoint, e.rps, e.concurrency)
    ('http://gpu1:11434', 4.0, 8)
    """
    from dataclasses import replace

    url, *opts = [p.strip() for p in spec.split(",")]
    limits: dict[str, Any] = {}
    for opt in opts:
        key, _, value = opt.partition("=")
        try:
            limits[key] = {"rps": float, "concurrency": int}[key](value)
        except (KeyError, ValueError):
            raise ConfigError(f"bad endpoint option {opt!r} in {spec!r}",
                              hint="write URL,rps=2,concurrency=4 (both optional)") from None
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"bad teacher endpoint {url!r}", hint="give a base URL such as http://gpu1:11434")
    return replace(cfg, endpoint=url, endpoints=None, **limits)


def trace_steps(example: dict[str, Any]) -> list[dict[str, Any]]:
    """The steps of an example's ReAct trace: [thought] + each action step + [final answer]."""
    content = example["messages"][-1]["content"]
    try:
        obj = json.loads(content)
    except json.JSONDecodeError:
        obj = None
    if not isinstance(obj, dict):
        parts = [p.strip() for p in re.split(r"\n\s*\n", content) if p.strip()]
        return [{"index": i, "kind": "text", "text": p} for i, p in enumerate(parts)]
    steps = [{"index": 0, "kind": "thought", "text": f"Thought: {obj.get('thought', '')}"}]
    for s in obj.get("steps", []):
        steps.append({"index": len(steps), "kind": "action",
                      "text": f"Thought: {s.get('thought', '')} | Action: {s.get('action', '')}({s.get('input', '')})"
                              f" | Observation: {s.get('observation', '')}"})
    steps.append({"index": len(steps), "kind": "answer",
                  "text": "Answer: " + json.dumps(obj.get("answer"), ensure_ascii=False)[:1500]})
    return steps


def hardest(rows: list[dict[str, Any]], fraction: float) -> list[dict[str, Any]]:
    """The top ``fraction`` by difficulty (ties broken by id), at least one when there are rows."""
    if not rows:
        return []
    k = max(1, round(len(rows) * fraction))
    return sorted(rows, key=lambda r: (-r["difficulty"], r["id"]))[:k]


class _RateLimiter:
    def __init__(self, rps: float):
        self.interval = 1.0 / rps if rps > 0 else 0.0
        self.lock = threading.Lock()
        self.next_at = 0.0

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            at = max(now, self.next_at)
            self.next_at = at + self.interval
        if at > now:
            time.sleep(at - now)


class TeacherClient:
    """One chokepoint for the teacher's HTTP calls: request shape per API, retries, errors that name the fix."""

    def __init__(self, cfg: TeachConfig, sleep: Callable[[float], None] = time.sleep):
        if cfg.api not in ("ollama", "openai"):
            raise ConfigError(f"unknown teacher api {cfg.api!r}", hint="use --api ollama or --api openai")
        self.cfg = cfg
        self.sleep = sleep
        self.limiter = _RateLimiter(cfg.rps)
        headers = {"Authorization": f"Bearer {cfg.api_key}"} if cfg.api_key else {}
        self.http = httpx.Client(base_url=cfg.endpoint.rstrip("/"), timeout=cfg.timeout_s, headers=headers)

    def close(self) -> None:
        self.http.close()

    def _request(self, messages: list[dict[str, str]]) -> str:
        cfg = self.cfg
        if cfg.api == "ollama":
            path = "/api/chat"
            body: dict[str, Any] = {"model": cfg.model, "messages": messages, "stream": False,
                                    "format": JUDGEMENT_SCHEMA, "options": {"temperature": cfg.temperature,
                                                                            "num_ctx": 4096,
                                                                            "num_predict": cfg.max_tokens}}
        else:
            path = "/v1/chat/completions"
            body = {"model": cfg.model, "messages": messages, "temperature": cfg.temperature,
                    "max_tokens": cfg.max_tokens,
                    "response_format": {"type": "json_schema",
                                        "json_schema": {"name": "judgement", "schema": JUDGEMENT_SCHEMA}}}
        last: str = ""
        for attempt in range(cfg.retries + 1):
            if attempt:
                self.sleep(min(30.0, 0.5 * 2 ** (attempt - 1)))
            self.limiter.wait()
            try:
                resp = self.http.post(path, json=body)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                last = f"HTTP {resp.status_code}: {resp.text[:200]}"
                continue
            if resp.status_code == 404:
                raise EngineError(f"the teacher endpoint {cfg.endpoint}{path} answered 404: {resp.text[:200]}",
                                  hint=f"check --api (ollama/openai) and that model {cfg.model!r} exists there "
                                       f"(`ollama pull {cfg.model}`)")
            if resp.status_code >= 400:
                raise EngineError(f"the teacher refused the request: HTTP {resp.status_code}: {resp.text[:300]}",
                                  hint="check --model, --api and the API key (TANUKI_TEACHER_API_KEY)")
            data = resp.json()
            if cfg.api == "ollama":
                return data["message"]["content"]
            return data["choices"][0]["message"]["content"]
        raise BackendUnavailable(f"the teacher at {cfg.endpoint} failed {cfg.retries + 1} times: {last}",
                                 hint="is it running and reachable? lower --rps/--concurrency, or raise --retries")

    def judge(self, example: dict[str, Any], steps: list[dict[str, Any]]) -> dict[str, Any]:
        prompt = render_template(PROMPT_TEMPLATE, agent=example["agent"], task=example["messages"][1]["content"],
                                 steps=steps)
        messages = [{"role": "user", "content": prompt}]
        text = self._request(messages)
        return parse_judgement(text, len(steps))


class TeacherPool:
    """Several :class:`TeacherClient` s used concurrently, each within its own ``rps`` and ``concurrency``.

    ``judge`` takes the endpoint with a free slot and the fewest calls in flight (ties: the first listed); an
    endpoint whose call fails after its retries is rested for ``rest_s`` and the call moves to another one. Only
    when every endpoint has failed the same call does it fail.
    """

    def __init__(self, clients: list[TeacherClient], *, rest_s: float = 30.0):
        if not clients:
            raise ConfigError("no teacher endpoints", hint="pass --endpoint URL (repeatable)")
        self.clients = clients
        self.rest_s = rest_s
        self.inflight = [0] * len(clients)
        self.calls = [0] * len(clients)
        self.resting_until = [0.0] * len(clients)
        self.cond = threading.Condition()

    @property
    def capacity(self) -> int:
        return sum(max(1, c.cfg.concurrency) for c in self.clients)

    def _acquire(self, exclude: set[int]) -> int | None:
        with self.cond:
            while True:
                now = time.monotonic()
                usable = [i for i in range(len(self.clients)) if i not in exclude]
                if not usable:
                    return None
                free = [i for i in usable if self.inflight[i] < max(1, self.clients[i].cfg.concurrency)
                        and self.resting_until[i] <= now]
                if free:
                    best = min(free, key=lambda i: (self.inflight[i], i))
                    self.inflight[best] += 1
                    self.calls[best] += 1
                    return best
                wake = [self.resting_until[i] - now for i in usable if self.resting_until[i] > now]
                self.cond.wait(timeout=min(wake) if wake else 1.0)

    def _release(self, i: int, failed: bool) -> None:
        with self.cond:
            self.inflight[i] -= 1
            if failed:
                self.resting_until[i] = time.monotonic() + self.rest_s
            self.cond.notify_all()

    def judge(self, example: dict[str, Any], steps: list[dict[str, Any]]) -> dict[str, Any]:
        tried: set[int] = set()
        last: BackendUnavailable | None = None
        while (i := self._acquire(tried)) is not None:
            try:
                result = self.clients[i].judge(example, steps)
            except BackendUnavailable as exc:
                self._release(i, failed=True)
                tried.add(i)
                last = exc
                continue
            except BaseException:
                self._release(i, failed=False)
                raise
            self._release(i, failed=False)
            return result
        assert last is not None
        raise last

    def close(self) -> None:
        for c in self.clients:
            c.close()


def make_client(cfg: TeachConfig) -> TeacherClient | TeacherPool:
    """One client for one endpoint, a :class:`TeacherPool` for several (``cfg.endpoints``)."""
    if not cfg.endpoints:
        return TeacherClient(cfg)
    return TeacherPool([TeacherClient(parse_endpoint(spec, cfg)) for spec in cfg.endpoints])


def parse_judgement(text: str, n_steps: int) -> dict[str, Any]:
    """Validate the teacher's JSON; raises ValueError when it does not label every step."""
    obj = json.loads(text)
    labels = {}
    for s in obj.get("steps", []):
        if s.get("label") in ("good", "bad") and isinstance(s.get("index"), int) and 0 <= s["index"] < n_steps:
            labels.setdefault(s["index"], {"label": s["label"], "reason": str(s.get("reason", ""))[:500]})
    final = obj.get("final") or {}
    if len(labels) != n_steps or final.get("label") not in ("good", "bad"):
        raise ValueError(f"the judgement labels {len(labels)} of {n_steps} steps")
    return {"steps": [labels[i] for i in range(n_steps)],
            "final": {"label": final["label"], "reason": str(final.get("reason", ""))[:500]}}


def _slug(model: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model)


def prompt_hash() -> str:
    return hashlib.sha256((PROMPTS_DIR / PROMPT_TEMPLATE).read_bytes()
                          + json.dumps(JUDGEMENT_SCHEMA, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class TeachResult:
    path: Path
    judged: int
    skipped: int
    failed: int
    selected: int


def teach(dataset_dir: Path, cfg: TeachConfig, *, out: Path | None = None, progress: bool = True,
          client: TeacherClient | TeacherPool | None = None) -> TeachResult:
    dataset_dir = Path(dataset_dir)
    manifest = store.read_manifest(dataset_dir)
    agents = cfg.agents or sorted(manifest["agents"])
    selected: list[dict[str, Any]] = []
    for agent in agents:
        rows = store.load_dataset_split(dataset_dir, agent, "train")
        selected += hardest(rows, cfg.fraction)
    if cfg.limit is not None:
        selected = selected[:cfg.limit]
    root = Path(out) if out is not None else default_teacher_root()
    target = root / manifest["version"] / _slug(cfg.model)
    target.mkdir(parents=True, exist_ok=True)
    shard = target / "judgements-00000.jsonl"
    done: set[str] = set()
    if shard.is_file():
        for line in shard.read_text(encoding="utf-8").splitlines():
            if line.strip():
                try:
                    done.add(json.loads(line)["example_id"])
                except (json.JSONDecodeError, KeyError):
                    continue  # a torn last line from an interrupted run: judged again
    todo = [r for r in selected if r["id"] not in done]
    started = datetime.now(UTC).isoformat(timespec="seconds")
    own_client = client is None
    client = client or make_client(cfg)
    workers = client.capacity if isinstance(client, TeacherPool) else max(1, cfg.concurrency)
    lock = threading.Lock()
    failures: list[str] = []
    judged = 0
    phash = prompt_hash()

    def one(row: dict[str, Any]) -> None:
        nonlocal judged
        steps = trace_steps(row)
        try:
            try:
                j = client.judge(row, steps)
            except (ValueError, KeyError, json.JSONDecodeError):
                j = client.judge(row, steps)  # one more try for malformed output
        except (ValueError, KeyError, json.JSONDecodeError) as exc:
            with lock:
                failures.append(f"{row['id']}: unusable judgement ({exc})")
            return
        rec = {"id": hashlib.sha256(f"{row['id']}|{cfg.model}|{phash}".encode()).hexdigest()[:16],
               "example_id": row["id"], "agent": row["agent"], "strategy": row["strategy"],
               "difficulty": row["difficulty"], "messages": row["messages"],
               "steps": [{**s, **lab} for s, lab in zip(steps, j["steps"])], "final": j["final"],
               "teacher": {"model": cfg.model, "api": cfg.api, "prompt_hash": phash},
               "judged_at": datetime.now(UTC).isoformat(timespec="seconds")}
        with lock:
            with open(shard, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            judged += 1

    try:
        if progress and todo:
            from rich.progress import Progress

            with Progress() as bar:
                tid = bar.add_task(f"judging with {cfg.model}", total=len(todo))
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    for _ in pool.map(one, todo):
                        bar.advance(tid)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(one, todo))
    finally:
        if own_client:
            client.close()
        total = sum(1 for line in shard.read_text(encoding="utf-8").splitlines() if line.strip()) \
            if shard.is_file() else 0
        (target / "manifest.json").write_text(json.dumps({
            "kind": "process-reward", "dataset": manifest["version"], "dataset_dir": str(dataset_dir),
            "endpoint": cfg.endpoint, "api": cfg.api, "model": cfg.model, "prompt_template": PROMPT_TEMPLATE,
            **({"endpoints": [{"endpoint": c.cfg.endpoint, "rps": c.cfg.rps, "concurrency": c.cfg.concurrency,
                               "calls": n} for c, n in zip(client.clients, client.calls)]}
               if isinstance(client, TeacherPool) else {}),
            "prompt_hash": phash, "schema": JUDGEMENT_SCHEMA, "fraction": cfg.fraction,
            "selection": "hardest by difficulty per agent (train split)", "selected": len(selected),
            "judged_total": total, "failures": failures[-50:], "started_at": started,
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "shards": {shard.name: store.sha256_file(shard)} if shard.is_file() else {},
        }, indent=2), encoding="utf-8")
    return TeachResult(target, judged, len(selected) - len(todo), len(failures), len(selected))
