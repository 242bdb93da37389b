# Two targets do all the set-up on a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 7071
PYTEST_ARGS ?=
CHROMIUM ?= /usr/bin/chromium
NGINX ?= /usr/sbin/nginx
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo)
PIP := $(PY) -m pip install --disable-pip-version-check --progress-bar off

.PHONY: run test lint openapi bench setup setup-run clean

setup-run: $(VENV)/.host-installed node_modules/.installed local.settings.json
setup: setup-run $(VENV)/.installed $(CHROMIUM) $(NGINX)

$(VENV)/.created:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	touch $@

# What running needs (the app and devhost); test tools come with `make test`.
$(VENV)/.host-installed: $(VENV)/.created requirements.txt requirements-host.txt
	@echo "Installing the app's and devhost's Python packages into $(VENV) ..."
	$(PIP) -r requirements-host.txt
	touch $@

$(VENV)/.installed: $(VENV)/.host-installed requirements-dev.txt
	@echo "Installing the test tools into $(VENV) ..."
	$(PIP) --quiet -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	@echo "Installing Azurite (npm) ..."
	npm install --no-audit --no-fund --loglevel=error --omit-lockfile-registry-resolved
	touch $@

# The page's browser tests drive Debian's chromium (a downloaded browser cannot be had here).
$(CHROMIUM):
	@echo "Installing Debian's chromium for the chat page's browser tests ..."
	$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium \
		|| echo "WARNING: chromium could not be installed; the page's browser tests will be skipped"

# The front-end tests put Debian's nginx in front of devhost (a real reverse proxy terminating TLS).
$(NGINX):
	@echo "Installing Debian's nginx-light for the front-end tests ..."
	$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nginx-light \
		|| echo "WARNING: nginx could not be installed; the front-end tests will be skipped"

local.settings.json:
	cp local.settings.example.json $@

run: setup-run
	$(PY) -m devhost start --azurite --host $(HOST) --port $(PORT)

# The OpenAPI document is generated from the routes and their declarations (api/spec.py).
openapi: setup-run
	$(PY) -m api.openapi_document openapi.json

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	$(PY) -m bench

clean:
	rm -rf $(VENV) node_modules .azurite .devhost .pytest_cache .test-output
