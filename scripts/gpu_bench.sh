#!/usr/bin/env bash
# Full-size evaluation on a GPU machine (the `device` machine when one is lent), prepared to fit 10 minutes.
#
#   scripts/gpu_bench.sh [MODEL] [OUT]        # default MODEL=tanuki-micro-coder, OUT=bench-out/gpu
#
# Needs: ./install.sh done on that machine (the venv, Ollama with its llama-server, the JDK/Node toolchains), and
# the models registered (`tanuki setup-micro`, `tanuki factory build --agents coder`). Nothing is downloaded.
# Each stage has its own time cap, so the whole script ends within the budget; every stage is resumable (run the
# script again to finish a stage that hit its cap) and writes summary.{json,md,png} under OUT/<stage>.
# Budget (seconds): self-check 60, HumanEval+ 164 tasks x 2 models 2 x 180, bug fixing 120, scenarios 60 = 600.
set -uo pipefail
cd "$(dirname "$0")/.."
MODEL="${1:-tanuki-micro-coder}"
BASE="${BASE_MODEL:-tanuki-micro}"
OUT="${2:-bench-out/gpu}"
TANUKI=(.venv/bin/python -m tanuki_ollama)
WORKERS="${WORKERS:-$(( $(nproc) > 8 ? 8 : $(nproc) ))}"
export OLLAMA_NUM_PARALLEL="${OLLAMA_NUM_PARALLEL:-4}" OLLAMA_KEEP_ALIVE=30m
mkdir -p "$OUT"
log() { printf '==> [%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
stage() {  # stage NAME SECONDS ARGS...: one bench under a time cap; a cap hit is reported, not fatal
    local name=$1 cap=$2; shift 2
    log "$name (cap ${cap}s)"
    timeout --signal=INT "$cap" "${TANUKI[@]}" bench "$@" --out "$OUT/$name" --workers "$WORKERS" --json \
        > "$OUT/$name.json" 2> "$OUT/$name.log"
    local rc=$?
    [ $rc -eq 124 ] && log "$name hit its cap: rerun the script to resume it"
    [ $rc -ne 0 ] && [ $rc -ne 124 ] && log "$name failed (exit $rc): see $OUT/$name.log"
    return 0
}
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
"${TANUKI[@]}" ollama start >/dev/null 2>&1 || true   # the managed Ollama (no-op when one answers)

stage heplus-canonical 60 humaneval --plus --solutions canonical
stage heplus-"$BASE" 180 humaneval --plus --model "$BASE" --num-predict 384
stage heplus-"$MODEL" 180 humaneval --plus --model "$MODEL" --num-predict 384
stage bugfix-"$MODEL" 120 bugfix --model "$MODEL" --num-predict 384
stage scenarios-reference 20 scenarios --solutions reference
stage scenarios-team 40 scenarios --team --family tanuki-micro --only backend_api --run-timeout 35

"${TANUKI[@]}" bench compare "$OUT/heplus-$BASE" "$OUT/heplus-$MODEL" --out "$OUT/compare" > "$OUT/compare.md" || true
log "done: $OUT (compare: $OUT/compare.md)"
