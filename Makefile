# The only entry point: `make run`, `make test`, `make check`.
# uv is used from PATH, or installed once into .tools/ with the machine's python3.
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test check check-static format install browser spreadsheet clients fuzz

$(CURDIR)/.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv

install: | $(UV)
	$(UV) sync --frozen

run: install
	$(UV) run --frozen workplan db upgrade
	$(UV) run --frozen workplan seed
	$(UV) run --frozen workplan serve --webhooks --host $(HOST) --port $(PORT)

# Tools the tests drive, from Debian's packages (never a downloaded build): installed when missing
# and apt-get can (as root); otherwise their tests skip, saying why (in CI they fail instead).
# $(call debian,COMMAND,PACKAGE,WHAT)
define debian
	@if command -v $(1) >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing Debian's $(2) for the $(3) tests"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq --no-install-recommends $(2) >/dev/null \
	  || { apt-get update -qq && apt-get install -y -qq --no-install-recommends $(2) >/dev/null; } \
	  || echo "Could not install $(2): the $(3) tests will skip"; \
	else echo "No $(1), and no apt-get as root to install it: the $(3) tests will skip"; fi
endef

browser:  # the pages in Chromium (tests/pages/test_browser.py)
	$(call debian,chromium,chromium,browser)

spreadsheet:  # the CSV in LibreOffice Calc (tests/test_spreadsheet.py)
	$(call debian,soffice,libreoffice-calc-nogui,spreadsheet)

# The generated-client and OpenAPI lint tests (tests/clients/) run the Node tools pinned in its
# package-lock.json, installed here from the npm registry whenever the lock changes. Without npm
# those tests skip and say why (in CI they fail).
CLIENT_TOOLS := tests/clients/node_modules/.package-lock.json

$(CLIENT_TOOLS): tests/clients/package.json tests/clients/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  SCARF_ANALYTICS=false npm ci --prefix tests/clients --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "No npm: the generated-client and OpenAPI lint tests will skip"; fi

clients: $(CLIENT_TOOLS)

test: install browser spreadsheet clients
	$(UV) run --frozen pytest

# schemathesis, every check and phase, against a live server on SQLite (and PostgreSQL with
# WORKPLAN_TEST_POSTGRES_URL), longer than the bounded run of `make test`; a new seed each time
# unless FUZZ_SEED is given. See the README's "Fuzzing".
FUZZ_EXAMPLES ?= 200
FUZZ_SEED ?= $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')
fuzz: install
	WORKPLAN_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) WORKPLAN_FUZZ_SEED=$(FUZZ_SEED) \
	  $(UV) run --frozen pytest tests/api/test_fuzz.py -s -p no:cacheprovider --timeout=0

check-static: install
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen ruff check .
	$(UV) run --frozen mypy

check: check-static test

format: install
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .
