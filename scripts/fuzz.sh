#!/usr/bin/env bash
# Fuzzes the file parsers with libFuzzer + AddressSanitizer (Fuzz/, see Fuzz/README.md).
#   scripts/fuzz.sh TARGET SECONDS     build fuzz-TARGET, write its seeds, fuzz for SECONDS
#   scripts/fuzz.sh all SECONDS        every target in turn (FUZZ_JOBS=2: two at a time)
#   scripts/fuzz.sh repro TARGET FILE  run one input (a crasher) through fuzz-TARGET
#   scripts/fuzz.sh minimize TARGET FILE   shrink a crasher (writes FILE.min)
# Targets: safetensors gguf config tokenizer-json bpe-files sentencepiece storage checkpoint.
# Not part of scripts/test.sh; each target's minimized crashers become regression tests there.
# Everything it writes stays under .build/fuzz (build, corpora, crashers, fuzz-results.txt)
# and a scratch directory in /dev/shm that is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TARGETS=(safetensors gguf config tokenizer-json bpe-files sentencepiece storage checkpoint)
OUT=$ROOT/.build/fuzz
export SURGEON_FUZZ=1
export SURGEON_FIXTURES=${SURGEON_FIXTURES:-$(cd "$ROOT/../shared/fixtures" && pwd)}
SCRATCH=$(mktemp -d "${FUZZ_SCRATCH_BASE:-/dev/shm}/surgeon-fuzz.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
export SURGEON_FUZZ_SCRATCH=$SCRATCH
# Swift's runtime keeps allocations alive on purpose: leak reports are noise here.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=0}

usage() { sed -n '2,9p' "$0" >&2; exit 2; }

build() {  # build TARGET: the debug build with -sanitize=fuzzer,address, in its own scratch path
    swift build -c debug --scratch-path "$OUT/build" --manifest-cache none --product "fuzz-$1" \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library >"$OUT/build-$1.log" 2>&1 \
        || { tail -40 "$OUT/build-$1.log" >&2; echo "build of fuzz-$1 failed (log: $OUT/build-$1.log)" >&2; exit 1; }
}

binary() { echo "$OUT/build/debug/fuzz-$1"; }

dicts() {  # the libFuzzer dictionaries (Fuzz/dicts) of a target
    case $1 in
      config) echo json config ;;
      safetensors|storage) echo binary json ;;
      gguf|sentencepiece) echo binary ;;
      tokenizer-json|bpe-files) echo json tokenizer ;;
      checkpoint) echo json checkpoint ;;
    esac
}

check_target() { [[ " ${TARGETS[*]} " == *" $1 "* ]] || { echo "unknown target $1 (${TARGETS[*]})" >&2; exit 2; }; }

fuzz() {  # fuzz TARGET SECONDS: seeds, then libFuzzer; appends the executions to fuzz-results.txt
    local t=$1 secs=$2 bin seeds corpus art log
    bin=$(binary "$t"); seeds=$OUT/seeds/$t; corpus=$OUT/corpus/$t; art=$OUT/crashers/$t; log=$OUT/fuzz-$t.log
    rm -rf "$seeds"; mkdir -p "$seeds" "$corpus" "$art"
    SURGEON_FUZZ_SEEDS=$seeds "$bin" >/dev/null 2>"$OUT/seeds-$t.log" || { cat "$OUT/seeds-$t.log" >&2; exit 1; }
    local status=0 d
    : >"$OUT/dict-$t"
    for d in $(dicts "$t"); do cat "$ROOT/Fuzz/dicts/$d.dict" >>"$OUT/dict-$t"; done
    "$bin" "$corpus" "$seeds" -dict="$OUT/dict-$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
        -detect_leaks=0 -artifact_prefix="$art/" -print_final_stats=1 -close_fd_mask=1 >"$log" 2>&1 || status=$?
    local execs crashes
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    crashes=$(find "$art" -type f | wc -l)
    local line
    line=$(printf '%s  %-15s %6ss  %10s executions  exit %s  %s crasher(s) in %s' "$(date -u +%FT%TZ)" "$t" "$secs" \
        "${execs:-?}" "$status" "$crashes" "${art#"$ROOT"/}")
    echo "$line" | tee -a "$OUT/fuzz-results.txt"
    [ "$status" -eq 0 ] || { grep -m1 -E "ERROR|Fatal error|fatal error|deadly signal|timeout" "$log" >&2 || true; }
    return 0
}

[ $# -ge 2 ] || usage
mkdir -p "$OUT"
case $1 in
  all)
    secs=$2
    for t in "${TARGETS[@]}"; do build "$t"; done
    if [ "${FUZZ_JOBS:-1}" -ge 2 ]; then
      for ((i = 0; i < ${#TARGETS[@]}; i += 2)); do
        fuzz "${TARGETS[$i]}" "$secs" &
        [ $((i + 1)) -lt ${#TARGETS[@]} ] && fuzz "${TARGETS[$((i + 1))]}" "$secs" &
        wait
      done
    else
      for t in "${TARGETS[@]}"; do fuzz "$t" "$secs"; done
    fi ;;
  repro)
    [ $# -eq 3 ] || usage; check_target "$2"; build "$2"
    "$(binary "$2")" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 -detect_leaks=0 "$3" ;;
  minimize)
    [ $# -eq 3 ] || usage; check_target "$2"; build "$2"
    "$(binary "$2")" -minimize_crash=1 -runs=20000 -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
        -detect_leaks=0 -exact_artifact_path="$3.min" "$3" ;;
  *)
    check_target "$1"; build "$1"; fuzz "$1" "$2" ;;
esac
