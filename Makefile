# uepoll: build, test, demo, benchmark.
#
#   make          the preload library and the C programs
#   make test     Rust unit tests, loom models, the conformance suite on the kernel and
#                 under uepoll, a stress run under uepoll, the no-syscall check,
#                 CPython's own epoll/selectors/asyncio suites on both
#   make demo     the bundled stress and wait benchmark through `uepoll ab`, all four
#                 engines side by side (about a minute)
#   make deps     install the Debian packages the tests need (scripts/install-deps.sh;
#                 as root, else it prints the command); a prerequisite of make test
#   make test-cli      the uepoll command: run, ab, trace, errors
#   make test-inventory every libc fd entry point classified (docs/interposition.md)
#   make test-external  CPython's epoll/selectors/asyncio suites and the kernel's epoll
#                       selftests, kernel and uepoll
#   make test-diff      the differential test: kernel epoll vs uepoll, step by step
#   make fuzz           the differential test as a soak (FUZZ_MINUTES, default 10)
#   make test-real      redis, nginx, memcached, an asyncio echo server: kernel vs uepoll
#   make test-torture   threads, signals, fork/exec/spawn torture: kernel, then uepoll
#   make soak           token-conservation soak under uepoll (SOAK_MINUTES, default 10)
#   make loom     the loom models of the engine's protocol
#   make bench    the full A/B benchmark (scripts/bench.sh, 12 to 15 minutes): every
#                 workload, five interleaved runs per side (nine for the churn, wake-up
#                 latency and eventfd target rows and issue 4's hooks A/B, each round of
#                 those run again if the host moved its CPUs during it); rewrites
#                 docs/benchmarks.md and its two SVG charts

CC      ?= gcc
CFLAGS  ?= -O2 -g -Wall -Wextra -Werror -pthread
BUILD   := build
LIB     := target/release/libuepoll.so
PROGS   := $(BUILD)/conformance $(BUILD)/stress $(BUILD)/bench-wait $(BUILD)/bench-ctl $(BUILD)/fork-stress \
           $(BUILD)/bench-latency $(BUILD)/bench-eventfd $(BUILD)/bench-idle $(BUILD)/bench-unserved \
           $(BUILD)/bench-mem $(BUILD)/bench-atomics $(BUILD)/difftest $(BUILD)/torture \
           $(BUILD)/conformance-fortify $(BUILD)/difftest-fortify $(BUILD)/rawcall-served \
           $(BUILD)/spawn-served $(BUILD)/promote-served $(BUILD)/bench-wakeprim \
           $(BUILD)/bench-placement
CARGO   ?= cargo
# nginx and memcached install into /usr/sbin, which a user's PATH may lack.
export PATH := $(PATH):/usr/local/sbin:/usr/sbin:/sbin


.PHONY: docs-check
.PHONY: all lib count-lib spans-lib deps test test-rust test-cli test-inventory test-conformance test-diff fuzz test-stress test-torture soak test-nosyscall test-external test-real test-real-quick loom demo bench test-bench-smoke clippy fmt clean

all: lib $(PROGS)

lib:
	$(CARGO) build --release

# The library with the locked-instruction counters (cargo feature count-atomics), for
# bench-atomics; its own target directory, so the release library stays as it is.
COUNT_LIB := target/count/release/libuepoll.so
count-lib:
	$(CARGO) build --release --lib --features count-atomics --target-dir target/count

# The library that times its own code in the hooks that carry a wake-up (cargo feature
# spans), for the latency group of make bench; its own target directory too.
spans-lib:
	$(CARGO) build --release --lib --features spans --target-dir target/spans

$(BUILD)/%: c-tests/%.c | $(BUILD)
	$(CC) $(CFLAGS) -o $@ $<

# conformance.c includes its bad-input groups from a second file; the benchmarks
# share a header.
$(BUILD)/conformance: c-tests/conformance-hostile.inc.c c-tests/conformance-inflight.inc.c \
                     c-tests/conformance-badptr.inc.c c-tests/conformance-gaps.inc.c \
                     c-tests/conformance-rawcall.inc.c c-tests/conformance-spawn.inc.c \
                     c-tests/conformance-promote.inc.c
$(BUILD)/bench-wait $(BUILD)/bench-ctl $(BUILD)/bench-idle $(BUILD)/bench-mem \
$(BUILD)/bench-atomics $(BUILD)/bench-placement: c-tests/bench-common.h
$(BUILD)/conformance $(BUILD)/difftest: c-tests/epoll-bits.h
$(BUILD)/stress $(BUILD)/bench-eventfd $(BUILD)/bench-latency \
$(BUILD)/bench-wakeprim: c-tests/process-usage.h

# The torture is one program built from a file per mode on shared code.
TORTURE_SRC := c-tests/torture.c c-tests/torture-common.c c-tests/torture-churn.c \
               c-tests/torture-signals.c c-tests/torture-spawn.c
$(BUILD)/torture: $(TORTURE_SRC) c-tests/torture-common.h | $(BUILD)
	$(CC) $(CFLAGS) -o $@ $(TORTURE_SRC)

# The conformance suite and the difftest built a second time as Debian builds programs,
# fortified: glibc then routes poll, ppoll, dprintf, read, recv... through their
# __*_chk entry points, which the library must hook as well.
FORTIFY := -O2 -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3
$(BUILD)/conformance-fortify: c-tests/conformance.c c-tests/conformance-hostile.inc.c \
                              c-tests/conformance-inflight.inc.c c-tests/conformance-badptr.inc.c \
                              c-tests/conformance-gaps.inc.c c-tests/conformance-rawcall.inc.c \
                              c-tests/conformance-spawn.inc.c c-tests/conformance-promote.inc.c \
                              c-tests/epoll-bits.h | $(BUILD)
	$(CC) $(CFLAGS) $(FORTIFY) -o $@ $<
$(BUILD)/difftest-fortify: c-tests/difftest.c c-tests/epoll-bits.h | $(BUILD)
	$(CC) $(CFLAGS) $(FORTIFY) -o $@ $<

$(BUILD):
	mkdir -p $(BUILD)

deps:
	scripts/install-deps.sh

test: deps all test-rust test-cli test-inventory loom test-conformance test-diff test-stress test-torture test-nosyscall test-external test-real-quick docs-check
	@echo "make test: all suites passed"

# The second run builds the engine with its locked-instruction counters
# (count-atomics), so that the tests that pin counts run too, and with the hooks'
# timing (spans), so that its tests run (neither changes what the other measures).
test-rust:
	$(CARGO) test --lib --bins
	$(CARGO) test --lib --features count-atomics,spans --target-dir target/count

test-cli: all
	scripts/cli-check.sh target/release/uepoll $(BUILD)

# Every glibc function that can reach an fd is classified in docs/interposition.md,
# and the table's hooked rows are exactly what the library exports.
test-inventory: lib
	scripts/libc-inventory.sh $(LIB) docs/interposition.md

# --no-default-features: the models need only the library, not the uepoll command's
# crates (docs/dependencies.md).
loom:
	RUSTFLAGS="--cfg loom" $(CARGO) test --release --lib --no-default-features --target-dir target/loom loom_models -- --test-threads=1

test-conformance: all
	scripts/conformance.sh $(LIB) $(BUILD)/conformance
	scripts/conformance.sh $(LIB) $(BUILD)/conformance-fortify
	# Raw syscall() epoll, close, pipe2 and eventfd2 calls are served: no demotion,
	# at least one engine event a round (200 rounds).
	UEPOLL_STATS=1 LD_PRELOAD=$(abspath $(LIB)) $(BUILD)/rawcall-served 2>&1 | \
	  awk '{print} $$1=="demotions"{d=$$2} $$1=="engine_events"{e=$$2} \
	       END{if (d!="0" || e<200) {print "rawcall-served: demotions " d ", engine_events " e " (want 0, >= 200)"; exit 1}}'
	# Close-on-exec files stay served across posix_spawn, system and popen: no
	# demotion, at least one engine event a round (30 rounds).
	UEPOLL_STATS=1 LD_PRELOAD=$(abspath $(LIB)) $(BUILD)/spawn-served 2>&1 | \
	  awk '{print} $$1=="demotions"{d=$$2} $$1=="engine_events"{e=$$2} \
	       END{if (d!="0" || e<30) {print "spawn-served: demotions " d ", engine_events " e " (want 0, >= 30)"; exit 1}}'
	# After fork+exec round trips the instance is served again, and so are the pipe
	# and eventfd made before the forks: the parent's block (the one that counted the
	# promotions) shows 400 echo events, 2 pending and 400 on the pre-fork files.
	UEPOLL_STATS=1 LD_PRELOAD=$(abspath $(LIB)) $(BUILD)/promote-served 2>&1 | \
	  awk '{print} $$1=="engine_events"{e=$$2} $$1=="promotions" && $$2>0 {p=$$2; pe=e; pf=-1} \
	       $$1=="promoted_files" && pf==-1 {pf=$$2} \
	       END{if (p<1 || pe<802 || pf<2) {print "promote-served: promotions " p ", engine_events " pe ", promoted_files " pf " (want >= 1, >= 802, >= 2)"; exit 1}}'

test-diff: all
	scripts/difftest.sh $(LIB) $(BUILD)/difftest
	scripts/difftest.sh $(LIB) $(BUILD)/difftest-fortify

# A long differential soak under uepoll, seeded from the clock (FUZZ_MINUTES, default 10).
FUZZ_MINUTES ?= 10
fuzz: all
	LD_PRELOAD=$$(realpath $(LIB)) $(BUILD)/difftest -s $$(date +%s%N) -n 500 -t $$(( $(FUZZ_MINUTES) * 60 ))

test-stress: all
	scripts/stress-check.sh $(LIB) $(BUILD)/stress
	@echo "== fork-stress: fork 300 times while 3 threads churn the engine (uepoll)"
	timeout 300 env LD_PRELOAD=$$(realpath $(LIB)) $(BUILD)/fork-stress -f 300 -t 3

# Concurrency torture (c-tests/torture*.c) on the kernel, then under uepoll: about 60 s.
test-torture: all
	scripts/torture.sh $(LIB) $(BUILD)/torture

# Token-conservation soak under uepoll: 16 threads, LT then ET, SOAK_MINUTES each.
SOAK_MINUTES ?= 10
soak: all
	SOAK_MINUTES=$(SOAK_MINUTES) scripts/soak.sh $(LIB) $(BUILD)/stress

test-nosyscall: all
	scripts/nosyscall-check.sh $(LIB) $(BUILD)/bench-wait

test-external: all
	scripts/external-check.sh $(LIB)

# Real programs from Debian packages (see docs/real-programs.md): the full run with
# three interleaved runs per side, and a one-run version for make test.
test-real: lib
	scripts/real-check.sh $(LIB)

test-real-quick: lib
	scripts/real-check.sh --quick $(LIB)

demo: all
	scripts/ab.sh --quick

bench: all count-lib spans-lib
	scripts/bench.sh

# The benchmark pipeline end to end with tiny durations (under a minute); writes
# build/bench-quick/, never docs/.
test-bench-smoke: all count-lib spans-lib
	scripts/bench.sh --quick

docs-check: all
	scripts/docs-check.sh

clippy:
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --all-targets --features count-atomics,spans --target-dir target/count -- -D warnings

fmt:
	$(CARGO) fmt --check

clean:
	$(CARGO) clean
	rm -rf $(BUILD)
