"""``--profile``: run a bench under pyinstrument and save ``profile.html`` and ``profile.txt`` next to its report
(the orchestrator, the engine client and the sandbox calls all show up in the same call tree)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import ToolchainMissing


@contextmanager
def profiled(enabled: bool, out_dir: Path) -> Iterator[dict[str, str]]:
    """Profile the body when ``enabled``; the yielded dict receives the report paths on exit."""
    paths: dict[str, str] = {}
    if not enabled:
        yield paths
        return
    try:
        from pyinstrument import Profiler
    except ImportError:
        raise ToolchainMissing("--profile needs pyinstrument", hint="pip install pyinstrument==5.1.1") from None
    profiler = Profiler(interval=0.005, async_mode="disabled")
    profiler.start()
    try:
        yield paths
    finally:
        profiler.stop()
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "profile.html").write_text(profiler.output_html(), encoding="utf-8")
        (out / "profile.txt").write_text(profiler.output_text(unicode=True, color=False), encoding="utf-8")
        paths.update(html=str(out / "profile.html"), text=str(out / "profile.txt"))
