#!/usr/bin/env bash
# The test command: installs what is missing, runs every test, then a smoke run of the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build --build-tests
swift test --skip-build "$@"
# smoke: piped chat with the default model answers the question
answer=$(printf 'What is the capital of France?\n' | .build/debug/surgeon chat -m models/SmolLM2-135M-Instruct.Q4_1.gguf --temp 0)
echo "chat smoke: $answer"
grep -q Paris <<<"$answer"
