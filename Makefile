# Syncwatch: every set-up step lives here, so that a fresh Debian/Ubuntu machine needs
# nothing but `make run` or `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        ?= .venv
CORE_VENV   ?= .venv-core
BIN         := $(VENV)/bin
PY          := $(BIN)/python
STAMP       := $(VENV)/.syncwatch-installed
CORE_STAMP  := $(CORE_VENV)/.syncwatch-installed
ARTIFACTS   ?= artifacts

.PHONY: help run run-xvfb test check lint typecheck layers test-core test-all bench fuzz chaos package package-test clean system-deps-run system-deps-test

help:
	@echo "make run     - set up everything and start Syncwatch with an embedded hub and the demo workload"
	@echo "make test    - set up everything the tests need and run the whole suite"
	@echo "make bench   - run every benchmark and print the table"
	@echo "make fuzz    - the protocol parser and the hub's publish path under 100,000+ inputs"
	@echo "make chaos   - hub, publishers and the app under a seeded fault schedule (CHAOS_MINUTES=10)"
	@echo "make package - the one-folder desktop build (PyInstaller) and its smoke test"

system-deps-run:
	@packaging/install-system-deps run

system-deps-test:
	@packaging/install-system-deps test

# The venv is rebuilt from scratch when pyproject.toml changes: an in-place PySide6
# downgrade has been seen to leave a broken package behind.
$(STAMP): pyproject.toml
	@rm -rf $(VENV)
	@PYTHON=$$(packaging/find-python) && echo "Using $$PYTHON" && $$PYTHON -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -e '.[test]'
	@touch $@

# A second, Qt-free environment: the core's tests must pass where PySide6 is not importable.
$(CORE_STAMP): pyproject.toml
	@rm -rf $(CORE_VENV)
	@PYTHON=$$(packaging/find-python) && $$PYTHON -m venv $(CORE_VENV)
	@$(CORE_VENV)/bin/python -m pip install -q 'orjson>=3.10,<4' 'pytest>=8,<10' 'pytest-timeout>=2.3,<3' 'hypothesis>=6.100,<7'
	@touch $@

run: system-deps-run $(STAMP)
	@if [ -z "$${DISPLAY:-}" ] && [ -z "$${WAYLAND_DISPLAY:-}" ]; then \
	  echo "make run: no display (neither DISPLAY nor WAYLAND_DISPLAY is set)."; \
	  echo "  Syncwatch is a desktop app. On a machine without a screen, run it under a virtual X server:"; \
	  echo "      make run-xvfb        (Xvfb + a system tray; screenshots with: import -display :77 -window root shot.png)"; \
	  echo "  or, from a desktop session: make run"; \
	  exit 2; \
	fi
	$(BIN)/syncwatch --demo

run-xvfb: system-deps-test $(STAMP)
	packaging/with-xvfb $(BIN)/syncwatch --demo

lint: $(STAMP)
	$(BIN)/ruff check app tests benchmarks
	$(BIN)/ruff format --check app tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports

test-core: $(CORE_STAMP)
	cd tests/core && PYTHONPATH=$(CURDIR)/app ../../$(CORE_VENV)/bin/python -m pytest -q -p no:cacheprovider -c /dev/null --rootdir . -W error .

test-all: $(STAMP)
	mkdir -p $(ARTIFACTS)
	SYNCWATCH_ARTIFACTS=$(CURDIR)/$(ARTIFACTS) $(BIN)/python -m pytest -q

check: lint typecheck layers

# The packaged build's smoke test is part of the suite: a bundle that misses a module
# fails here, not on a user's desktop.
test: system-deps-test $(STAMP) check test-core test-all package

bench: $(STAMP)
	$(PY) -m benchmarks

# atheris (coverage-guided) is installed only here; without it benchmarks.fuzz uses hypothesis.
fuzz: $(STAMP)
	$(PY) -m pip install -q 'atheris>=3.1,<4' || echo "fuzz: atheris unavailable, using hypothesis"
	$(PY) -m benchmarks.fuzz

include packaging/package.mk
include packaging/chaos.mk

clean:
	rm -rf $(VENV) $(CORE_VENV) $(ARTIFACTS) build dist .mypy_cache .ruff_cache .pytest_cache
