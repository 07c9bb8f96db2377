# `make chaos`: the chaos harness (tests/chaos, docs/reliability.md). Included from the
# Makefile with `include packaging/chaos.mk`; `make fuzz` stays in the Makefile.
# Bounded: finishes by itself after CHAOS_MINUTES of faults (+ ~1 min to start and check);
# exits non-zero when any check fails. CHAOS_SEED replays another fault schedule;
# CHAOS_ARGS passes more options (e.g. CHAOS_ARGS="--run-dir /tmp/chaos --kinds reset,blackhole").
CHAOS_MINUTES ?= 10
CHAOS_SEED    ?= 20261203
CHAOS_ARGS    ?=

chaos: system-deps-test $(STAMP)
	CHAOS_MINUTES=$(CHAOS_MINUTES) CHAOS_SEED=$(CHAOS_SEED) $(PY) -m tests.chaos $(CHAOS_ARGS)
