# Two commands do everything on a fresh machine: `make demo` and `make test`.
SHELL  := bash
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# The demo has its own venv with only what the notebooks need (`.[notebook]` and JupyterLab), so
# `make test`'s .venv is left alone. The simulator runs SIM_SPEED times as long as the service:
# at 0.05 the server holds a 5 s clip about 1.3 s. Run All to the first playable video measured
# 8.3-12.9 s in Chromium on a 2-core VM at load 10 (the studio starts in ~1.2 s, then the poller's
# first look comes at ~4.5 s whatever the speed, so a lower speed gains nothing).
DEMO_VENV ?= .venv-demo
DEMO_STAMP := $(DEMO_VENV)/.installed-stamp
DEMO_PORT ?= 8888
SIM_SPEED ?= 0.05
QUICKSTART := /lab/tree/notebooks/01_quickstart.ipynb

.PHONY: install demo-install system-deps demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Tools the tests drive from outside Python: jq and node run the seed's own examples, and
# Debian's chromium is the browser Playwright drives (no browser is ever downloaded).
# Debian's postgresql: the team tests' throwaway cluster when no server answers at :5432.
system-deps:
	@missing=""; \
	for tool in jq node chromium; do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	case "$$missing" in *node*) missing="$${missing/node/nodejs}";; esac; \
	if [ -z "$$SEEDANCE_TEST_POSTGRES" ] && ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null \
	  && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then missing="$$missing postgresql"; fi; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; apt-get update -q && apt-get install -y -q $$missing; fi

$(DEMO_STAMP): pyproject.toml
	$(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/python -m pip install -q --upgrade pip
	$(DEMO_VENV)/bin/python -m pip install -q -e '.[notebook]' 'jupyterlab>=4.2'
	touch $(DEMO_STAMP)

# JupyterLab opens (and prints, with its token) the quickstart itself, not the Launcher.
demo: $(DEMO_STAMP)
	@echo "Simulated Seedance at SEEDANCE_SIM_SPEED=$(SIM_SPEED): renders take $(SIM_SPEED)x the real time."
	@echo "The quickstart opens at http://localhost:$(DEMO_PORT)$(QUICKSTART) (the token is in the URL printed below)."
	SEEDANCE_SIM_SPEED=$(SIM_SPEED) $(DEMO_VENV)/bin/jupyter lab --allow-root --port=$(DEMO_PORT) \
	  --ServerApp.root_dir=. --ServerApp.default_url=$(QUICKSTART) --LabApp.default_url=$(QUICKSTART)

lint: install
	$(VENV)/bin/ruff check .

test: install system-deps lint
	$(PY) -m pytest

bench: install
	$(PY) -m benchmarks

demo-install: $(DEMO_STAMP)

clean:
	rm -rf $(VENV) $(DEMO_VENV) .pytest_cache .ruff_cache
