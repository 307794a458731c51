# wasmboost: the two commands a user needs are `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
WASM_TARGET := wasm32-wasip2

.PHONY: run test bench bench-scale soak callgrind setup wasm-target examples guests build build-release build-bench python-env sdk-python-test client-python-test client-python-typecheck fmt clippy check

wasm-target:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

# Everything `make test` needs on a bare machine: the servers the harness starts (apt, when root;
# otherwise it prints the command to run), python3-venv and the wasm target. Quick when present.
setup:
	./scripts/setup.sh

examples: wasm-target
	cd examples && $(CARGO) build --release --target $(WASM_TARGET)

guests: wasm-target
	cd tests/guests && $(CARGO) build --release --target $(WASM_TARGET)

build-release:
	$(CARGO) build --release -p wasmboost-cli

# The release binary and the in-process queue benchmark in one build, for every benchmark
# script: a separate `-p wasmboost-worker` build resolves features per package and compiles
# wasmtime a second time.
build-bench:
	$(CARGO) build --release -p wasmboost-cli -p wasmboost-worker --bin wasmboost --example queue_bench

# The whole workspace with its tests, as `cargo test --workspace` resolves features: a `-p`
# build resolves them per package and compiles wasmtime a second time.
build:
	$(CARGO) build --workspace --all-targets

# The main job on the embedded broker, no server needed: one isolated run, then serve + deploy +
# publish 10 000 tasks + watch them drain + one RPC call.
run: build-release examples
	./target/release/wasmboost run examples/target/$(WASM_TARGET)/release/add.wasm --payload '{"x": 1, "y": 2}'
	./scripts/demo.sh

python-env:
	./scripts/setup-python.sh

# The Python SDK's pure-Python unit tests, on the machine's CPython (no component, no host).
sdk-python-test:
	python3 -m unittest discover -s guest-sdk/python/tests

# The producer client (clients/python) against a real `wasmboost serve` it starts (the debug
# binary from `build`, the add and flaky components from `examples` and `guests`).
client-python-test: build examples guests
	cd clients/python && python3 -m unittest discover -s tests -t .

# The client's type hints, strictly (mypy in the project venv that python-env made).
client-python-typecheck: python-env
	VENV="$${WASMBOOST_PY_VENV:-$(CURDIR)/.venv}"; \
	"$$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "mypy==2.4.1" && \
	cd clients/python && "$$VENV/bin/python" -m mypy --strict wasmboost tests

test: setup examples guests build python-env sdk-python-test client-python-test client-python-typecheck
	$(CARGO) test --workspace

bench: build-bench examples guests
	./scripts/bench.sh

# The scaling curve at full size: 1/2/3 hosts in their own network namespaces on one Redis, 3 000
# sleeping tasks each (needs root or CAP_NET_ADMIN; scripts/bench-scale.sh).
bench-scale: build-bench guests
	./scripts/bench-scale.sh

# Long-run flatness, not part of `make test`: 1 M no-op tasks through one `serve` on the embedded
# broker and on Redis, RSS and fds sampled, the RSS slope after warm-up (scripts/soak.sh).
soak: build-bench examples
	./scripts/soak.sh

# Instructions per task from valgrind's callgrind, by the difference of two run lengths (start-up
# cancels out; the number does not move with the machine's load): per isolated `add` call, per
# queued task through `serve` on the embedded broker and on Redis (scripts/callgrind.sh).
callgrind: build-bench examples
	./scripts/callgrind.sh

fmt:
	$(CARGO) fmt --all

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

check: fmt clippy test
