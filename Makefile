# The only entry point: `make run`, `make test`, `make check`.
# uv is used from PATH, or installed once into .tools/ with the machine's python3.
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test check check-static format install

$(CURDIR)/.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv

install: | $(UV)
	$(UV) sync --frozen

run: install
	$(UV) run --frozen workplan db upgrade
	$(UV) run --frozen workplan seed
	$(UV) run --frozen workplan serve --host $(HOST) --port $(PORT)

test: install
	$(UV) run --frozen pytest

check-static: install
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen ruff check .
	$(UV) run --frozen mypy

check: check-static test

format: install
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .
