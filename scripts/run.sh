#!/usr/bin/env bash
# The main job on the default model: installs what is missing, builds in release mode,
# then answers a question with SmolLM2-135M-Instruct.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release
MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf
# "<|im_start|>system ... <|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
IDS=1,9690,198,2683,359,253,5356,5646,11173,3365,3511,308,34519,28,7018,411,407,19712,8182,2,198,1,4093,198,1780,314,260,3575,282,4649,47,2,198,1,520,9531,198
.build/release/surgeon generate -m "$MODEL" --ids "$IDS" -n 32 --temp 0
