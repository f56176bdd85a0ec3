"""`tanuki bench serve --json` runs and reports the figures it promises (values are measured, not asserted)."""

from __future__ import annotations

import json

from tanuki_ollama.cli.main import main


def test_bench_serve_json(capsys):
    assert main(["bench", "serve", "--engine", "scripted", "--requests", "10", "--stream-words", "50", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["bench"] == "serve" and out["requests"] == 10
    for key in ("direct_ms", "served_ms", "added_ms"):
        assert set(out[key]) == {"median", "p90", "min"} and out[key]["median"] >= 0
    assert out["served_ms"]["min"] > out["direct_ms"]["min"]  # HTTP costs something
    assert out["stream"]["chunks"] == {"direct": 50, "ollama_ndjson": 50, "openai_sse": 50}
    assert all(v > 0 for v in out["stream"]["chunks_per_s"].values())
    assert out["target_added_median_ms"] == 3.0 and isinstance(out["meets_target"], bool)
