"""Every bench writes ``summary.json``, ``summary.md`` and ``summary.png`` in its output folder; ``compare``
puts several summaries side by side (JSON, Markdown table, grouped bar chart).

A summary is a dict with at least ``bench``, ``label``, ``metrics`` (flat ``{name: fraction}``), ``wall_s`` and
``tokens`` (``{"prompt": n, "completion": n}``); benches add their own keys (``per_task``, ``config``...).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def markdown(summary: dict[str, Any]) -> str:
    lines = [f"# {summary['bench']}: {summary['label']}", ""]
    if summary.get("command"):
        lines += [f"Command: `{summary['command']}`", ""]
    lines += ["| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v:.1%} |" for k, v in summary["metrics"].items()]
    tok = summary.get("tokens", {})
    lines += [f"| wall time | {summary.get('wall_s', 0):.1f} s |",
              f"| tokens (prompt / completion) | {tok.get('prompt', 0)} / {tok.get('completion', 0)} |"]
    for key, value in summary.get("counts", {}).items():
        lines.append(f"| {key} | {value} |")
    rows = summary.get("per_item_md")
    if rows:
        lines += ["", *rows]
    return "\n".join(lines) + "\n"


def _bar_chart(labels: list[str], series: dict[str, list[float]], title: str, path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(labels) * max(1, len(series)) ** 0.5 + 2), 3.5))
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        xs = [x + i * width for x in range(len(labels))]
        bars = ax.bar(xs, [v * 100 for v in values], width, label=name)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(labels))], labels, fontsize=8)
    ax.set_ylabel("%")
    ax.set_ylim(0, 105)
    ax.set_title(title, fontsize=9)
    if len(series) > 1:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_reports(summary: dict[str, Any], out_dir: Path) -> dict[str, str]:
    """Write summary.json / .md / .png into ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "summary.json", "markdown": out_dir / "summary.md", "png": out_dir / "summary.png"}
    paths["json"].write_text(json.dumps({k: v for k, v in summary.items() if k != "per_item_md"}, indent=2,
                                        default=str))
    paths["markdown"].write_text(markdown(summary))
    metrics = summary["metrics"]
    _bar_chart(list(metrics), {summary["label"]: list(metrics.values())}, f"{summary['bench']}: {summary['label']}",
               paths["png"])
    return {k: str(v) for k, v in paths.items()}


def load_summary(path: Path) -> dict[str, Any]:
    p = Path(path)
    if p.is_dir():
        p = p / "summary.json"
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read a bench summary from {path}: {exc}",
                          hint="pass the summary.json (or the folder) a `tanuki bench ...` run wrote") from None
    if not isinstance(data, dict) or "metrics" not in data or "label" not in data:
        raise ConfigError(f"{path} is not a bench summary", hint="pass a summary.json written by `tanuki bench`")
    return data


def compare(paths: Sequence[Path], out_dir: Path | None = None) -> dict[str, Any]:
    """Side by side: every metric of every summary, the wall time and tokens; Markdown and PNG in ``out_dir``."""
    if len(paths) < 2:
        raise ConfigError("compare needs at least two summaries", hint="tanuki bench compare A.json B.json")
    runs = [load_summary(p) for p in paths]
    names = [f"{r['label']} ({r['bench']})" for r in runs]
    metrics = list(dict.fromkeys(k for r in runs for k in r["metrics"]))
    table = {m: [r["metrics"].get(m) for r in runs] for m in metrics}
    result = {"runs": names, "sources": [str(p) for p in paths], "metrics": table,
              "wall_s": [r.get("wall_s") for r in runs], "tokens": [r.get("tokens", {}) for r in runs]}
    md = ["| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(runs)]
    for m, vals in table.items():
        md.append(f"| {m} | " + " | ".join("-" if v is None else f"{v:.1%}" for v in vals) + " |")
    md.append("| wall time (s) | " + " | ".join(f"{w or 0:.1f}" for w in result["wall_s"]) + " |")
    md.append("| tokens (completion) | " + " | ".join(str(t.get("completion", 0)) for t in result["tokens"]) + " |")
    result["markdown"] = "\n".join(md) + "\n"
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "compare.json").write_text(json.dumps(result, indent=2, default=str))
        (out / "compare.md").write_text(result["markdown"])
        series = {n: [v if v is not None else 0.0 for v in (table[m][i] for m in metrics)] for i, n in enumerate(names)}
        _bar_chart(metrics, series, "comparison", out / "compare.png")
        result["files"] = {k: str(out / f"compare.{k}") for k in ("json", "md", "png")}
    return result
