# uepoll: build, test, demo, benchmark.
#
#   make          the preload library and the C programs
#   make test     Rust unit tests, loom models, the conformance suite on the kernel and
#                 under uepoll, a stress run under uepoll, the no-syscall check,
#                 CPython's own epoll/selectors/asyncio suites on both
#   make demo     the bundled C programs on the kernel and under uepoll, side by side
#   make test-external  CPython's epoll/selectors/asyncio suites, kernel and uepoll
#   make loom     the loom models of the engine's protocol
#   make bench    the full A/B benchmark (longer runs)

CC      ?= gcc
CFLAGS  ?= -O2 -g -Wall -Wextra -Werror -pthread
BUILD   := build
LIB     := target/release/libuepoll.so
PROGS   := $(BUILD)/conformance $(BUILD)/stress $(BUILD)/bench-wait $(BUILD)/bench-ctl $(BUILD)/fork-stress
CARGO   ?= cargo

.PHONY: all lib test test-rust test-conformance test-stress test-nosyscall test-external loom demo bench clippy fmt clean

all: lib $(PROGS)

lib:
	$(CARGO) build --release

$(BUILD)/%: c-tests/%.c | $(BUILD)
	$(CC) $(CFLAGS) -o $@ $<

# conformance.c includes its bad-input groups from a second file.
$(BUILD)/conformance: c-tests/conformance-hostile.inc.c

$(BUILD):
	mkdir -p $(BUILD)

test: all test-rust loom test-conformance test-stress test-nosyscall test-external
	@echo "make test: all suites passed"

test-rust:
	$(CARGO) test --lib

loom:
	RUSTFLAGS="--cfg loom" $(CARGO) test --release --lib --target-dir target/loom loom_models -- --test-threads=1

test-conformance: all
	scripts/conformance.sh $(LIB) $(BUILD)/conformance

test-stress: all
	scripts/stress-check.sh $(LIB) $(BUILD)/stress
	@echo "== fork-stress: fork 300 times while 3 threads churn the engine (uepoll)"
	timeout 300 env LD_PRELOAD=$$(realpath $(LIB)) $(BUILD)/fork-stress -f 300 -t 3

test-nosyscall: all
	scripts/nosyscall-check.sh $(LIB) $(BUILD)/bench-wait

test-external: all
	scripts/external-check.sh $(LIB)

demo: all
	scripts/ab.sh --quick

bench: all
	scripts/ab.sh

clippy:
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --check

clean:
	$(CARGO) clean
	rm -rf $(BUILD)
