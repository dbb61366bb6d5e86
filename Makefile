# The only entry point: `make run`, `make test`, `make check`.
# uv is used from PATH, or installed once into .tools/ with the machine's python3.
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test check check-static format install browser

$(CURDIR)/.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv

install: | $(UV)
	$(UV) sync --frozen

run: install
	$(UV) run --frozen workplan db upgrade
	$(UV) run --frozen workplan seed
	$(UV) run --frozen workplan serve --host $(HOST) --port $(PORT)

# The browser tests drive Debian's Chromium (never a downloaded build). Installed here when missing
# and apt-get can (as root); otherwise the browser tests skip, saying why.
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing Debian's chromium for the browser tests"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq --no-install-recommends chromium >/dev/null \
	  || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
	  || echo "Could not install chromium: the browser tests will skip"; \
	else echo "No chromium, and no apt-get as root to install it: the browser tests will skip"; fi

test: install browser
	$(UV) run --frozen pytest

check-static: install
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen ruff check .
	$(UV) run --frozen mypy

check: check-static test

format: install
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .
