#!/bin/bash
# Builds the bundle with function names kept, then makes the shipped variant (wasmesh-prune + wasm-opt -Oz, names kept).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
MAIN=$(cd "$HERE/../.." && pwd)
OUT=$MAIN/bench/results/v8-profile; mkdir -p "$OUT"
# Its own target directory: the names kept would otherwise rebuild the shipped modules.
TGT=$MAIN/target/v8-profile
(cd "$MAIN" && CARGO_TARGET_DIR=$TGT CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=0 \
   cargo build -q -p wasmesh --release --target wasm32-wasip1)
cp "$TGT/wasm32-wasip1/release/wasmesh.wasm" "$OUT/raw.wasm"
(cd "$MAIN" && cargo run -q --release -p wasmesh-prune -- "$OUT/raw.wasm" "$OUT/pruned.wasm")
# Same flags as the Makefile's WASM_OPT_FLAGS, plus -g (keep the name section) and --strip-dwarf.
# DWARF must be stripped in a separate run first: with DWARF present and -g, wasm-opt skips most
# of -Oz to keep DWARF valid (1412 functions instead of 805). Stripped first, -Oz -g produces
# a code section byte-identical to -Oz without -g.
FEAT="--enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int --enable-mutable-globals --enable-multivalue --enable-reference-types"
wasm-opt $FEAT -g --strip-dwarf "$OUT/pruned.wasm" -o "$OUT/pruned.nodwarf.wasm"
wasm-opt -Oz --converge --low-memory-unused $FEAT -g "$OUT/pruned.nodwarf.wasm" -o "$OUT/shipped.wasm"
# raw.wasm without DWARF (what cargo produced, no wasm-opt; same code as raw.wasm)
wasm-opt $FEAT -g --strip-dwarf "$OUT/raw.wasm" -o "$OUT/raw.nodwarf.wasm"
rm "$OUT/pruned.wasm" "$OUT/pruned.nodwarf.wasm"
python3 "$HERE/wasmnames.py" --check "$OUT/raw.wasm" "$OUT/shipped.wasm"
ls -la "$OUT"/*.wasm
