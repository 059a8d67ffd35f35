# Two commands for a fresh clone (only Python 3.11 needed): `make demo`, `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Hash-pinned locks (every file checked against its sha256 when installed):
# requirements/action.txt, what the GitHub Action installs (runtime dependencies and the
# build backend), and requirements/dev.txt, the same versions plus the dev and demo
# extras, what this Makefile installs. `make lock` keeps the current pins wherever
# pyproject.toml still accepts them; `make lock-upgrade` moves every pin to the newest.
LOCK := requirements/action.txt
DEV_LOCK := requirements/dev.txt
UV_VERSION := 0.13.9
UV_STAMP := $(VENV)/.uv-$(UV_VERSION)
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml requirements/action.in --universal \
	--python-version 3.11 --generate-hashes --no-config --custom-compile-command 'make lock' \
	--quiet

# What is derived from the registry and the CLI: the command table (docs/usage.md), the
# check table and IAM action list (docs/checks.md), and iam/policycheck-readonly.json;
# with the JSON Schemas of the policy and the report.
# Microsoft's SARIF Multitool (npm: a self-contained .NET build), pinned with its
# integrity hash in .ci/sarif-multitool/package-lock.json: the tests validate every SARIF
# file with it, with GitHub's rule set (tests/render/test_sarif.py).
SARIF_MULTITOOL_DIR := .ci/sarif-multitool
SARIF_MULTITOOL := $(SARIF_MULTITOOL_DIR)/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool

docs: schemas
	$(BIN)/python -m policycheck.generate.docs .

.PHONY: demo test lint docs lock lock-upgrade lock-check action-install-check schemas screenshot clean

# The dev environment from the lock, then this project (editable), built with the
# setuptools of the lock: nothing is installed unpinned or by a name alone.
$(STAMP): pyproject.toml $(DEV_LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --only-binary :all: -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/policycheck demo

$(SARIF_MULTITOOL): $(SARIF_MULTITOOL_DIR)/package-lock.json
	npm ci --prefix $(SARIF_MULTITOOL_DIR) --ignore-scripts --no-audit --no-fund --silent
	chmod u+x $(SARIF_MULTITOOL)
	touch $(SARIF_MULTITOOL)

# Two workers; each group of tests on one worker, the groups handed out in the order
# tests/conftest.py collects them (the long, named groups first).
test: $(STAMP) $(SARIF_MULTITOOL)
	$(BIN)/python -m pytest -q -n auto --dist loadgroup --no-loadscope-reorder

lint: $(STAMP) lock-check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/actionlint .github/workflows/*.yml

# uv, pinned, into the dev venv: it reads pyproject.toml without building the project and
# writes one lock for every platform and Python >= 3.11 (--universal) with the hashes of
# every file.
$(UV_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet 'uv==$(UV_VERSION)'
	touch $(UV_STAMP)

lock: $(UV_STAMP)
	$(UV_COMPILE) --output-file $(LOCK)
	$(UV_COMPILE) --extra dev --extra demo --constraint $(LOCK) --output-file $(DEV_LOCK)
	$(BIN)/python .ci/check_lock.py

lock-upgrade: $(UV_STAMP)
	$(UV_COMPILE) --upgrade --output-file $(LOCK)
	$(UV_COMPILE) --upgrade --extra dev --extra demo --constraint $(LOCK) --output-file $(DEV_LOCK)
	$(BIN)/python .ci/check_lock.py

# Offline: pins hashed, pyproject's requirements satisfied, no dev-only package in the
# action's lock, the same versions in both.
lock-check: $(STAMP)
	$(BIN)/python .ci/check_lock.py

# Online (the package index): the action's install step, run as it is, into a fresh venv.
action-install-check: $(STAMP)
	$(BIN)/python .ci/check_action_install.py

schemas: $(STAMP)
	$(BIN)/python -m policycheck.generate.schemas

# The README's picture of the HTML report: taken by the browser test (headless Chromium;
# apt-get install chromium chromium-driver), which otherwise writes only to a temporary path.
screenshot: $(STAMP)
	mkdir -p docs/images
	POLICYCHECK_SCREENSHOT=docs/images/report-html.png $(BIN)/python -m pytest -q \
		tests/render/test_html_browser.py -k screenshot
	test -s docs/images/report-html.png

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
