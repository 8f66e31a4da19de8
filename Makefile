# Two commands do everything on a fresh machine: `make demo` and `make test`.
SHELL  := bash
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# The demo has its own venv with only what the notebooks need (`.[notebook]`, JupyterLab and
# Notebook 7, so the quickstart opens in either), so `make test`'s .venv is left alone. The simulator runs SIM_SPEED times as long as the service:
# at 0.05 the server holds a 5 s clip a median 2.1 s (1-8 s: the service's long tail). Run All,
# pressed once the kernel is up, to the first playable video measured 5.4-7.5 s in Chromium on a
# 2-core VM at load 9-13 (tests/browser/test_first_video.py): the video plays from the server's
# /files/ URL, and the studio's simulator renders it while the task runs.
DEMO_VENV ?= .venv-demo
DEMO_STAMP := $(DEMO_VENV)/.installed-stamp
DEMO_PORT ?= 8888
SIM_SPEED ?= 0.05
QUICKSTART := /lab/tree/notebooks/01_quickstart.ipynb
NB7_QUICKSTART := /notebooks/notebooks/01_quickstart.ipynb

.PHONY: install demo-install system-deps demo demo-notebook demo-voila demo-marimo test test-fast lint bench clean

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
	$(DEMO_VENV)/bin/python -m pip install -q -e '.[notebook]' 'jupyterlab>=4.2' 'notebook>=7.2'
	touch $(DEMO_STAMP)

# JupyterLab opens (and prints, with its token) the quickstart itself, not the Launcher.
demo: $(DEMO_STAMP)
	@echo "Simulated Seedance at SEEDANCE_SIM_SPEED=$(SIM_SPEED): renders take $(SIM_SPEED)x the real time."
	@echo "The quickstart opens at http://localhost:$(DEMO_PORT)$(QUICKSTART) (the token is in the URL printed below)."
	SEEDANCE_SIM_SPEED=$(SIM_SPEED) $(DEMO_VENV)/bin/jupyter lab --allow-root --port=$(DEMO_PORT) \
	  --ServerApp.root_dir=. --ServerApp.default_url=$(QUICKSTART) --LabApp.default_url=$(QUICKSTART)

# The same quickstart in Notebook 7 (installed by `make demo` too).
demo-notebook: $(DEMO_STAMP)
	@echo "The quickstart opens at http://localhost:$(DEMO_PORT)$(NB7_QUICKSTART) (token below)."
	SEEDANCE_SIM_SPEED=$(SIM_SPEED) $(DEMO_VENV)/bin/jupyter notebook --allow-root \
	  --port=$(DEMO_PORT) --ServerApp.root_dir=. --JupyterNotebookApp.default_url=$(NB7_QUICKSTART)

# The quickstart as a dashboard (Voilà runs every cell and shows only the outputs) and the
# marimo quickstart: both from the dev venv, which has voila and marimo. Press Run in marimo.
demo-voila: install
	SEEDANCE_SIM_SPEED=$(SIM_SPEED) $(VENV)/bin/voila --port=$(DEMO_PORT) \
	  notebooks/01_quickstart.ipynb

demo-marimo: install
	SEEDANCE_SIM_SPEED=$(SIM_SPEED) $(VENV)/bin/marimo edit --port=$(DEMO_PORT) \
	  notebooks/marimo_quickstart.py

lint: install
	$(VENV)/bin/ruff check .

# `make test TEST_WORKERS=2` spreads whole files over pytest-xdist workers (most tests wait on a
# simulator, a kernel or a browser, not the CPU). The default stays one process. Two full runs
# with two workers on this 2-core machine took 14 min 25 s and 14 min 21 s (0.61x and 0.64x
# the serial run), but the second failed two browser tests whose comparisons never appeared
# while another worker drove a second browser, and both ran 10 tests fewer: schemathesis gives
# each fuzzed operation of a test the same node id, and xdist, which schedules by node id,
# runs one of the six (tests/integration/test_simulator_fuzz.py). Serially all of them run.
TEST_WORKERS ?= 0

# CI's log ends with the 25 slowest tests: where the suite's time goes, run by run.
test: install system-deps lint
	$(PY) -m pytest --durations=25 $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile)

# The unit tier alone (tests/unit: pure modules, no server, no database), in well under a
# minute; `pytest tests/integration` and `pytest tests/system` are the other two tiers.
test-fast: install
	$(PY) -m pytest tests/unit

bench: install
	$(PY) -m benchmarks

demo-install: $(DEMO_STAMP)

clean:
	rm -rf $(VENV) $(DEMO_VENV) .pytest_cache .ruff_cache
