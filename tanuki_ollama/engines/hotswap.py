"""The hot-swap engine: ONE resident base GGUF, EVERY agent's LoRA GGUF loaded, the right adapter per request.

One ``llama-server`` (``engines/llamaserver.py``) holds the base and all LoRAs (``--lora a,b,... 
--lora-init-without-apply``). Each model name ("tanuki-micro-coder") maps to one adapter id (or to the base
alone); every request names the scale of every adapter explicitly, so switching agents costs nothing but the
request itself: no runner restart, no weight reload. Stock llama.cpp still re-reserved its whole compute
scheduler whenever the adapter set changed (5-8 ms per switch on the micro, more on bigger graphs); our build
carries a patch (``native/llama_cpp_patches/0001-lora-switch-without-reserve.patch``, applied by install.sh) that
only drops the reusable graphs, since the reserved sizes already count every loaded adapter. Together with
per-adapter slot affinity (each slot keeps the KV of the adapter that computed it, see ``FairScheduler``), a switch
to an agent whose prompt prefix is cached costs what a same-agent request costs.

Behaving like Ollama with ``ADAPTER`` (greedy outputs are equal, tested against a real ``ollama serve``):

- prompts are rendered the way Ollama renders the TEMPLATE (ChatML natively in Python, byte for byte like
  ``data/templates/chatml.gotmpl``; any other Go template, and every chat with tools, through ``ollama-render``,
  Ollama's own template package) and sent to ``/completion``, exactly as Ollama >= 0.30 drives llama-server;
- options merge Ollama's defaults <- the agent's Modelfile parameters <- the request's options, and map to the
  same llama-server fields Ollama sends (``top_k``, ``repeat_penalty``, ``stop``...);
- ``format="json"`` uses Ollama's JSON grammar; a schema goes to ``json_schema``;
- tool definitions go through the template; ``<tool_call>{...}</tool_call>`` in the answer become tool calls.

No KV leak across adapters (three guards, each sufficient for the cases it covers):
1. the scheduler pins each request to a server slot (``id_slot``), and the engine allows ``cache_prompt`` only on
   a slot whose cached prefix was computed under the same adapter set; otherwise the slot re-evaluates from 0;
2. llama-server itself clears a slot's cache when the adapter set of the next task differs;
3. the host-memory prompt cache (``--cache-ram``), which restores KV states by token prefix alone without
   looking at adapters, is disabled.

Prompt reuse (``prompt_cache=True`` or ``"exact"``, the default) is exact: a resumed prompt gives bit-identical
logits to a full evaluation (and so the same answers as Ollama, which runs the same llama-server build with ``--flash-attn auto
-ub 512``). Resuming alone is not: on CPU, llama.cpp picks kernels by the number of rows in a ubatch (flash
attention takes a tiled path from 64 query rows, llamafile sgemm, which the F16 LoRA tensors take, needs >= 2
rows, repacked weights go in 4-row groups) and they round differently; measured on the micro, re-evaluating
only the last 2-63 tokens of a 221-token prompt moved a top logprob by up to 0.19 (0.0 from 64 on), and the
previous version's reuse changed greedy answers. So the engine keeps, per slot, which prefix is *exact*
(computed in prompt batches, as a full run computes it) and resumes only that, only under the same adapter,
and only from a point where every remaining token meets the same kernels as in a full run (``_exact_suffix``).
After each request the slot is rewound to such a point of its prompt (one extra single-token evaluation of a
filler token that is never reused), so generated tokens, evaluated one at a time, are never resumed; when a new
prompt diverges at a point that is not exact, the slot is rewound to an earlier exact point first (from
``MIN_REUSE`` tokens on) or the prompt is evaluated in full. Slices of one generation always resume their own
KV (exact: the same single-token decodes as one pass). ``reuse_stats`` counts reused/full/rewinds.
The price is the re-evaluation of up to 64 tokens per request: nothing on the micro, but on the 3B shape on one
CPU thread it made a repeated prompt's time to first token 13 s instead of Ollama's 2.9 s. ``prompt_cache=
"prefix"`` trades exactness for that time, as Ollama does: it resumes the longest common prefix computed under
the same adapter (the scheduler's slot affinity keeps that guard) and re-evaluates from there, generated tokens
included (so a chat's next turn resumes its previous answer).

Concurrency (``FairScheduler``): one queue per agent; turns go round-robin between agents with waiting
requests. A turn grants up to ``parallel`` requests of one agent at once (they batch in llama-server's slots,
which batch only requests with the same adapters anyway); adapters switch only between turns. A long
generation is cut into slices of at most ``slice_tokens`` tokens: after each slice it goes back to the end of
its agent's queue and continues from its own tokens (same slot, KV reused when no other adapter ran there), so
no generation holds the engine for more than one slice while others wait. Known limit: when a slice ends inside
an incomplete UTF-8 sequence, the stream withholds those token ids, and the next slice continues without them. Grammar-constrained generations
(``format``) cannot be resumed mid-grammar and run as one slice, bounded by ``num_predict`` and the context.

Memory: ``running()`` reports the server process's real resident memory (psutil RSS; ``memory()`` adds USS/PSS
and the file sizes). mmap vs. no-mmap: see ``MMAP_NOTE``.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from ..errors import BackendUnavailable, CapabilityMissing, ConfigError, EngineError, ModelNotFound
from ..types import ChatChunk, ChatResult, Message, ModelDetails, ModelInfo, RunningModel, ToolCall, Usage
from .llamaserver import DOWN_HINT, LlamaServer

MMAP_NOTE = (
    "mmap (llama-server's default load mode) is the default. Measured with `tanuki bench switch` on b11434, micro "
    "model (Q4_1, which the CPU backend does not repack), 1 thread, 2 shared cores: RSS 216.7 MB with mmap vs "
    "216.6 MB with `--load-mode none`, first request 68-96 ms either way; an earlier run with 2 threads on busy "
    "cores saw `--load-mode none` 5-8x slower per request. For weights the CPU backend repacks (Q4_0/Q4_K/"
    "IQ4_NL: Q4_K_M bases, the 3B backbone) mmap keeps the mapped file pages resident next to the repacked copy "
    "(notes/gguf-pipeline.md section 10: 3.1 GB vs 1.83 GB RSS for a 1.8 GB 3B file), so pass mmap=False (Ollama "
    "itself runs llama-server with `--load-mode none` on CPU) where memory matters more than load time."
)

REUSE_MODES = ("exact", "prefix", "off")


def _reuse_mode(value: bool | str) -> str:
    """``prompt_cache``: True/"exact" (resume only bit-exact prefixes), "prefix" (resume the longest common prefix
    computed under the same adapter, re-evaluating >= 1 token: what Ollama does), False/"off" (always in full)."""
    mode = {True: "exact", False: "off"}.get(value, value) if isinstance(value, bool) else str(value)
    if mode not in REUSE_MODES:
        raise ConfigError(f"unknown prompt reuse mode {value!r}", hint="use exact, prefix or off")
    return mode


# Ollama's JSON grammar for format="json" (llm/llama_server.go, ollama v0.32.15, MIT), so that "json" behaves
# exactly as it does through Ollama.
GRAMMAR_JSON = r'''
root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws
object ::=
  "{" ws (
         string ":" ws value
    ("," ws string ":" ws value)*
  )? ws "}"
array  ::=
  "[" ws (
            value
    ("," ws value)*
  )? ws "]"
string ::=
  "\"" (
    [^"\\\x7F\x00-\x1F] |
    "\\" (["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F]) # escapes
  )* "\""
number ::= ("-"? ([0-9] | [1-9] [0-9]*)) ("." [0-9]+)? ([eE] [-+]? [0-9]+)?
# Optional space: by convention, applied in this grammar after literal chars when allowed
ws ::= ([ \t\n] ws)?
'''

# Ollama's api.DefaultOptions() (sampling part), the base every request starts from.
OLLAMA_DEFAULTS: dict[str, Any] = {
    "num_predict": -1, "num_keep": 4, "temperature": 0.8, "top_k": 40, "top_p": 0.9, "min_p": 0.0,
    "typical_p": 1.0, "repeat_last_n": 64, "repeat_penalty": 1.0, "presence_penalty": 0.0,
    "frequency_penalty": 0.0, "seed": -1,
}
# Ollama option name -> llama-server /completion field
_FIELDS = {"num_keep": "n_keep", "temperature": "temperature", "top_k": "top_k", "top_p": "top_p",
           "min_p": "min_p", "typical_p": "typical_p", "repeat_last_n": "repeat_last_n",
           "repeat_penalty": "repeat_penalty", "presence_penalty": "presence_penalty",
           "frequency_penalty": "frequency_penalty", "seed": "seed", "stop": "stop"}
_RUNNER_OPTIONS = {"num_ctx", "num_batch", "num_gpu", "main_gpu", "use_mmap", "num_thread", "low_vram"}
_OPEN_ENDED_MULTIPLIER = 4  # Ollama bounds num_predict=-1 by a few context windows; we bound by one slot's ctx
_TOOL_CALL = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.DOTALL)
_NO_ADAPTER = "<base>"
FA_TILE_Q = 64  # llama.cpp b11434 ggml-cpu: flash attention takes its tiled path from this many query rows
MIN_REUSE = 32  # tokens: below this, rewinding a slot first (one extra single-token evaluation) is not worth it


# ---------------------------------------------------------------------------------------------- agents
@dataclass(frozen=True)
class AgentModel:
    """One model name served by the engine: an adapter (or the base alone) plus its Modelfile-like settings."""

    name: str
    lora: Path | None = None
    system: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    template: str = "chatml"  # "chatml" (rendered natively) or an Ollama Go TEMPLATE (rendered by ollama-render)

    @classmethod
    def coerce(cls, name: str, value: AgentModel | Mapping[str, Any] | str | Path | None) -> AgentModel:
        if isinstance(value, AgentModel):
            return value
        if value is None or isinstance(value, (str, Path)):
            return cls(name=name, lora=Path(value) if value else None)
        data = dict(value)
        lora = data.pop("lora", None) or data.pop("adapter", None)
        return cls(name=name, lora=Path(lora) if lora else None, **data)


def _bare(name: str) -> str:
    return name.removesuffix(":latest")


def _ubatch_size(args: Sequence[str]) -> int:
    """llama-server's physical batch (``-ub``, default 512): prompts are evaluated in chunks of this size."""
    args = list(args)
    for flag in ("-ub", "--ubatch-size"):
        if flag in args and args.index(flag) + 1 < len(args):
            return int(args[args.index(flag) + 1])
    return 512


# ---------------------------------------------------------------------------------------------- rendering
def _go_json(value: Any) -> str:
    """What Go's json.Marshal writes for a map: sorted keys, compact, HTML characters escaped."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def collate(messages: Sequence[Mapping[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Ollama's ``template.collate``: join system messages for ``.System``, merge consecutive same-role turns."""
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for m in messages:
        if m["role"] == "system":
            system.append(m.get("content", ""))
        if out and out[-1]["role"] == m["role"] and m["role"] != "tool":
            out[-1] = {**out[-1], "content": out[-1].get("content", "") + "\n\n" + m.get("content", "")}
        else:
            out.append(dict(m))
    return "\n\n".join(system), out


def render_chatml(messages: Sequence[Mapping[str, Any]]) -> str:
    """``data/templates/chatml.gotmpl`` for chats without tools, byte for byte (checked against ollama-render)."""
    system, msgs = collate(messages)
    out: list[str] = []
    if system:
        out.append(f"<|im_start|>system\n{system}<|im_end|>\n")
    for i, m in enumerate(msgs):
        last = i == len(msgs) - 1
        role, content = m["role"], m.get("content", "")
        if role == "user":
            out.append(f"<|im_start|>user\n{content}<|im_end|>\n")
        elif role == "assistant":
            out.append("<|im_start|>assistant\n")
            if content:
                out.append(content)
            else:
                for call in m.get("tool_calls") or []:
                    fn = call.get("function", call)
                    out.append(f'<tool_call>\n{{"name": "{fn["name"]}", "arguments": '
                               f'{_go_json(fn.get("arguments") or {})}}}\n</tool_call>')
            if not last:
                out.append("<|im_end|>\n")
        elif role == "tool":
            out.append(f"<|im_start|>tool\n<tool_response>\n{content}\n</tool_response><|im_end|>\n")
        if role != "assistant" and last:
            out.append("<|im_start|>assistant\n")
    return "".join(out)


def render_with_ollama(template: str, messages: Sequence[Mapping[str, Any]],
                       tools: Sequence[Mapping[str, Any]] | None = None) -> str:
    """Render through Ollama's own template package (``ollama-render``), exactly what ``ollama serve`` sends."""
    from ..factory.modelfile import builtin_template
    from ..factory.template_parity import render_ollama

    if template == "chatml":
        template = builtin_template("chatml")
    return render_ollama(template, [dict(m) for m in messages], list(tools) if tools else None)


# ---------------------------------------------------------------------------------------------- scheduling
class _Ticket:
    __slots__ = ("adapter", "agent", "cache_ok", "granted", "prefer_slot", "slot")

    def __init__(self, agent: str, adapter: Any, prefer_slot: int | None):
        self.agent, self.adapter, self.prefer_slot = agent, adapter, prefer_slot
        self.slot: int = -1
        self.cache_ok = False
        self.granted = False


class FairScheduler:
    """Round-robin turns between agents' FIFO queues; up to ``parallel`` same-agent requests per turn.

    ``acquire`` blocks until the ticket is granted a free server slot and says whether that slot's cached
    prefix was computed under the same adapter (``cache_ok``). Adapters change only when no request is in flight.
    """

    def __init__(self, parallel: int = 1):
        self.parallel = max(1, int(parallel))
        self._cv = threading.Condition()
        self._queues: dict[str, deque[_Ticket]] = {}
        self._order: list[str] = []
        self._current: str | None = None
        self._turn_granted = 0
        self._in_flight = 0
        self._slot_adapter: list[Any] = [None] * self.parallel
        self._slot_busy = [False] * self.parallel
        self._slot_used = [0] * self.parallel
        self._slot_kept = [False] * self.parallel  # holds the KV of a generation suspended between slices
        self._clock = 0
        self.turns = 0
        self.adapter_switches = 0
        self._last_adapter: Any = None
        self.grant_log: deque[str] = deque(maxlen=1000)  # agent names in grant order (tests, diagnostics)

    def _next_agent(self) -> str | None:
        if not self._order:
            return None
        start = self._order.index(self._current) + 1 if self._current in self._order else 0
        n = len(self._order)
        for k in range(n):  # bounded by the number of agents ever seen
            agent = self._order[(start + k) % n]
            if self._queues.get(agent):
                return agent
        return None

    def _pick_slot(self, ticket: _Ticket) -> int:
        free = [i for i in range(self.parallel) if not self._slot_busy[i]]
        if ticket.prefer_slot in free and self._slot_adapter[ticket.prefer_slot] == ticket.adapter:
            return ticket.prefer_slot
        # leave a suspended generation's KV alone while another slot is free (its next slice resumes exactly)
        unkept = [i for i in free if not self._slot_kept[i]] or free
        same = [i for i in unkept if self._slot_adapter[i] == ticket.adapter]
        pool = same or unkept
        return min(pool, key=lambda i: self._slot_used[i])

    def _grant_locked(self) -> None:
        for _ in range(self.parallel + 2):  # each pass grants one ticket or returns
            if self._in_flight >= self.parallel:
                return
            cur = self._current
            if cur is not None and self._queues.get(cur) and self._turn_granted < self.parallel:
                ticket = self._queues[cur].popleft()
                slot = self._pick_slot(ticket)
                ticket.slot, ticket.cache_ok = slot, self._slot_adapter[slot] == ticket.adapter
                self._slot_adapter[slot], self._slot_busy[slot] = ticket.adapter, True
                self._slot_kept[slot] = False
                self._clock += 1
                self._slot_used[slot] = self._clock
                if self._last_adapter != ticket.adapter:
                    self.adapter_switches += 1
                    self._last_adapter = ticket.adapter
                self._in_flight += 1
                self._turn_granted += 1
                ticket.granted = True
                self.grant_log.append(ticket.agent)
                continue
            nxt = self._next_agent()
            if nxt is None:
                return
            if nxt != cur and self._in_flight > 0:
                return  # drain this agent's batch before the adapter changes
            if nxt == cur and self._turn_granted < self.parallel:
                return  # nothing queued for cur right now (handled above); wait
            self._current, self._turn_granted = nxt, 0
            self.turns += 1

    def acquire(self, agent: str, adapter: Any, *, prefer_slot: int | None = None,
                timeout: float = 600.0) -> _Ticket:
        ticket = _Ticket(agent, adapter, prefer_slot)
        deadline = time.monotonic() + timeout
        with self._cv:
            if agent not in self._queues:
                self._queues[agent] = deque()
                self._order.append(agent)
            self._queues[agent].append(ticket)
            while True:
                self._grant_locked()
                if ticket.granted:
                    if self._queues.get(agent) or any(self._queues.values()):
                        self._cv.notify_all()
                    return ticket
                left = deadline - time.monotonic()
                if left <= 0:
                    self._queues[agent].remove(ticket)
                    raise EngineError(f"request for {agent} waited {timeout:.0f}s in the engine's queue",
                                      hint="the engine is overloaded; raise the timeout or lower concurrency")
                self._cv.wait(min(left, 1.0))

    def release(self, ticket: _Ticket, *, keep: bool = False) -> None:
        """Free the ticket's slot; ``keep``: a suspended generation will resume there (spare its KV)."""
        with self._cv:
            if ticket.granted and self._slot_busy[ticket.slot]:
                self._slot_busy[ticket.slot] = False
                self._slot_kept[ticket.slot] = keep
                self._in_flight -= 1
                ticket.granted = False
            self._grant_locked()
            self._cv.notify_all()

    def waiting(self) -> dict[str, int]:
        with self._cv:
            return {a: len(q) for a, q in self._queues.items() if q}


# ---------------------------------------------------------------------------------------------- streaming helpers
class _StopFilter:
    """Holds back text that could be the start of a stop string, across slice boundaries."""

    def __init__(self, stops: Sequence[str]):
        self.stops = [s for s in stops if s]
        self.buf = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        if self.stopped:
            return ""
        self.buf += text
        cut = min((i for i in (self.buf.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            out, self.buf, self.stopped = self.buf[:cut], "", True
            return out
        hold = 0
        for s in self.stops:
            for k in range(min(len(s) - 1, len(self.buf)), 0, -1):
                if self.buf.endswith(s[:k]):
                    hold = max(hold, k)
                    break
        out = self.buf[: len(self.buf) - hold] if hold else self.buf
        self.buf = self.buf[len(out):]
        return out

    def flush(self) -> str:
        out, self.buf = ("" if self.stopped else self.buf), ""
        return out


def parse_tool_calls(text: str) -> tuple[str, list[ToolCall]]:
    """Split ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks out of an answer."""
    calls: list[ToolCall] = []
    for m in _TOOL_CALL.finditer(text):
        try:
            obj = json.loads(m.group(1))
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("name"), str):
            args = obj.get("arguments") or {}
            if isinstance(args, str):
                try:
                    args = json.loads(args)
                except json.JSONDecodeError:
                    args = {"value": args}
            calls.append(ToolCall(name=obj["name"], arguments=args if isinstance(args, dict) else {}))
    if not calls:
        return text, []
    return _TOOL_CALL.sub("", text).strip(), calls


@dataclass
class _Gen:
    """Accumulated state of one request across slices."""

    text: str = ""
    tokens: list[int] = field(default_factory=list)
    prompt_tokens: int = 0
    done_reason: str = "stop"
    slices: int = 0
    hidden_tokens: int = 0  # generated, but withheld by the stream (incomplete UTF-8 at a slice's end)
    first_token_s: float | None = None


@dataclass
class _SlotKV:
    """What one llama-server slot holds, as far as this engine knows: the adapter that computed it, every token
    in it, and the prefix whose KV is *exact* (computed in prompt batches of >= 2 tokens, as a full evaluation
    computes it), as opposed to tokens evaluated one at a time (generated tokens, the rewind filler)."""

    adapter: Any
    tokens: list[int]
    exact: list[int]


def _lcp(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):  # bounded by the shorter list
        if a[i] != b[i]:
            return i
    return n


# ---------------------------------------------------------------------------------------------- family manifests
MANIFEST_FORMAT = 1
REGISTER_HINT = "run `tanuki factory register --strategy engine` (or `tanuki factory build --strategy engine`)"


def family_manifest_path(family: str, home: Path | None = None) -> Path:
    """``$TANUKI_HOME/engines/<family>.json``: what the ``engine`` registration strategy writes."""
    from ..settings import Settings

    name = family.rstrip("-")
    if not name or "/" in name or name.startswith("."):
        raise ConfigError(f"bad family name {family!r}", hint="use the family's prefix, e.g. tanuki-micro")
    return (home or Settings.from_env().home) / "engines" / f"{name}.json"


def registered_families(home: Path | None = None) -> list[str]:
    root = family_manifest_path("x", home).parent
    return sorted(p.stem for p in root.glob("*.json")) if root.is_dir() else []


def load_family_manifest(family: str, home: Path | None = None) -> dict[str, Any]:
    """The manifest of a family registered for this engine; a clear error when there is none (or it is stale)."""
    path = family_manifest_path(family, home)
    if not path.is_file():
        known = registered_families(home)
        raise ModelNotFound(f"the family {family!r} is not registered for the hot-swap engine (no {path})",
                            hint=REGISTER_HINT + (f"; registered: {', '.join(known)}" if known else ""))
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"unreadable engine manifest {path}: {exc}", hint=REGISTER_HINT) from exc
    if data.get("format") != MANIFEST_FORMAT or not isinstance(data.get("agents"), dict) or not data["agents"]:
        raise ConfigError(f"engine manifest {path} has an unknown format or no agents", hint=REGISTER_HINT)
    missing = [str(p) for p in [data.get("base", "")] + [a.get("lora") for a in data["agents"].values()]
               if p is not None and not Path(p).is_file()]
    if missing:
        raise ConfigError(f"engine manifest {path} names files that are gone: {', '.join(missing)}",
                          hint="rebuild the family: " + REGISTER_HINT)
    return data


def write_family_manifest(family: str, *, base: Path, agents: Mapping[str, AgentModel], ctx: int,
                          extra: Mapping[str, Any] | None = None, home: Path | None = None) -> Path:
    """Write (atomically) the manifest ``HotSwapEngine.from_family`` starts from."""
    from ..factory.modelfile import builtin_template

    chatml = builtin_template("chatml")
    path = family_manifest_path(family, home)
    data = {"format": MANIFEST_FORMAT, "family": family.rstrip("-"), "base": str(Path(base).resolve()), "ctx": ctx,
            **dict(extra or {}),
            "agents": {name: {"lora": str(Path(a.lora).resolve()) if a.lora else None, "system": a.system,
                              "parameters": dict(a.parameters or {}),
                              "template": "chatml" if a.template in ("chatml", chatml) else a.template}
                       for name, a in agents.items()}}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)
    return path


# ---------------------------------------------------------------------------------------------- the engine
class HotSwapEngine:
    """Engine protocol over one llama-server holding one base GGUF and every agent's LoRA.

    ``agents`` maps model names to an :class:`AgentModel`, a mapping with ``lora``/``system``/``parameters``/
    ``template``, or just a LoRA path (``None`` = the base alone).
    """

    name = "hotswap"

    def __init__(self, base: Path | str | None = None, agents: Mapping[str, Any] | Sequence[AgentModel] | None = None,
                 *, family: str | None = None, ctx: int | None = None, parallel: int = 2, threads: int | None = None,
                 mmap: bool = True, repack: bool = True, slice_tokens: int = 128, prompt_cache: bool | str = True,
                 timeout: float = 600.0, log_path: Path | None = None, start: bool = True,
                 server: LlamaServer | None = None, extra_args: Sequence[str] = ()):
        """``family``: start from the manifest the ``engine`` registration strategy wrote
        (``$TANUKI_HOME/engines/<family>.json``) instead of ``base`` and ``agents``."""
        if family is not None:
            manifest = load_family_manifest(family)
            base = base or manifest["base"]
            agents = agents or {name: AgentModel.coerce(name, spec) for name, spec in manifest["agents"].items()}
            ctx = ctx or int(manifest.get("ctx") or 4096)
            self.family: str | None = manifest["family"]
        else:
            self.family = None
        if base is None or agents is None:
            raise ConfigError("the hot-swap engine needs a base GGUF and agents, or a registered family",
                              hint="pass family=NAME (" + REGISTER_HINT + ")")
        ctx = ctx or 4096
        self.base = Path(base)
        items = agents.items() if isinstance(agents, Mapping) else ((a.name, a) for a in agents)
        self.agents: dict[str, AgentModel] = {}
        for name, spec in items:
            agent = AgentModel.coerce(_bare(name), spec)
            self.agents[_bare(agent.name) if agent.name else _bare(name)] = agent
        if not self.agents:
            raise ConfigError("the hot-swap engine needs at least one agent",
                              hint="register a family for it with `tanuki register --strategy engine`")
        self.loras: list[Path] = []
        self._adapter: dict[str, int | None] = {}
        for name, agent in self.agents.items():
            if agent.lora is None:
                self._adapter[name] = None
                continue
            path = Path(agent.lora).resolve()
            if not path.is_file():
                raise ConfigError(f"the LoRA of {name} does not exist: {path}",
                                  hint="re-export the family (`tanuki factory build --strategy engine`)")
            if path not in self.loras:
                self.loras.append(path)
            self._adapter[name] = self.loras.index(path)
        self.ctx, self.parallel, self.slice_tokens, self.timeout = ctx, max(1, parallel), slice_tokens, timeout
        # None: llama-server's own default (the physical cores), which is what Ollama runs it with; the thread
        # count changes how flash attention splits prompts of >= 64 tokens, and so the last bits of the logits
        self.threads = threads
        self.mmap, self.repack = mmap, repack
        self.reuse_mode = _reuse_mode(prompt_cache)
        args = list(extra_args) + ([] if repack else ["--no-repack"])
        self.server = server or LlamaServer(self.base, self.loras, ctx=ctx, threads=self.threads, mmap=mmap,
                                            log_path=log_path, parallel=self.parallel, cache_ram_mib=0,
                                            extra_args=args)
        self.scheduler = FairScheduler(self.parallel)
        self._slots: dict[int, _SlotKV] = {}  # touched only by the holder of that slot's scheduler ticket
        self.ubatch = _ubatch_size(extra_args)
        self._align = 4 if repack else 1  # repacked CPU kernels handle src1 rows in groups of 4 (gemm) + gemv
        self.reuse_stats = {"reused": 0, "full": 0, "rewinds": 0}
        self._started = False
        self._lock = threading.Lock()
        self._loaded_at: float | None = None
        if start:
            self.start()

    @classmethod
    def from_family(cls, family: str, **kwargs: Any) -> HotSwapEngine:
        """The engine for a family registered with ``--strategy engine`` (also ``create_engine("hotswap",
        family=...)``)."""
        return cls(family=family, **kwargs)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> HotSwapEngine:
        with self._lock:
            if not self._started:
                if self.server.process is None or self.server.process.poll() is not None:
                    self.server.start(timeout=self.timeout)
                self._started = True
                self._loaded_at = time.time()
        return self

    def close(self) -> None:
        with self._lock:
            self.server.stop()
            self._started = False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ names, options, prompts
    def agent(self, model: str) -> AgentModel:
        agent = self.agents.get(_bare(model))
        if agent is None:
            raise ModelNotFound(f"the hot-swap engine has no model {model!r}",
                                hint=f"known: {', '.join(sorted(self.agents))}")
        return agent

    def adapter_id(self, model: str) -> int | None:
        """The llama-server adapter id ``model`` runs with (None: the base alone)."""
        return self._adapter[self.agent(model).name]

    def _merged_options(self, agent: AgentModel, options: Mapping[str, Any] | None) -> dict[str, Any]:
        merged = dict(OLLAMA_DEFAULTS)
        merged.update(agent.parameters or {})
        merged.update(options or {})
        num_ctx = int(merged.get("num_ctx") or self.ctx)
        if num_ctx > self.ctx:
            raise ConfigError(f"{agent.name} asks for num_ctx={num_ctx}, but the engine's slots hold {self.ctx}",
                              hint="start the hot-swap engine with a larger ctx")
        return merged

    def _payload(self, agent: AgentModel, opts: Mapping[str, Any], fmt: str | Mapping[str, Any] | None) -> dict:
        payload: dict[str, Any] = {}
        for key, target in _FIELDS.items():
            if key in opts and opts[key] is not None:
                value = opts[key]
                payload[target] = [value] if key == "stop" and isinstance(value, str) else value
        if fmt:
            if fmt == "json":
                payload["grammar"] = GRAMMAR_JSON
            elif isinstance(fmt, Mapping):
                payload["json_schema"] = dict(fmt)
            else:
                raise EngineError(f"invalid format {fmt!r}; expected \"json\" or a JSON schema object",
                                  hint='pass format="json" or a JSON schema dict')
        return payload

    def _messages(self, agent: AgentModel, messages: Sequence[Message | Mapping[str, Any]]) -> list[dict]:
        wire = [m.to_wire() if isinstance(m, Message) else dict(m) for m in messages]
        if agent.system and (not wire or wire[0]["role"] != "system"):
            wire.insert(0, {"role": "system", "content": agent.system})
        return wire

    def render(self, model: str, messages: Sequence[Message | Mapping[str, Any]],
               tools: Sequence[Mapping[str, Any]] | None = None) -> str:
        """The exact prompt text ``model`` sees for this chat (the Modelfile SYSTEM added as Ollama adds it)."""
        agent = self.agent(model)
        wire = self._messages(agent, messages)
        if agent.template == "chatml" and not tools:
            return render_chatml(wire)
        return render_with_ollama(agent.template, wire, tools)

    # ------------------------------------------------------------------ the generation core
    def _row_kinds(self, start: int, n: int) -> list[tuple[str, bool]]:
        """For each prompt token from ``start`` to ``n``, which CPU kernels evaluate it when llama-server
        evaluates ``[start, n)`` in ubatches of ``self.ubatch`` rows (see ``_exact_suffix``)."""
        kinds: list[tuple[str, bool]] = []
        for b in range(start, n, self.ubatch):  # bounded by n / ubatch
            rows = min(self.ubatch, n - b)
            kind = "tiled" if rows >= FA_TILE_Q else "rows" if rows >= 2 else "single"
            full_groups = rows - rows % 4 if self._align > 1 else rows
            kinds += [(kind, i < full_groups) for i in range(rows)]
        return kinds

    def _exact_suffix(self, n: int, n_past: int) -> bool:
        """Would evaluating tokens ``[n_past, n)`` on top of an exact prefix give bit-identical results to
        evaluating all ``n`` at once? Only if every token is computed by the same CPU kernels both ways: llama.cpp
        picks them by the number of rows in a ubatch (flash attention tiles >= 64 query rows; llamafile sgemm,
        which the F16 LoRA tensors take, needs >= 2; repacked weights go in 4-row groups) and they round
        differently."""
        if n_past <= 0 or n_past >= n or n_past % self._align:
            return False
        return self._row_kinds(n_past, n) == self._row_kinds(0, n)[n_past:]

    def _exact_resume_point(self, n: int, limit: int) -> int:
        """The largest ``r <= limit`` from which ``n`` prompt tokens resume exactly (0: none)."""
        u, a = self.ubatch, self._align
        candidates = {limit, n - 2, n - FA_TILE_Q, ((n - 1) // u) * u, ((n - FA_TILE_Q) // u) * u}
        for r in sorted({(c // a) * a for c in candidates if 0 < c <= limit}, reverse=True):  # <= 5 candidates
            if self._exact_suffix(n, r):
                return r
        return 0

    def _prepare_reuse(self, slot: int, adapter: Any, ids: list[int]) -> bool:
        """May this request resume the slot's cached prefix, bit-exactly? Only a prefix computed under the same
        adapter, only its exact part, and only from a point where the rest is evaluated by the same kernels as
        in a full run. When llama-server would resume elsewhere, the slot is first rewound to such a point
        (worth it from ``MIN_REUSE`` tokens on); otherwise the request is evaluated in full."""
        kv = self._slots.get(slot)
        if kv is None or kv.adapter != adapter or not kv.exact:
            return False
        n = len(ids)
        n_past = min(_lcp(ids, kv.tokens), n - 1)  # what llama-server would keep (it re-evaluates >= 1 token)
        if n_past <= len(kv.exact) and self._exact_suffix(n, n_past):
            return True
        r = self._exact_resume_point(n, min(n_past, len(kv.exact)))
        if r < MIN_REUSE:
            return False
        self._rewind(slot, adapter, ids, r)
        return True

    def _rewind(self, slot: int, adapter: Any, ids: list[int], r: int) -> None:
        """Trim the slot's cache to ``ids[:r]`` (an exact prefix). llama-server keeps the longest common prefix,
        so it evaluates ``ids[:r] + [filler]`` with a filler token that differs from ``ids[r]``: one single-token
        evaluation (and the token it samples), never reused since every later prompt is checked against it."""
        filler = 0 if ids[r] != 0 else 1
        res = self.server.post("/completion", {"prompt": ids[:r] + [filler], "n_predict": 0, "id_slot": slot,
                                               "cache_prompt": True, "return_tokens": True, "temperature": 0,
                                               "lora": self.server.lora_scales(adapter)})
        self._slots[slot] = _SlotKV(adapter, ids[:r] + [filler] + list(res.get("tokens") or []), ids[:r])
        self.reuse_stats["rewinds"] += 1

    def _after_request(self, slot: int, adapter: Any, ids: list[int]) -> None:
        """Leave the slot holding an exact prefix of the prompt it just ran, resumable by the same prompt (or one
        sharing it); generated tokens were evaluated one at a time and are never kept for reuse."""
        r = self._exact_resume_point(len(ids), len(ids) - 2)
        if r >= 1:
            self._rewind(slot, adapter, ids, r)

    def _run(self, agent: AgentModel, prompt: str, opts: Mapping[str, Any], fmt: Any,
             state: _Gen) -> Iterator[str]:
        """Generate in slices through the fair scheduler; yields text pieces (stop strings held back)."""
        adapter = self._adapter[agent.name]
        base_payload = self._payload(agent, opts, fmt)
        stops = list(base_payload.get("stop") or [])
        filt = _StopFilter(stops)
        num_predict = int(opts.get("num_predict", -1) if opts.get("num_predict") is not None else -1)
        budget = self.ctx if num_predict < 0 else min(num_predict, _OPEN_ENDED_MULTIPLIER * self.ctx)
        sliced = self.slice_tokens > 0 and not fmt
        per_slice = min(budget, self.slice_tokens) if sliced else budget
        max_slices = math.ceil(budget / max(per_slice, 1)) + 1 if budget > 0 else 1
        prompt_ids: list[int] | None = None
        slot: int | None = None
        t0 = time.perf_counter()
        remaining = budget
        for _ in range(max_slices):  # bounded: every slice consumes >= 1 token of the budget or ends
            if budget > 0 and remaining <= 0:
                state.done_reason = "length"
                break
            n = min(per_slice, remaining) if budget > 0 else 0
            if prompt_ids is None and (state.tokens or self.reuse_mode != "off"):
                # llama-server tokenizes a string prompt with add_special and parse_special on
                prompt_ids = self.server.tokenize(prompt, special=True, add_special=True)
            payload = {**base_payload, "prompt": prompt_ids + state.tokens if prompt_ids is not None else prompt,
                       "n_predict": n, "return_tokens": True, "lora": self.server.lora_scales(adapter)}
            if opts.get("temperature") == 0:
                payload.setdefault("top_k", 1)
            ticket = self.scheduler.acquire(agent.name, adapter, prefer_slot=slot, timeout=self.timeout)
            stop_type = "limit"
            got = 0
            more = False
            try:
                if state.tokens:
                    # a continuation slice resumes its own KV when its slot still holds it (same adapter, nothing
                    # ran in between): the same single-token decodes as one pass
                    reuse = ticket.cache_ok and ticket.slot == slot
                else:
                    reuse = (ticket.cache_ok if self.reuse_mode == "prefix" else
                             self.reuse_mode == "exact" and ticket.cache_ok and prompt_ids is not None
                             and self._prepare_reuse(ticket.slot, adapter, prompt_ids))
                    self.reuse_stats["reused" if reuse else "full"] += 1
                self._slots.pop(ticket.slot, None)  # unknown until this request has finished cleanly
                payload.update(id_slot=ticket.slot, cache_prompt=reuse)
                for event in self.server.stream("/completion", payload):
                    toks = event.get("tokens") or []
                    got += len(toks)
                    state.tokens.extend(toks)
                    piece = event.get("content", "")
                    if piece and state.first_token_s is None:
                        state.first_token_s = time.perf_counter() - t0
                    if piece:
                        state.text += piece
                        out = filt.feed(piece)
                        if out:
                            yield out
                    if event.get("stop"):
                        stop_type = event.get("stop_type") or "limit"
                        if not state.prompt_tokens:
                            state.prompt_tokens = int(event.get("tokens_evaluated") or 0)
                        # a stream withholds the ids (and text) of a trailing incomplete UTF-8 sequence and
                        # drops them at the end, as Ollama's stream does: count what was really generated
                        predicted = int(event.get("tokens_predicted") or 0)
                        state.hidden_tokens += max(0, predicted - got)
                        got = max(got, predicted)
                        break
                more = stop_type == "limit" and got > 0 and not filt.stopped and (budget <= 0 or remaining > got)
                if not more and self.reuse_mode == "exact" and prompt_ids is not None:
                    self._after_request(ticket.slot, adapter, prompt_ids)
            finally:
                self.scheduler.release(ticket, keep=more)
            slot = ticket.slot
            state.slices += 1
            remaining -= max(got, 1)
            if filt.stopped or stop_type in ("eos", "word"):
                state.done_reason = "stop"
                break
            if budget > 0 and remaining <= 0:
                state.done_reason = "length"
                break
            if got == 0:
                state.done_reason = "stop"
                break
        tail = filt.flush()
        if tail:
            yield tail

    def _complete(self, model: str, prompt: str, fmt: Any, options: Mapping[str, Any] | None,
                  tools: Sequence[Mapping[str, Any]] | None, stream: bool) -> Iterator[ChatChunk]:
        self.start()
        agent = self.agent(model)
        opts = self._merged_options(agent, options)
        state = _Gen()
        t0 = time.perf_counter()
        buf = ""  # text not yet yielded: everything (not streaming), or a possible tool call (streaming)
        in_call = False
        for piece in self._run(agent, prompt, opts, fmt, state):
            buf += piece
            if not stream or in_call:
                continue
            if tools:
                at = buf.find("<tool_call>")
                if at >= 0:  # from here on the answer is assembled and parsed at the end
                    in_call = True
                    out, buf = buf[:at], buf[at:]
                else:
                    lt = buf.rfind("<")
                    keep = lt >= 0 and "<tool_call>".startswith(buf[lt:])
                    out, buf = (buf[:lt], buf[lt:]) if keep else (buf, "")
            else:
                out, buf = buf, ""
            if out:
                yield ChatChunk(model=model, content=out)
        text = buf
        calls: list[ToolCall] = []
        if tools:
            text, calls = parse_tool_calls(text)
        usage = Usage(prompt_tokens=state.prompt_tokens, completion_tokens=len(state.tokens) + state.hidden_tokens,
                      total_duration_s=time.perf_counter() - t0)
        if stream:
            if text:
                yield ChatChunk(model=model, content=text)
            yield ChatChunk(model=model, tool_calls=calls, done=True, done_reason=state.done_reason, usage=usage)
        else:
            yield ChatChunk(model=model, content=text, tool_calls=calls, done=True, done_reason=state.done_reason,
                            usage=usage)

    # ------------------------------------------------------------------ Engine protocol
    def chat(self, model: str, messages: Sequence[Message], *, tools: Sequence[dict[str, Any]] | None = None,
             format: str | dict[str, Any] | None = None, options: dict[str, Any] | None = None,
             keep_alive: str | int | None = None) -> ChatResult:
        prompt = self.render(model, messages, tools)
        last = None
        for last in self._complete(model, prompt, format, options, tools, stream=False):
            pass
        assert last is not None
        message = Message(role="assistant", content=last.content, tool_calls=last.tool_calls)
        return ChatResult(model=model, message=message, done_reason=last.done_reason, usage=last.usage or Usage())

    def chat_stream(self, model: str, messages: Sequence[Message], *, tools: Sequence[dict[str, Any]] | None = None,
                    format: str | dict[str, Any] | None = None, options: dict[str, Any] | None = None,
                    keep_alive: str | int | None = None) -> Iterator[ChatChunk]:
        prompt = self.render(model, messages, tools)
        yield from self._complete(model, prompt, format, options, tools, stream=True)

    def generate(self, model: str, prompt: str, *, system: str | None = None, suffix: str | None = None,
                 raw: bool = False, format: str | dict[str, Any] | None = None,
                 options: dict[str, Any] | None = None, keep_alive: str | int | None = None) -> ChatResult:
        agent = self.agent(model)
        if suffix:
            raise CapabilityMissing(f"{model} does not support insert (its template has no .Suffix)",
                                    hint="use a model whose template handles .Suffix (FIM), or chat")
        if not raw:
            msgs: list[dict[str, Any]] = []
            sys_text = system if system is not None else agent.system
            if sys_text:
                msgs.append({"role": "system", "content": sys_text})
            msgs.append({"role": "user", "content": prompt})
            prompt = (render_chatml(msgs) if agent.template == "chatml"
                      else render_with_ollama(agent.template, msgs))
        last = None
        for last in self._complete(model, prompt, format, options, None, stream=False):
            pass
        assert last is not None
        return ChatResult(model=model, message=Message(role="assistant", content=last.content),
                          done_reason=last.done_reason, usage=last.usage or Usage())

    def count_tokens(self, model: str, text: str) -> int:
        """Tokens of ``text`` as a prompt (llama-server ``/tokenize``, special tokens parsed, BOS when the
        model adds one: what Ollama's prompt_eval_count reports for the same raw prompt)."""
        self.agent(model)
        self.start()
        return len(self.server.tokenize(text, special=True, add_special=True))

    def list_models(self) -> list[ModelInfo]:
        out = []
        for name, agent in self.agents.items():
            size = self.base.stat().st_size + (Path(agent.lora).stat().st_size if agent.lora else 0)
            out.append(ModelInfo(name=name, size_bytes=size, family="hotswap"))
        return out

    def show(self, model: str) -> ModelDetails:
        from ..factory.gguf import inspect_gguf

        agent = self.agent(model)
        info = inspect_gguf(self.base)
        caps = ["completion"] + (["tools"] if agent.template == "chatml" or ".Tools" in agent.template else [])
        template = agent.template
        if template == "chatml":
            from ..factory.modelfile import builtin_template

            template = builtin_template("chatml")
        return ModelDetails(name=model, capabilities=caps, context_length=self.ctx, architecture=info.architecture,
                            template=template, system=agent.system or "", parameters=dict(agent.parameters or {}),
                            adapters=[str(agent.lora)] if agent.lora else [])

    def memory(self) -> dict[str, Any]:
        """Real memory of the one resident process, and what is on disk (base, adapters)."""
        mem = self.server.memory()
        return {**mem, "base_file_bytes": self.base.stat().st_size,
                "lora_file_bytes": sum(p.stat().st_size for p in self.loras), "n_loras": len(self.loras),
                "mmap": self.mmap, "repack": self.repack}

    def running(self) -> list[RunningModel]:
        """Every agent is resident while the server runs. ``size_bytes`` is the ONE shared process's RSS (the
        same number on every entry: do not add them up)."""
        if not self._started or self.server.process is None or self.server.process.poll() is not None:
            return []
        rss = self.server.memory()["rss"]
        return [RunningModel(name=name, size_bytes=rss, size_vram_bytes=0, context_length=self.ctx)
                for name in self.agents]

    def load(self, model: str, *, keep_alive: str | int | None = None,
             options: dict[str, Any] | None = None) -> None:
        """Every agent is loaded with the server: this checks the name and starts the server if needed."""
        agent = self.agent(model)
        self._merged_options(agent, options)
        self.start()

    def unload(self, model: str) -> None:
        """Adapters stay loaded (they cost a few MB each); only ``close()`` frees the base."""
        self.agent(model)

    def version(self) -> str:
        self.start()
        try:
            props = self.server.client.get("/props", timeout=10).json()
        except Exception as exc:
            raise BackendUnavailable(f"llama-server at {self.server.url} did not answer /props: {exc}",
                                     hint=DOWN_HINT) from exc
        return f"hotswap/llama-server {props.get('build_info', '')}".strip()
