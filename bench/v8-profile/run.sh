#!/bin/bash
# Profiles the bundle under V8 (node). Usage:
#   bench/v8-profile/run.sh [module.wasm]   # default: what build.sh made; run build.sh after a change
# Env: REQUESTS (sampling, default 2000000), WARMUP (20000), CG_REQUESTS (5000), CG_WARMUP (5000),
#      SKIP_CPU=1 / SKIP_CG=1 to skip the sampling / callgrind part.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
RESULTS=$(cd "$HERE/../.." && pwd)/bench/results/v8-profile
WASM=$(realpath "${1:-$RESULTS/shipped.wasm}")
TAG=$(basename "$WASM" .wasm)
OUT=$RESULTS; mkdir -p "$OUT"
NODE_FLAGS="--no-liftoff"   # as Envoy (proxy-wasm-cpp-host sets v8_flags.liftoff = false): TurboFan only
node $NODE_FLAGS "$HERE/harness.mjs" --wasm "$WASM" --check-only --verbose > "$OUT/$TAG.check.txt"
tail -n 1 "$OUT/$TAG.check.txt"

if [ -z "${SKIP_CPU:-}" ]; then
  # 1. Sampling profile (time), the measured loop only (the harness starts/stops the profiler).
  node $NODE_FLAGS "$HERE/harness.mjs" --wasm "$WASM" --warmup "${WARMUP:-20000}" --requests "${REQUESTS:-2000000}" \
       --profile "$OUT/$TAG.cpuprofile" --interval 50
  python3 "$HERE/analyze.py" "$OUT/$TAG.cpuprofile" --wasm "$WASM" > "$OUT/$TAG.time.md"
  echo "wrote $OUT/$TAG.time.md"
fi

if [ -z "${SKIP_CG:-}" ]; then
  # 2. Instruction counts: callgrind on node, instrumentation switched on for the measured loop only;
  #    V8-generated code named through node's perf map (/tmp/perf-PID.map).
  rm -f "$OUT"/callgrind.out.*
  N=${CG_REQUESTS:-5000}
  (cd "$OUT" && valgrind --tool=callgrind --instr-atstart=no --dump-instr=yes --dump-line=no \
      --compress-pos=no --compress-strings=no --smc-check=all-non-file \
      --callgrind-out-file="$OUT/callgrind.out.%p" \
      node $NODE_FLAGS --perf-basic-prof "$HERE/harness.mjs" --wasm "$WASM" \
      --warmup "${CG_WARMUP:-5000}" --requests "$N" --callgrind 2> "$OUT/valgrind.log")
  CG=$(ls "$OUT"/callgrind.out.* | head -n 1); PID=${CG##*.}
  python3 "$HERE/cgprof.py" "$CG" "/tmp/perf-$PID.map" --requests "$N" --wasm "$WASM" --all "$OUT/$TAG.functions.tsv" > "$OUT/$TAG.instructions.md"
  mv "$CG" "$OUT/$TAG.callgrind.out"; mv "/tmp/perf-$PID.map" "$OUT/$TAG.perf.map"; rm -f "$OUT"/isolate-*-v8.log
  echo "wrote $OUT/$TAG.instructions.md and $OUT/$TAG.functions.tsv"
fi

if [ -f "$OUT/$TAG.cpuprofile" ] && [ -f "$OUT/$TAG.functions.tsv" ]; then
  python3 "$HERE/combine.py" "$OUT/$TAG.cpuprofile" "$OUT/$TAG.functions.tsv" --wasm "$WASM" > "$OUT/$TAG.summary.md"
  echo "wrote $OUT/$TAG.summary.md (top 30 by sampled self time, with callgrind instructions alongside)"
fi
