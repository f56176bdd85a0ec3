"""One command from code to a registered agent family: synth -> base GGUF -> train -> export -> parity -> register.

Each stage records its time and result in ``<family dir>/family.json`` and is skipped when its outputs exist, so
an interrupted build resumes where it stopped. A failed parity check stops the build with its report.
"""

from __future__ import annotations

import errno
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DiskFull, TanukiError
from ..settings import Settings
from .backbones import Backbone, resolve_backbone
from .export import merge_lora
from .gguf import convert_hf_to_gguf, convert_lora_to_gguf, inspect_gguf, quantize
from .parity import F16, QUANTIZED, check_family_parity
from .recipe import Recipe
from .register import AgentArtifact, choose_strategy, register_family
from .template_parity import check_template_parity
from .train import train_adapter


class ParityFailed(TanukiError):
    """An export does not reproduce its source model within the stated tolerances."""


@dataclass
class FamilyPlan:
    name: str
    backbone: str
    recipe: Recipe
    agents: list[str]
    per_agent: int | None = None
    dataset: Path | None = None
    sources: list[str] = field(default_factory=list)
    strategy: str | None = None
    root: Path | None = None
    register: bool = True
    train_backbone: bool = False
    seed: int = 0
    launch: Any = None  # distributed.Launch: train in N data-parallel processes (accelerate)

    @property
    def dir(self) -> Path:
        return self.root or Settings.from_env().home / "families" / self.name


class Family:
    def __init__(self, plan: FamilyPlan, *, engine=None, console=None):
        self.plan, self.engine, self.console = plan, engine, console
        self.dir = plan.dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.manifest_path = self.dir / "family.json"
        self.manifest: dict[str, Any] = (json.loads(self.manifest_path.read_text())
                                         if self.manifest_path.is_file() else {"stages": {}})
        self.manifest.update(name=plan.name, backbone=plan.backbone, recipe=plan.recipe.model_dump(),
                             agents=plan.agents)

    # ------------------------------------------------------------------ bookkeeping
    def _say(self, text: str) -> None:
        if self.console is not None:
            self.console.print(text)

    def _stage(self, name: str, fn, *args, **kwargs):
        self._say(f"[bold cyan]==> {name}[/]")
        t = time.monotonic()
        hint = f"free space under {self.dir} and rerun the same command: finished stages are kept and this one resumes"
        try:
            result = fn(*args, **kwargs)
        except DiskFull as exc:
            raise DiskFull(f"the disk filled up during `{name}`: {exc.message}", hint=hint) from exc
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise DiskFull(f"the disk filled up during `{name}` ({exc.filename or self.dir})", hint=hint) from exc
            raise
        seconds = time.monotonic() - t
        self.manifest["stages"][name] = {"seconds": round(seconds, 2), "result": result}
        self.manifest_path.write_text(json.dumps(self.manifest, indent=2, default=str))
        self._say(f"    {name}: {seconds:.1f}s")
        return result

    # ------------------------------------------------------------------ stages
    def synth(self) -> dict:
        from .data import load_dataset_split  # noqa: F401  (the format this pipeline consumes)
        from .data.synth import SynthConfig, synthesize

        if self.plan.dataset:
            return {"dataset": str(self.plan.dataset), "reused": True}
        cfg = SynthConfig(agents=self.plan.agents, per_agent=self.plan.per_agent, sources=self.plan.sources,
                          seed=self.plan.seed)
        res = synthesize(cfg, out=self.dir / "datasets", progress=self.console is not None)
        self.plan.dataset = res.path
        return {"dataset": str(res.path), "version": res.version, "counts": res.counts, "reused": res.reused}

    def base(self, backbone: Backbone) -> dict:
        """The family's base GGUF (the micro ships one; others are converted here) and its template parity."""
        out: dict[str, Any] = {}
        if backbone.gguf is not None:
            out["gguf"] = str(backbone.gguf)
        else:
            f16, q4 = self.dir / "base-f16.gguf", self.dir / "base-Q4_K_M.gguf"
            if not f16.is_file():
                convert_hf_to_gguf(backbone.hf_dir, f16)
            if not q4.is_file():
                quantize(f16, q4, "Q4_K_M")
            out.update(gguf=str(q4), f16=str(f16))
        info = inspect_gguf(Path(out.get("f16", out["gguf"])))
        report = check_template_parity(backbone.template, info.chat_template or "",
                                       default_system=backbone.default_system,
                                       bos_token="", eos_token="")
        out["template_parity"] = report.summary()
        if not report.ok:
            raise ParityFailed(report.summary(), hint="fix the TEMPLATE of this backbone (data/templates/)")
        return out

    def train(self, backbone: Backbone) -> dict:
        from ..agents.roster import load_roster
        from .data import load_dataset_split

        roster = load_roster()
        results = {}
        for name in self.plan.agents:
            agent = roster.get(name)
            run = self.dir / "runs" / agent.name
            if (run / "DONE").is_file():
                results[agent.name] = json.loads((run / "DONE").read_text()) | {"skipped": True}
                continue
            train_rows = load_dataset_split(self.plan.dataset, agent.name, "train")
            eval_rows = load_dataset_split(self.plan.dataset, agent.name, "eval")
            rep = train_adapter(backbone=backbone, recipe=self.plan.recipe, agent=agent, train_rows=train_rows,
                                eval_rows=eval_rows, out_dir=run, console=self.console, launch=self.plan.launch)
            results[agent.name] = {"eval_loss_base": rep.eval_loss_base, "eval_loss_adapter": rep.eval_loss_adapter,
                                   "seconds": round(rep.seconds, 1), "tokens_per_second": round(rep.tokens_per_second, 1)}
        return results

    def export(self, backbone: Backbone) -> dict:
        from ..agents.roster import load_roster

        roster = load_roster()
        out = {}
        for name in self.plan.agents:
            agent = roster.get(name)
            gguf = self.dir / "loras" / f"{agent.name}.gguf"
            if not gguf.is_file():
                convert_lora_to_gguf(self.dir / "runs" / agent.name / "adapter", backbone.hf_dir, gguf)
            out[agent.name] = str(gguf)
        return out

    def parity(self, backbone: Backbone, base: dict, loras: dict) -> dict:
        from ..agents.roster import load_roster

        roster = load_roster()
        adapters = {roster.get(n).name: (self.dir / "runs" / roster.get(n).name / "adapter",
                                         Path(loras[roster.get(n).name])) for n in self.plan.agents}
        exact = "f16" in base
        gguf = Path(base["f16"] if exact else base["gguf"])
        results = check_family_parity(backbone.hf_dir, gguf, adapters, F16 if exact else QUANTIZED,
                                      log_path=self.dir / "parity-llama-server.log")
        report = {k: v.as_dict() for k, v in results.items()}
        (self.dir / "parity.json").write_text(json.dumps(report, indent=2))
        failed = [k for k, v in results.items() if not v.passed]
        if failed:
            raise ParityFailed(
                f"parity failed for {', '.join(failed)} (report: {self.dir / 'parity.json'})",
                hint="an export that does not reproduce its model is not registered; check the converter version "
                "and the adapter's base",
            )
        return {k: {"max_logprob_diff": round(v.max_logprob_diff, 6), "max_prob_diff": round(v.max_prob_diff, 6),
                    "token_agreement": round(v.greedy_agreement, 3)}
                for k, v in results.items()}

    def register(self, backbone: Backbone, base: dict, loras: dict) -> dict:
        from ..agents.prompts import render_system_prompt
        from ..agents.roster import load_roster

        roster = load_roster()
        base_gguf = Path(base["gguf"])
        first = Path(next(iter(loras.values()))) if loras else None
        strategy, why = choose_strategy(self.engine, base_gguf, first, self.plan.strategy)
        self._say(f"    strategy: {strategy} ({why})")
        arts = [AgentArtifact(roster.get(n), lora_gguf=Path(loras[roster.get(n).name])) for n in self.plan.agents]
        if strategy == "merged":
            arts = [AgentArtifact(a.agent, merged_gguf=self._merged(backbone, a.agent)) for a in arts]
        registered = register_family(self.engine, prefix=backbone.family_prefix, base_gguf=base_gguf, artifacts=arts,
                                     template=backbone.template, stops=backbone.stops,
                                     modelfiles_dir=self.dir / "modelfiles", strategy=strategy,
                                     render_system=render_system_prompt)
        return {"strategy": strategy, "why": why, "models": sorted(registered)}

    def _merged(self, backbone: Backbone, agent) -> Path:
        out = self.dir / "merged" / f"{agent.name}-Q4_K_M.gguf"
        if out.is_file():
            return out
        hf_out = merge_lora(backbone.hf_dir, self.dir / "runs" / agent.name / "adapter", self.dir / "merged" / agent.name)
        f16 = convert_hf_to_gguf(hf_out, hf_out.with_suffix(".f16.gguf")).path
        quantize(f16, out, "Q4_K_M")
        f16.unlink()
        return out

    def train_backbone(self, backbone: Backbone) -> Backbone:
        """One (Q)LoRA on every agent's data together, merged into the backbone: the family's new base."""
        from types import SimpleNamespace

        from ..agents.roster import LoraSpec, load_roster
        from .data import load_dataset_split

        merged = self.dir / "backbone-hf"
        if not (merged / "config.json").is_file():
            roster = load_roster()
            train_rows, eval_rows = [], []
            for name in self.plan.agents:
                train_rows += load_dataset_split(self.plan.dataset, roster.get(name).name, "train")
                eval_rows += load_dataset_split(self.plan.dataset, roster.get(name).name, "eval")
            import random

            random.Random(self.plan.seed).shuffle(train_rows)
            run = self.dir / "runs" / "backbone"
            spec = SimpleNamespace(name="tanuki-backbone", lora=LoraSpec())
            train_adapter(backbone=backbone, recipe=self.plan.recipe, agent=spec, train_rows=train_rows,
                          eval_rows=eval_rows, out_dir=run, console=self.console, launch=self.plan.launch)
            merge_lora(backbone.hf_dir, run / "adapter", merged)
        return Backbone(f"{backbone.name}+tuned", merged, None, backbone.template, backbone.stops,
                        backbone.default_system, backbone.family_prefix)

    # ------------------------------------------------------------------ the whole pipeline
    def build(self) -> dict:
        started = time.monotonic()
        backbone = self._stage("backbone", lambda: resolve_backbone(self.plan.backbone))
        self._stage("synth", self.synth)
        if self.plan.train_backbone:
            backbone = self._stage("train-backbone", self.train_backbone, backbone)
        base = self._stage("base", self.base, backbone)
        self._stage("train", self.train, backbone)
        loras = self._stage("export", self.export, backbone)
        self._stage("parity", self.parity, backbone, base, loras)
        if self.plan.register:
            self._stage("register", self.register, backbone, base, loras)
        self.manifest["seconds"] = round(time.monotonic() - started, 1)
        self.manifest_path.write_text(json.dumps(self.manifest, indent=2, default=str))
        return self.manifest
