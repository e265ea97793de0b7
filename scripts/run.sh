#!/usr/bin/env bash
# The main job on the default model (SmolLM2-135M-Instruct): install what is missing, build in
# release mode, compress the model with the LLM Surgeon (a quick structured recipe), compare dense
# and compressed perplexity on a few wikitext-2 segments and their speed, then chat with the
# compressed model (one answer when stdin is not a terminal).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release
B=.build/release/surgeon
MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf
WIKI=../shared/data/wikitext-2-raw
OUT=out/smollm2-surgeon-rows-columns-10
THREADS=${THREADS:-2}

$B compress -m "$MODEL" --structure rows-columns --method surgeon --sparsity 0.1 \
   --calib "$WIKI/wiki.valid.raw" --nsamples 16 --seqlen 256 --seed 100 -t "$THREADS" -o "$OUT" --overwrite
echo "== wikitext-2 test perplexity (paper protocol, first 4 segments of 2048 tokens)"
echo -n "dense:      "; $B perplexity -m "$MODEL" -f "$WIKI/wiki.test.raw" --chunks 4 -t "$THREADS" 2>/dev/null
echo -n "compressed: "; $B perplexity -m "$OUT" -f "$WIKI/wiki.test.raw" --chunks 4 -t "$THREADS" 2>/dev/null
echo "== speed"
$B bench -m "$MODEL" -m "$OUT" -p 128 -n 32 -r 2 -t "$THREADS"
echo "== chat with the compressed model"
if [ -t 0 ]; then
  $B chat -m "$OUT" -t "$THREADS"
else
  echo "What is the capital of France?" | $B chat -m "$OUT" --temp 0 -t "$THREADS"
fi
