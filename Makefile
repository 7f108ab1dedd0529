# The two commands of the README: `make demo` and `make test`. Both install what is missing.
SHELL := /bin/bash
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
# Debian packages later parts need: the media plane (Janus), recordings (ffmpeg), browser tests,
# and loss injection inside test network namespaces.
SYSTEM_PACKAGES := janus janus-tools ffmpeg chromium iptables iproute2

.PHONY: demo test setup system-packages lint

demo: setup
	$(VENV)/bin/callscope serve --demo

test: setup lint
	$(VENV)/bin/pytest

lint: setup
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

setup: system-packages $(VENV)/.synced

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet 'uv==0.13.9'

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	touch $@

system-packages:
	@if ! command -v dpkg >/dev/null; then \
	  echo "warning: not Debian; install $(SYSTEM_PACKAGES) with your package manager"; exit 0; fi; \
	missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done | xargs); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "Callscope needs Debian packages that are not installed. Run as root:"; \
	  echo "  apt-get update && apt-get install -y $$missing"; \
	  echo "then run make again."; exit 1; fi; \
	echo "installing $$missing"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null
