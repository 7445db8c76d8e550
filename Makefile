# The two commands: `make run` (the hub on this machine, no services needed) and `make test`.
# Everything installs into .venv; the install steps are skipped while pyproject.toml is unchanged.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# WITH_INFERENCE=1 also installs the `inference` extra (torch, transformers). On the consortium's development
# machines torch==2.13.0 resolves to a CPU wheel that is already on disk; a bare `torch` would pull a
# multi-GB CUDA build. Override TORCH (e.g. TORCH=torch) where you want something else.
WITH_INFERENCE ?= 0
TORCH ?= torch==2.13.0
# Extra arguments for pytest, e.g. make test PYTEST_ARGS='-m "not browser" -x'
PYTEST_ARGS ?=

# Install stamps are keyed on the content of pyproject.toml, not its mtime (a fresh clone has new mtimes).
DEPS_KEY := $(shell (cat pyproject.toml 2>/dev/null || true) | sha256sum | cut -c1-16)
BASE_STAMP := $(VENV)/.installed-base-$(DEPS_KEY)
TEST_STAMP := $(VENV)/.installed-test-$(DEPS_KEY)
INFERENCE_STAMP := $(VENV)/.installed-inference-$(DEPS_KEY)
INFERENCE_DEPS := $(if $(filter 1 true yes,$(WITH_INFERENCE)),$(INFERENCE_STAMP))
RUN_DEPS := $(BASE_STAMP) $(INFERENCE_DEPS)

.PHONY: help run test lint install install-test install-inference migrate seed check-deploy clean clean-var

help:
	@echo "make run      start the hub (web + Celery worker) on http://$${HOST:-127.0.0.1}:$${PORT:-8000}/ with demo data"
	@echo "              WITH_INFERENCE=1 also installs torch/transformers ($(TORCH))"
	@echo "make test     install test dependencies, ruff check, the whole pytest suite (PYTEST_ARGS=... to narrow)"
	@echo "              WITH_INFERENCE=1 also installs torch/transformers, so the transformers tests run, not skip"
	@echo "make lint     ruff check ."
	@echo "make migrate / make seed      the first two steps of make run, alone"
	@echo "make check-deploy             manage.py check --deploy with your environment (set DEBUG=false etc.)"
	@echo "make clean-var                delete var/ (or $$VAR_DIR: the embedded database, blobs and queue)"

$(PY):
	@if [ -z "$(PYTHON)" ]; then echo "make: no python3.11 or python3 on PATH (set PYTHON=...)" >&2; exit 1; fi
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "make: Python >= 3.11 is needed, $(PYTHON) is " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)

$(BASE_STAMP): | $(PY)
	$(PY) -m pip install --quiet -e .
	@rm -f $(VENV)/.installed-base-*
	@touch $@

$(TEST_STAMP): | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-test-* $(VENV)/.installed-base-*
	@touch $@ $(BASE_STAMP)

$(INFERENCE_STAMP): | $(PY)
	$(PY) -m pip install --quiet -e '.[inference]' '$(TORCH)'
	@rm -f $(VENV)/.installed-inference-*
	@touch $@

install: $(RUN_DEPS)
install-test: $(TEST_STAMP) $(INFERENCE_DEPS)
install-inference: $(INFERENCE_STAMP)

run: $(RUN_DEPS)
	PYTHON=$(PY) scripts/run-embedded.sh

migrate: $(BASE_STAMP)
	DEBUG=$${DEBUG:-true} $(PY) manage.py migrate --noinput

seed: $(BASE_STAMP)
	DEBUG=$${DEBUG:-true} $(PY) manage.py seed_demo

lint: $(TEST_STAMP)
	$(BIN)/ruff check .

test: $(TEST_STAMP) $(INFERENCE_DEPS)
	@[ -x /usr/bin/chromium ] || echo "make test: /usr/bin/chromium is missing, so browser tests will be skipped (as root: apt-get install -y chromium)"
	@command -v git-lfs >/dev/null 2>&1 || echo "make test: git-lfs is missing, so the git clone/push tests will be skipped (as root: apt-get install -y git-lfs)"
	@# Both run even when ruff fails, so one run shows every problem; either failing fails make test.
	@echo "$(BIN)/ruff check ."; $(BIN)/ruff check .; lint=$$?; \
	echo "$(BIN)/pytest $(PYTEST_ARGS)"; $(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (exit 5); that is a failure, not a pass" >&2; fi; \
	if [ $$lint -ne 0 ]; then echo "make test: ruff check found problems" >&2; fi; \
	if [ $$rc -ne 0 ]; then exit $$rc; fi; exit $$lint

check-deploy: $(BASE_STAMP)
	$(PY) manage.py check --deploy --fail-level WARNING

clean:
	rm -rf staticfiles .pytest_cache .ruff_cache test-output
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

clean-var:
	rm -rf "$${VAR_DIR:-var}"
