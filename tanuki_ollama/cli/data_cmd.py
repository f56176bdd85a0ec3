"""``tanuki data synth | stats | teach``: the model factory's data stage."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ..errors import ConfigError


@click.group("data")
def data_group() -> None:
    """Synthesise, inspect and grade per-agent training data."""


def _agents(spec: str) -> list[str]:
    from ..agents import load_roster

    return [a.name for a in load_roster().select(spec)]


@data_group.command("synth")
@click.option("--agents", "agents_spec", default="core", show_default=True,
              help="all, core, or a comma list of names/roles (coder,tester)")
@click.option("--per-agent", type=int, default=None, help="examples per agent (default: the roster's data.examples)")
@click.option("--source", "sources", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="a directory (or file) of code; repeatable (default: stdlib + site-packages)")
@click.option("--hf", "hf", multiple=True, help="a Hugging Face dataset to stream (skipped when unreachable)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="dataset root (default $TANUKI_HOME/datasets)")
@click.option("--resume/--no-resume", default=True, show_default=True)
@click.option("--jobs", type=int, default=1, show_default=True, help="interpreters running checks at once")
@click.option("--no-decontaminate", is_flag=True, help="skip HumanEval/HumanEval+ decontamination")
@click.option("--shard", default=None, metavar="I/N",
              help="build only shard I of N (0-based; then `tanuki data merge` the N outputs)")
@click.option("--quiet", is_flag=True, help="no progress bars")
def synth_cmd(agents_spec: str, per_agent: int | None, sources: tuple[Path, ...], hf: tuple[str, ...], seed: int,
              out: Path | None, resume: bool, jobs: int, no_decontaminate: bool, shard: str | None,
              quiet: bool) -> None:
    """Mine code, build verified ReAct examples per agent, and write a versioned dataset."""
    from ..factory.data import SynthConfig, synthesize
    from ..factory.data.shards import parse_shard

    if per_agent is not None and per_agent < 1:
        raise ConfigError("--per-agent must be at least 1", hint="pass --per-agent 50 or more")
    cfg = SynthConfig(agents=_agents(agents_spec), per_agent=per_agent,
                      sources=[str(p.resolve()) for p in sources], hf=list(hf), seed=seed)
    res = synthesize(cfg, out=out, resume=resume, workers=jobs, progress=not quiet,
                     decontaminate=not no_decontaminate, shard=parse_shard(shard) if shard else None)
    total = sum(c["train"] + c["eval"] for c in res.counts.values())
    click.echo(f"{'shard ' + shard + ' of ' if shard else ''}dataset {res.version}: {total} examples for "
               f"{len(res.counts)} agents in {res.seconds:.0f}s"
               + (" (identical to an existing version)" if res.reused else ""))
    click.echo(str(res.path))


@data_group.command("merge")
@click.argument("shards", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None, help="dataset root (default $TANUKI_HOME/datasets)")
def merge_cmd(shards: tuple[Path, ...], out: Path | None) -> None:
    """Join the N partial datasets of `tanuki data synth --shard i/N` into one (what one process makes)."""
    from ..factory.data.shards import merge_shards

    path = merge_shards(list(shards), out)
    click.echo(f"dataset {path.name}: merged {len(shards)} shards")
    click.echo(str(path))


def _resolve_dataset(dataset: Path | None, root: Path | None) -> Path:
    from ..factory.data import latest_dataset

    if dataset is not None:
        return dataset
    return latest_dataset(root)


@data_group.command("stats")
@click.argument("dataset", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--root", type=click.Path(path_type=Path), default=None, help="where to look for the latest dataset")
@click.option("--json", "as_json", is_flag=True)
@click.option("--verify/--no-verify", default=True, show_default=True, help="check shard hashes")
def stats_cmd(dataset: Path | None, root: Path | None, as_json: bool, verify: bool) -> None:
    """Examples per agent, split and strategy (default: the latest dataset)."""
    from ..factory.data import load_dataset_split, read_manifest, verify_dataset

    path = _resolve_dataset(dataset, root)
    manifest = read_manifest(path)
    rows = []
    for agent in sorted(manifest["agents"]):
        for split in ("train", "eval"):
            data = load_dataset_split(path, agent, split)
            by = {}
            for r in data:
                by.setdefault(r["strategy"], []).append(r["difficulty"])
            for strategy, diffs in sorted(by.items()):
                rows.append({"agent": agent, "split": split, "strategy": strategy, "examples": len(diffs),
                             "mean_difficulty": round(sum(diffs) / len(diffs), 4)})
    problems = verify_dataset(path) if verify else []
    if as_json:
        click.echo(json.dumps({"version": manifest["version"], "path": str(path), "rows": rows,
                               "problems": problems, "decontamination": manifest.get("decontamination"),
                               "notes": manifest.get("notes", [])}, indent=2))
    else:
        table = Table(title=f"{manifest['version']} ({manifest.get('created_at', '')})")
        for col in ("agent", "split", "strategy", "examples", "mean difficulty"):
            table.add_column(col, justify="right" if col in ("examples", "mean difficulty") else "left")
        for r in rows:
            table.add_row(r["agent"], r["split"], r["strategy"], str(r["examples"]), f"{r['mean_difficulty']:.3f}")
        console = Console()
        console.print(table)
        console.print(f"total: {sum(r['examples'] for r in rows)} examples; "
                      + ("shards verified" if verify and not problems else "not verified" if not verify else ""))
        for note in manifest.get("notes", []):
            console.print(f"note: {note}", highlight=False)
    if problems:
        raise ConfigError(f"dataset {path} is damaged: " + "; ".join(problems[:5]),
                          hint="re-run `tanuki data synth` with the same options to rebuild it")


@data_group.command("teach")
@click.argument("dataset", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--root", type=click.Path(path_type=Path), default=None, help="where to look for the latest dataset")
@click.option("--endpoint", "endpoints", multiple=True,
              help="teacher base URL (default: OLLAMA_HOST); repeat for several teachers at once, each "
                   "URL[,rps=R][,concurrency=C] (limits default to --rps/--concurrency)")
@click.option("--api", type=click.Choice(["ollama", "openai"]), default="ollama", show_default=True)
@click.option("--model", default="deepseek-coder:33b-instruct", show_default=True)
@click.option("--fraction", type=float, default=0.02, show_default=True, help="hardest share per agent")
@click.option("--agents", "agents_spec", default=None, help="all, core or a comma list (default: every agent in it)")
@click.option("--rps", type=float, default=2.0, show_default=True, help="requests per second")
@click.option("--concurrency", type=int, default=2, show_default=True)
@click.option("--retries", type=int, default=3, show_default=True)
@click.option("--timeout", "timeout_s", type=float, default=300.0, show_default=True)
@click.option("--limit", type=int, default=None, help="judge at most this many examples")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="default $TANUKI_HOME/teacher")
@click.option("--quiet", is_flag=True)
def teach_cmd(dataset: Path | None, root: Path | None, endpoints: tuple[str, ...], api: str, model: str,
              fraction: float, agents_spec: str | None, rps: float, concurrency: int, retries: int,
              timeout_s: float, limit: int | None, out: Path | None, quiet: bool) -> None:
    """Step-level judgements (process reward) by a teacher model for the hardest examples."""
    from dataclasses import replace

    from ..factory.data.teacher import TeachConfig, parse_endpoint, teach
    from ..settings import Settings

    if not 0 < fraction <= 1:
        raise ConfigError("--fraction must be in (0, 1]", hint="e.g. --fraction 0.02 for the hardest 2 %")
    path = _resolve_dataset(dataset, root)
    cfg = TeachConfig(endpoint=Settings.from_env().ollama_host, api=api, model=model, fraction=fraction,
                      rps=rps, concurrency=concurrency, retries=retries, timeout_s=timeout_s,
                      api_key=os.environ.get("TANUKI_TEACHER_API_KEY"),
                      agents=_agents(agents_spec) if agents_spec else None, limit=limit)
    if len(endpoints) == 1:
        cfg = parse_endpoint(endpoints[0], cfg)
    elif endpoints:  # several teachers at once, each within its own limits
        cfg = replace(cfg, endpoint=parse_endpoint(endpoints[0], cfg).endpoint, endpoints=list(endpoints))
    res = teach(path, cfg, out=out, progress=not quiet)
    click.echo(f"judged {res.judged} new, {res.skipped} already done, {res.failed} unusable "
               f"(of {res.selected} selected) -> {res.path}")


COMMANDS = [data_group]
