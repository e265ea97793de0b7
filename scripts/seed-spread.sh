#!/usr/bin/env bash
# The default recipe's spread over calibration draws (issue 21, docs/results.md): for each draw
# (seeds 1, 2, 3, 100 and 32 + 4 held-out windows drawn as the reference code draws them, seed 0,
# by scripts/reference-windows.py) one
# rows-columns surgeon run to 30% that evaluates at 10%, 20% and 30%, then 50% unstructured and
# 50% 2:4, each evaluated on the first CHUNKS test segments. Only --calib/--seed (or --ids-file)
# are given: everything else is the default recipe. Long: about 15 minutes per rows-columns run and
# 10 per element run on 2 cores. A run whose OUT/DRAW.done exists is skipped (rerun to resume).
# Usage: scripts/seed-spread.sh [rc|elements|all]; then scripts/seed-spread.sh table
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${B:-}" ] && [ "${1:-all}" != table ]; then swift build -c release 2>&1 | tail -1; fi
B=${B:-.build/release/surgeon}
M=models/SmolLM2-135M-Instruct.Q4_1.gguf
W=../shared/data/wikitext-2-raw
CHUNKS=${CHUNKS:-16}
OUTDIR=${OUTDIR:-out/seeds}
DRAWS=${DRAWS:-"1 2 3 100 ids"}
mkdir -p "$OUTDIR"
what=${1:-all}

calibration() {
  if [ "$1" = ids ]; then
    [ -e "$OUTDIR/ref-windows.json" ] || python3 scripts/reference-windows.py "$B" $M "$W/wiki.valid.raw" 36 512 0 "$OUTDIR/ref-windows.json" > /dev/null
    echo "--ids-file $OUTDIR/ref-windows.json"
  else
    echo "--calib $W/wiki.valid.raw --seed $1"
  fi
}

if [ "$what" = table ]; then
  python3 - "$OUTDIR" <<'EOF'
import json, os, sys
out = sys.argv[1]
def ppl(path):
    try: return json.load(open(path))["ppl"]
    except Exception: return None
rows = []
for d in os.environ.get("DRAWS", "1 2 3 100 ids").split():
    at = {}
    try:
        for s in json.load(open(f"{out}/rc-{d}/compression.json"))["shots"]:
            if s.get("perplexity"): at[round(s["target_sparsity"], 3)] = s["perplexity"]
    except Exception: pass
    rows.append((d, at.get(0.1), at.get(0.2), at.get(0.3), ppl(f"{out}/unstructured-{d}.ppl.json"), ppl(f"{out}/24-{d}.ppl.json")))
fmt = lambda x: "-" if x is None else f"{x:.2f}"
print("| draw | rc 10% | rc 20% | rc 30% | unstructured 50% | 2:4 |\n|---|---|---|---|---|---|")
for r in rows: print("| " + " | ".join([r[0]] + [fmt(x) for x in r[1:]]) + " |")
for i, name in enumerate(["rc 10%", "rc 20%", "rc 30%", "unstructured 50%", "2:4"], 1):
    v = sorted(x[i] for x in rows if x[i] is not None)
    if v: print(f"{name}: median {v[len(v) // 2]:.2f}, min {v[0]:.2f}, max {v[-1]:.2f} ({len(v)} draws)")
EOF
  exit 0
fi

if [ "$what" = all ] || [ "$what" = rc ]; then
  for d in $DRAWS; do
    [ -e "$OUTDIR/rc-$d.done" ] && continue
    # shellcheck disable=SC2046
    $B compress -m $M --structure rows-columns --method surgeon --sparsity 0.3 $(calibration "$d") \
      --eval-file $W/wiki.test.raw --eval-chunks "$CHUNKS" -o "$OUTDIR/rc-$d" --overwrite
    touch "$OUTDIR/rc-$d.done"
  done
fi

if [ "$what" = all ] || [ "$what" = elements ]; then
  for st in unstructured 2:4; do
    for d in $DRAWS; do
      n=${st/:/}-$d
      [ -e "$OUTDIR/$n.done" ] && continue
      # shellcheck disable=SC2046
      $B compress -m $M --structure "$st" --method surgeon --sparsity 0.5 $(calibration "$d") -o "$OUTDIR/$n" --overwrite
      $B perplexity -m "$OUTDIR/$n" -f $W/wiki.test.raw --chunks "$CHUNKS" --json > "$OUTDIR/$n.ppl.json"
      touch "$OUTDIR/$n.done"
    done
  done
fi
