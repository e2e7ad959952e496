#!/usr/bin/env bash
# One command for a lent GPU machine (one H100; about 8 minutes): install what is missing, run the
# tiny preset on CUDA in float16 and bfloat16 (every speed tier: a portrait with a pose and a LoRA,
# both inpainting recipes; an upscale once `python -m fact_runtime upscale` exists), the suite's
# CUDA-marked tests, and bench/speed.py --full-size; then print one summary table.
#
#   bash bench/gpu_check.sh [--dry-run] [--out DIR]
#
# --dry-run prints every step and the table without running anything (CI runs it on a CPU).
# Results land in DIR (default: $OUT if set, else gpu-check/): pytest's JUnit XML, speed.json, logs.
set -uo pipefail

cd "$(dirname "$0")/.."
DRY_RUN=0
OUT_DIR="${OUT:-gpu-check}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --out) OUT_DIR="$2"; shift ;;
    *) echo "error: unknown argument $1 (use --dry-run or --out DIR)" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$OUT_DIR"
PY="${PYTHON:-python3}"
SUMMARY="$OUT_DIR/summary.tsv"
: > "$SUMMARY"

# step NAME LIMIT_S COMMAND...: run it (or only show it), record status, seconds and the log's last line.
step() {
  local name="$1" limit="$2"; shift 2
  local log="$OUT_DIR/$name.log" start status note
  echo "== $name: $*"
  if [[ $DRY_RUN == 1 ]]; then
    printf '%s\t%s\t%s\t%s\n' "$name" "dry-run" "-" "would run: $*" >> "$SUMMARY"
    return 0
  fi
  start=$(date +%s)
  timeout "$limit" "$@" > "$log" 2>&1
  status=$?
  note="$(grep -v '^\s*$' "$log" | tail -n 1 | cut -c1-100)"
  printf '%s\t%s\t%s\t%s\n' "$name" "$([[ $status == 0 ]] && echo ok || echo "FAILED ($status)")" \
    "$(( $(date +%s) - start ))" "$note" >> "$SUMMARY"
  tail -n 3 "$log"
  return 0
}

# 1. What it needs: torch with CUDA and the project with its test extra (pip fetches only what is missing).
step install 240 bash -c "$PY -c 'import torch, diffusers, peft, dlib' 2>/dev/null || $PY -m pip install -q -e '.[test]'; $PY -c 'import torch; assert torch.cuda.is_available(), \"no CUDA device\"; print(torch.__version__, torch.cuda.get_device_name(0))'"

# 2. The tiny preset on CUDA, float16 and bfloat16, every tier and recipe, and every other CUDA-marked test.
step cuda-tests 180 "$PY" -m pytest -q -m cuda -p no:cacheprovider --junitxml="$OUT_DIR/cuda-tests.xml" tests

# 3. An upscale on CUDA, once the follow-up command exists.
if [[ $DRY_RUN == 0 ]] && ! "$PY" -m fact_runtime --help 2>/dev/null | grep -q upscale; then
  printf '%s\t%s\t%s\t%s\n' upscale skipped - "python -m fact_runtime upscale does not exist yet" >> "$SUMMARY"
else
  step upscale 60 "$PY" -m fact_runtime upscale --help
fi

# 4. The real architectures at 512 px with random weights: tiers x dtypes x batch 1/4, compile and fused LoRA.
step speed-full-size 420 bash -c "$PY bench/speed.py --full-size --device cuda --repeats 1 --json > '$OUT_DIR/speed.json'"

echo
echo "summary ($OUT_DIR)"
"$PY" - "$SUMMARY" "$OUT_DIR/speed.json" <<'PYTHON'
import json
import sys
from pathlib import Path

rows = [line.split("\t") for line in Path(sys.argv[1]).read_text().splitlines() if line]
print(f"{'step':<16} {'status':<12} {'s':>5}  note")
for name, status, seconds, note in rows:
    print(f"{name:<16} {status:<12} {seconds:>5}  {note}")
speed = Path(sys.argv[2])
if speed.is_file() and speed.stat().st_size:
    report = json.loads(speed.read_text())
    print(f"\nfull-size 512 px on {report['machine'].get('gpu', 'no GPU')}: seconds per image (UNet evals per image)")
    print(f"{'dtype':<9} {'batch':>5} {'compile':>7} {'fused':>5}  " + "  ".join(f"{t:>16}" for t in report["tiers"]))
    for run in report.get("runs", []):
        cells = [f"{f['seconds']:7.3f} ({f['unet_evals']:5.1f})" for f in run["tiers"].values()]
        print(f"{run['dtype']:<9} {run['batch']:>5} {str(run['compile']):>7} {str(run['fused_lora']):>5}  " + "  ".join(f"{c:>16}" for c in cells))
PYTHON
