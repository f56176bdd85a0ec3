"""``tanuki factory build``, ``tanuki train adapter`` and ``tanuki register``: the model factory's stages."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console

from ..agents.roster import load_roster
from ..errors import ConfigError


def _family(backbone, recipe, agents, per_agent, dataset, sources, strategy, name, register, seed,
            train_backbone=False, launch=None):
    from ..engines.ollama import OllamaEngine
    from ..factory.family import Family, FamilyPlan
    from ..factory.recipe import load_recipe
    from ..ollama_server import ensure_ollama

    r = load_recipe(recipe)
    backbone = backbone or r.backbone
    plan = FamilyPlan(name=name or f"{backbone.replace(':', '-').replace('/', '-')}", backbone=backbone, recipe=r,
                      agents=[a.name for a in load_roster().select(agents)], per_agent=per_agent, dataset=Path(dataset) if dataset else None,
                      sources=list(sources), strategy=strategy, register=register, seed=seed,
                      train_backbone=train_backbone, launch=launch)
    engine = None
    if register and strategy != "engine":  # the engine strategy writes a manifest for the hot-swap engine only
        url, started = ensure_ollama()
        engine = OllamaEngine(url)
    return Family(plan, engine=engine, console=Console(stderr=True))


COMMON = [
    click.option("--backbone", default=None, help="micro | tiny-mistral3 | tiny-llama | hf:/path (default: the recipe's)"),
    click.option("--recipe", default="micro-cpu", show_default=True, help="training/<name>.yaml or a path"),
    click.option("--agents", default="core", show_default=True, help="core, all, or a comma list (coder,tester)"),
    click.option("--per-agent", type=int, default=None, help="examples per agent (default: the roster's)"),
    click.option("--dataset", type=click.Path(exists=True, file_okay=False), default=None,
                 help="use this dataset version instead of synthesising one"),
    click.option("--source", "sources", multiple=True, help="local code corpus for synthesis (repeatable)"),
    click.option("--strategy", type=click.Choice(["adapter", "merged", "engine"]), default=None,
                 help="registration strategy (default: probe Ollama)"),
    click.option("--name", default=None, help="family name (its folder under $TANUKI_HOME/families)"),
    click.option("--seed", type=int, default=0, show_default=True),
]


def common(fn):
    for opt in reversed(COMMON):
        fn = opt(fn)
    return fn


LAUNCH = [
    click.option("--launcher", type=click.Choice(["none", "accelerate"]), default="none", show_default=True,
                 help="accelerate: data-parallel training in --num-processes processes"),
    click.option("--num-processes", type=click.IntRange(1), default=1, show_default=True,
                 help="training processes (GPUs, or CPU processes with gloo); the recipe's global batch is kept"),
    click.option("--accelerate-config", default="ddp", show_default=True,
                 help="training/accelerate/<name>.yaml (ddp, fsdp, deepspeed-zero2, deepspeed-zero3) or a path"),
]


def launch_options(fn):
    for opt in reversed(LAUNCH):
        fn = opt(fn)
    return fn


def _launch(launcher, num_processes, accelerate_config):
    from ..factory.distributed import Launch
    from ..factory.distributed import accelerate_config as find_config

    if launcher == "none":
        if num_processes != 1:
            raise ConfigError("--num-processes needs a launcher", hint="add --launcher accelerate")
        return None
    find_config(accelerate_config)  # a typo fails now, not after synthesis
    return Launch(launcher, num_processes, accelerate_config)


@click.group("factory")
def factory_group() -> None:
    """Build agent families: data, training, GGUF export, parity, Ollama registration."""


@factory_group.command("build")
@common
@click.option("--no-register", is_flag=True, help="stop after parity")
@click.option("--train-backbone", is_flag=True, help="first tune the backbone on all agents' data (merged)")
@click.option("--json", "as_json", is_flag=True)
def build(backbone, recipe, agents, per_agent, dataset, sources, strategy, name, seed, no_register, train_backbone,
          as_json):
    """Build a family end to end (resumable: rerun the same command after an interruption)."""
    fam = _family(backbone, recipe, agents, per_agent, dataset, sources, strategy, name, not no_register, seed,
                  train_backbone)
    manifest = fam.build()
    if as_json:
        click.echo(json.dumps(manifest, indent=2, default=str))
        return
    click.echo(f"family {manifest['name']} built in {manifest['seconds']}s ({fam.dir})")
    for stage, info in manifest["stages"].items():
        click.echo(f"  {stage:9s} {info['seconds']:8.1f}s")
    reg = manifest["stages"].get("register", {}).get("result")
    if reg:
        click.echo(f"registered ({reg['strategy']}): {', '.join(reg['models'])}")
        click.echo(f"try: tanuki serve --engine hotswap  (family {reg['models'][0].rsplit('-', 1)[0]})"
                   if reg["strategy"] == "engine" else f"try: ollama run {reg['models'][0]}")


@click.group("train")
def train_group() -> None:
    """Train adapters (one LoRA per agent)."""


@train_group.command("adapter")
@common
@click.option("--agent", "agent", default=None, help="one agent (name or role)")
@click.option("--all", "all_", is_flag=True, help="every agent selected by --agents")
@launch_options
def train_adapter_cmd(backbone, recipe, agents, per_agent, dataset, sources, strategy, name, seed, agent, all_,
                      launcher, num_processes, accelerate_config):
    """Train LoRA adapters for --agent NAME, or --all of --agents (data synthesised when no --dataset)."""
    if not agent and not all_:
        raise ConfigError("say which adapter to train", hint="--agent coder, or --all (with --agents core|all|list)")
    from ..factory.backbones import resolve_backbone

    launch = _launch(launcher, num_processes, accelerate_config)
    fam = _family(backbone, recipe, agent or agents, per_agent, dataset, sources, strategy, name, False, seed,
                  launch=launch)
    bb = fam._stage("backbone", resolve_backbone, fam.plan.backbone)
    fam._stage("synth", fam.synth)
    result = fam._stage("train", fam.train, bb)
    click.echo(json.dumps(result, indent=2))


@train_group.command("backbone")
@common
@launch_options
def train_backbone_cmd(backbone, recipe, agents, per_agent, dataset, sources, strategy, name, seed,
                       launcher, num_processes, accelerate_config):
    """(Q)LoRA-tune the backbone on every selected agent's data and merge it (the family's new base)."""
    from ..factory.backbones import resolve_backbone

    launch = _launch(launcher, num_processes, accelerate_config)
    fam = _family(backbone, recipe, agents, per_agent, dataset, sources, strategy, name, False, seed, launch=launch)
    bb = fam._stage("backbone", resolve_backbone, fam.plan.backbone)
    fam._stage("synth", fam.synth)
    tuned = fam._stage("train-backbone", fam.train_backbone, bb)
    click.echo(f"tuned backbone: {tuned.hf_dir}")


@click.command("export")
@common
def export_cmd(backbone, recipe, agents, per_agent, dataset, sources, strategy, name, seed):
    """Export a trained family: base GGUF (f16 -> Q4_K_M) and LoRA GGUFs, with template and logit parity."""
    fam = _family(backbone, recipe, agents, per_agent, dataset, sources, strategy, name, False, seed)
    _, base, loras = _export_checked(fam)
    click.echo(json.dumps({"base": base, "loras": loras}, indent=2))


def _export_checked(fam):
    from ..factory.backbones import resolve_backbone

    bb = resolve_backbone(fam.plan.backbone)
    base = fam._stage("base", fam.base, bb)
    loras = fam._stage("export", fam.export, bb)
    fam._stage("parity", fam.parity, bb, base, loras)
    return bb, base, loras


@click.command("register")
@common
def register_cmd(backbone, recipe, agents, per_agent, dataset, sources, strategy, name, seed):
    """Export (LoRA GGUF), check parity and register a trained family in Ollama."""
    fam = _family(backbone, recipe, agents, per_agent, dataset, sources, strategy, name, True, seed)
    bb, base, loras = _export_checked(fam)
    reg = fam._stage("register", fam.register, bb, base, loras)
    click.echo(f"registered ({reg['strategy']}): {', '.join(reg['models'])}")


factory_group.add_command(register_cmd)  # `tanuki factory register` = `tanuki register`
COMMANDS = [factory_group, train_group, export_cmd, register_cmd]
