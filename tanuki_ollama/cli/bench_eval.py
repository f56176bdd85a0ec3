"""``tanuki bench humaneval | bugfix | scenarios | quickstart | compare``: the evaluation benches (registered on
the ``bench`` group by ``bench_cmd``). Each writes JSON + Markdown + PNG under ``--out`` and prints the summary
JSON. ``--team`` solves through ``tanuki run``; ``--compare`` runs the single agent and the team side by side."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import click


def _command_line() -> str:
    """The command that reproduces this run: the command path plus every option that differs from its default
    (rebuilt from click's parsed parameters, so it is right however tanuki was invoked)."""
    ctx = click.get_current_context()
    words = ctx.command_path.split()
    words[0] = "tanuki"
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if not isinstance(param, click.Option) or value in (None, (), []):
            continue
        default = param.get_default(ctx, call=True)
        if value == default or (param.is_flag and not value and not default):
            continue
        flag = max(param.opts, key=len)
        if param.is_flag:
            if value or param.secondary_opts:
                words.append(flag if value else param.secondary_opts[0])
            continue
        for v in value if param.multiple else [value]:
            words += [flag, str(v)]
    return shlex.join(words)


def _engine(name: str):
    if name == "ollama":
        from ..engines.ollama import OllamaEngine
        from ..ollama_server import ensure_ollama

        url, _ = ensure_ollama()
        return OllamaEngine(url)
    from ..engines import create_engine

    return create_engine(name)


def _agent_model(agent: str | None, model: str | None, family: str | None) -> str | None:
    """``--model`` wins; else the agent's model in ``--family`` (tanuki-micro + tanuki-coder -> tanuki-micro-coder)."""
    if model or not agent:
        return model
    from ..agents.roster import load_roster

    spec = load_roster().get(agent)
    return f"{family}-{spec.role}" if family else spec.name


def _run_and_emit(run, cfg, engine, *, profile: bool, as_json: bool) -> None:
    """Run one bench (profiled on request, progress on stderr unless --json) and print its summary."""
    from ..bench.profiling import profiled

    log = None if as_json else (lambda m: click.echo(m, err=True))
    with profiled(profile, cfg.out_dir) as prof:
        summary = run(cfg, engine=engine, log=log)
    if prof:
        summary["profile"] = prof
    _emit(summary, as_json)


def _emit(summary: dict, as_json: bool) -> None:
    out = {k: v for k, v in summary.items() if k not in ("per_item_md", "per_task", "items")}
    if as_json:
        click.echo(json.dumps(out, default=str))
        return
    click.echo(json.dumps(out, indent=2, default=str))


GEN_OPTIONS = [
    click.option("--engine", "engine_name", default="ollama", show_default=True, help="engine name (engines registry)"),
    click.option("--model", default=None, help="engine model (e.g. tanuki-micro)"),
    click.option("--agent", default=None, help="a roster agent: its system prompt, schema and parameters"),
    click.option("--family", default=None,
                 help="with --agent/--team: model prefix, e.g. tanuki-micro (--team: default auto, as tanuki run)"),
    click.option("--team", is_flag=True, help="solve through the orchestrated team (orchestrator.run_task)"),
    click.option("--compare", is_flag=True,
                 help="with --team: run the single agent (tanuki-coder, greedy, 1 candidate) and the team, paired"),
    click.option("--rounds", type=click.IntRange(1, 10), default=None,
                 help="with --team: rounds of the candidate search (default: the run's)"),
    click.option("--run-timeout", default=600.0, show_default=True, help="with --team: seconds per run"),
    click.option("--mode", type=click.Choice(["chat", "completion"]), default="chat", show_default=True),
    click.option("--num-predict", default=384, show_default=True),
    click.option("--num-ctx", default=2048, show_default=True),
    click.option("--num-thread", type=click.IntRange(min=1), default=None,
                 help="engine threads (Ollama's num_thread; on a busy machine 1 thread decodes ~3x faster than 2)"),
    click.option("--temperature", default=0.0, show_default=True),
    click.option("--samples", default=1, show_default=True,
                 help="samples per task (pass@k needs k); with --team: candidates per round (default: the run's)"),
    click.option("--seed", default=0, show_default=True),
    click.option("--workers", default=2, show_default=True, help="sandbox runs in parallel"),
    click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
                 help="output folder (default: bench-out/<bench>-<label>)"),
    click.option("--fresh", is_flag=True, help="discard earlier results in --out instead of resuming"),
    click.option("--profile", is_flag=True, help="run under pyinstrument; save profile.html/.txt in --out"),
    click.option("--json", "as_json", is_flag=True, help="print only the summary JSON (one line)"),
]


def gen_options(fn):
    for opt in reversed(GEN_OPTIONS):
        fn = opt(fn)
    return fn


def _gen_config(o: dict):
    from ..bench.codegen import GenConfig

    model = _agent_model(o["agent"], o["model"], o["family"])
    if o["team"]:
        return None
    if not model:
        raise click.UsageError("pass --model M (or --agent A, or --team)")
    return GenConfig(model=model, engine=o["engine_name"], mode=o["mode"], agent=o["agent"],
                     num_predict=o["num_predict"], num_ctx=o["num_ctx"], num_thread=o["num_thread"],
                     temperature=o["temperature"],
                     seed=o["seed"], samples=o["samples"])


def _given(name: str) -> bool:
    """Whether option ``name`` was given on the command line (or the environment), not left at its default."""
    source = click.get_current_context().get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def _team_settings(o: dict):
    """The ``tanuki run`` settings of --team / --compare: family (default auto), the search (--samples, --rounds
    when given) and the RunConfig fields given on the command line (threads, answer length, context, seed)."""
    from ..bench.team import TeamSettings

    overrides = {field: o[opt] for opt, field in (("num_thread", "num_thread"), ("num_predict", "num_predict"),
                                                  ("num_ctx", "num_ctx"), ("seed", "seed"))
                 if opt in o and o[opt] is not None and _given(opt)}
    return TeamSettings(configs=["single", "team"] if o.get("compare") else ["team"], family=o.get("family") or "auto",
                        samples=o["samples"] if o.get("samples") is not None and _given("samples") else None,
                        rounds=o.get("rounds"), run_timeout_s=o["run_timeout"], overrides=overrides)


def _ollama_engine(num_ctx: int):
    from ..engines.ollama import OllamaEngine
    from ..ollama_server import ensure_ollama

    url, _ = ensure_ollama()
    return OllamaEngine(url, num_ctx=num_ctx)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text).strip("-")


@click.command("humaneval")
@click.option("--plus", is_flag=True, help="HumanEval+ v0.1.10 (base and plus test sets)")
@click.option("--tasks", default="", help="comma list of task ids or numbers (a fixed subset)")
@click.option("--limit", type=int, default=None, help="the first N tasks")
@click.option("--k", "ks", default="1", show_default=True, help="comma list of k for pass@k")
@click.option("--solutions", type=click.Choice(["model", "canonical", "empty"]), default="model",
              show_default=True, help="canonical/empty: grade the dataset's solutions / empty bodies (self-check)")
@gen_options
def humaneval_cmd(plus, tasks, limit, ks, solutions, **o) -> None:
    """HumanEval / HumanEval+ pass@k, generated by an engine and graded in the sandbox (resumable)."""
    from ..bench.grading import GradeConfig
    from ..bench.humaneval import HumanEvalConfig, run_humaneval

    if o["team"] or o["compare"]:
        from ..bench.team import HumanEvalTeamConfig, run_humaneval_team

        cfg = HumanEvalTeamConfig(plus=plus, tasks=[t for t in tasks.split(",") if t], limit=limit,
                                  team=_team_settings(o), grade=GradeConfig(workers=o["workers"]),
                                  fresh=o["fresh"], command=_command_line())
        cfg.out_dir = o["out"] or Path("bench-out") / _slug(f"{'heplus' if plus else 'he'}-{cfg.label}")
        _run_and_emit(run_humaneval_team, cfg, _engine(o["engine_name"]), profile=o["profile"], as_json=o["as_json"])
        return
    gen = _gen_config(o) if solutions == "model" else None
    mode = solutions
    cfg = HumanEvalConfig(plus=plus, tasks=[t for t in tasks.split(",") if t], limit=limit, solutions=mode, gen=gen,
                          ks=[int(k) for k in ks.split(",")],
                          grade=GradeConfig(workers=o["workers"]), fresh=o["fresh"], command=_command_line())
    cfg.out_dir = o["out"] or Path("bench-out") / _slug(f"{'heplus' if plus else 'he'}-{cfg.label}")
    engine = _engine(o["engine_name"]) if mode == "model" else None
    _run_and_emit(run_humaneval, cfg, engine, profile=o["profile"], as_json=o["as_json"])


@click.command("compare")
@click.argument("summaries", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="write compare.json/.md/.png here")
@click.option("--json", "as_json", is_flag=True)
def compare_cmd(summaries, out, as_json) -> None:
    """Compare bench runs: tanuki bench compare A/summary.json B/summary.json [--out dir]."""
    from ..bench.report import compare

    res = compare(list(summaries), out)
    if as_json:
        click.echo(json.dumps(res, default=str))
    else:
        click.echo(res["markdown"])
        if out:
            click.echo(f"written: {', '.join(res['files'].values())}", err=True)



@click.command("bugfix")
@click.option("--lang", "langs", default="python,java", show_default=True, help="comma list: python, java")
@click.option("--tasks", default="", help="HumanEval+ task ids/numbers for the Python bugs (default: all 164)")
@click.option("--limit", type=int, default=None, help="the first N HumanEval+ tasks for the Python bugs")
@click.option("--programs", default="", help="Java programs (bench/bugfix/java/<name>; default: all)")
@click.option("--per-source", default=1, show_default=True, help="verified bugs kept per reference solution")
@click.option("--bug-seed", default=0, show_default=True, help="seed of the bug generator (recorded)")
@click.option("--hint", is_flag=True, help="tell the model which mutation operator was applied")
@click.option("--solutions", type=click.Choice(["model", "reference", "buggy"]), default="model", show_default=True,
              help="reference/buggy: grade the references / the bugs themselves (self-check)")
@gen_options
def bugfix_cmd(langs, tasks, limit, programs, per_source, bug_seed, hint, solutions, **o) -> None:
    """Fix injected single-point bugs (Python from HumanEval+, Java programs), graded by the original tests.

    --team fixes each bug through `tanuki run` on a workspace with the buggy code and its tests; --compare runs
    the single agent and the team on every bug (fixed counts per language, ratio, sign test)."""
    from ..bench.bugfix import BugfixConfig, BugSetConfig, run_bugfix
    from ..bench.grading import GradeConfig

    team = o["team"] or o["compare"]
    if team:
        solutions = "team"
    bugs = BugSetConfig(seed=bug_seed, languages=[x for x in langs.split(",") if x],
                        python_tasks=[t for t in tasks.split(",") if t], python_limit=limit,
                        java_programs=[p for p in programs.split(",") if p], per_source=per_source)
    gen = _gen_config(o) if solutions == "model" else None
    cfg = BugfixConfig(bugs=bugs, solutions=solutions, gen=gen, hint=hint, grade=GradeConfig(workers=o["workers"]),
                       fresh=o["fresh"], command=_command_line())
    if team:
        cfg.team = _team_settings(o)
    cfg.out_dir = o["out"] or Path("bench-out") / _slug(f"bugfix-{cfg.label}")
    engine = _engine(o["engine_name"]) if solutions in ("model", "team") else None
    _run_and_emit(run_bugfix, cfg, engine, profile=o["profile"], as_json=o["as_json"])


@click.command("scenarios")
@click.option("--only", default="", help="comma list of scenario names (bench/scenarios/<name>)")
@click.option("--team", is_flag=True, help="the orchestrated team (the default when neither --agent nor --solutions)")
@click.option("--agent", default=None, help="a single agent: the run may route only to it")
@click.option("--family", default=None, help="model prefix of the agents, e.g. tanuki-micro")
@click.option("--solutions", type=click.Choice(["reference", "unmodified"]), default=None,
              help="self-check: grade the reference solutions / the untouched repositories")
@click.option("--run-timeout", default=900.0, show_default=True, help="seconds per scenario run")
@click.option("--num-predict", type=int, default=None, help="tokens per model call (default: the run's)")
@click.option("--max-revisions", type=int, default=None, help="review revisions per step (default: the run's)")
@click.option("--num-thread", type=click.IntRange(min=1), default=None, help="engine threads per model call")
@click.option("--engine", "engine_name", default="ollama", show_default=True)
@click.option("--workers", default=2, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--fresh", is_flag=True)
@click.option("--profile", is_flag=True, help="run under pyinstrument; save profile.html/.txt in --out")
@click.option("--json", "as_json", is_flag=True)
def scenarios_cmd(only, team, agent, family, solutions, run_timeout, num_predict, max_revisions, num_thread,
                  engine_name, workers, out, fresh, profile, as_json) -> None:
    """Real-world scenarios (frontend, API, migration, deployment, payments, pipeline) via `tanuki run`."""
    from ..bench.scenarios import ScenariosConfig, run_scenarios

    mode = solutions or ("agent" if agent and not team else "team")
    cfg = ScenariosConfig(names=[n for n in only.split(",") if n], solutions=mode, agent=agent, family=family,
                          run_timeout_s=run_timeout, workers=workers, fresh=fresh, command=_command_line(),
                          run_overrides={k: v for k, v in (("num_predict", num_predict),
                                                           ("max_revisions", max_revisions),
                                                           ("num_thread", num_thread)) if v is not None})
    cfg.out_dir = out or Path("bench-out") / _slug(f"scenarios-{cfg.label}")
    engine = _engine(engine_name) if mode in ("team", "agent") else None
    _run_and_emit(run_scenarios, cfg, engine, profile=profile, as_json=as_json)


@click.command("quickstart")
@click.option("--seeds", default="0-9", show_default=True, help="run seeds (RunConfig.seed): 0-9, or 0,3,5")
@click.option("--compare", is_flag=True, help="also the single agent (tanuki-coder, greedy, 1 candidate), paired")
@click.option("--family", default="auto", show_default=True, help="as tanuki run --family")
@click.option("--samples", type=click.IntRange(1, 64), default=None, help="team candidates per round (the run's)")
@click.option("--rounds", type=click.IntRange(1, 10), default=None, help="team search rounds (default: the run's)")
@click.option("--timeout", "run_timeout", default=1800.0, show_default=True, help="seconds per run (tanuki run's)")
@click.option("--num-thread", type=click.IntRange(min=1), default=None, help="engine threads per model call")
@click.option("--engine", "engine_name", default="ollama", show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--fresh", is_flag=True, help="discard earlier results in --out instead of resuming")
@click.option("--profile", is_flag=True, help="run under pyinstrument; save profile.html/.txt in --out")
@click.option("--json", "as_json", is_flag=True, help="print only the summary JSON (one line)")
def quickstart_cmd(seeds, compare, family, samples, rounds, run_timeout, num_thread, engine_name, out, fresh,
                   profile, as_json) -> None:
    """The README's first command (tanuki run "make the failing test pass" --repo examples/buggy-calculator),
    once per seed: fixed runs, wall time, candidates per minute, the search's time split, tokens."""
    from ..bench.quickstart import QuickstartConfig, parse_seeds, run_quickstart
    from ..bench.team import TeamSettings
    from ..orchestrator import RunConfig

    team = TeamSettings(configs=["single", "team"] if compare else ["team"], family=family, samples=samples,
                        rounds=rounds, run_timeout_s=run_timeout,
                        overrides={"num_thread": num_thread} if num_thread else {})
    cfg = QuickstartConfig(seeds=parse_seeds(seeds), team=team, fresh=fresh, command=_command_line())
    cfg.out_dir = out or Path("bench-out") / _slug(f"quickstart-{cfg.label}")
    engine = _ollama_engine(RunConfig().num_ctx) if engine_name == "ollama" else _engine(engine_name)
    _run_and_emit(run_quickstart, cfg, engine, profile=profile, as_json=as_json)


@click.command("candidates")
@click.option("--repo", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="a repository with a failing test (default: examples/buggy-calculator)")
@click.option("--model", default="tanuki-micro-debugger", show_default=True)
@click.option("--samples", type=click.IntRange(1, 256), default=16, show_default=True, help="candidates per setting")
@click.option("--settings", "settings_spec", default="1x1,2x2,4x2", show_default=True,
              help="comma list of PARALLELxWORKERS: model requests in flight x validations at once")
@click.option("--repeats", type=click.IntRange(1, 10), default=1, show_default=True)
@click.option("--num-thread", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--json", "as_json", is_flag=True, help="print only the summary JSON (one line)")
def candidates_cmd(repo, model, samples, settings_spec, repeats, num_thread, out, as_json) -> None:
    """Candidates per minute of the search with parallel model slots and validation workers, side by side."""
    from ..bench.candidates import CandidatesConfig, run_candidates
    from ..orchestrator import RunConfig

    try:
        settings = [tuple(int(x) for x in part.lower().split("x")) for part in settings_spec.split(",") if part]
        assert all(len(s) == 2 and min(s) >= 1 for s in settings) and settings
    except (ValueError, AssertionError):
        raise click.UsageError(f"bad --settings {settings_spec!r}: write e.g. 1x1,4x2") from None
    cfg = CandidatesConfig(model=model, samples=samples, settings=settings, repeats=repeats, num_thread=num_thread,
                           command=_command_line(), **({"repo": repo} if repo else {}))
    cfg.out_dir = out or Path("bench-out") / "candidates"
    _run_and_emit(run_candidates, cfg, _ollama_engine(RunConfig().num_ctx), profile=False, as_json=as_json)


EVAL_COMMANDS = [humaneval_cmd, bugfix_cmd, scenarios_cmd, quickstart_cmd, candidates_cmd, compare_cmd]
