# Two commands do everything on a fresh machine: `make demo` and `make test`.
SHELL  := bash
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install system-deps demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Tools the tests drive from outside Python: jq and node run the seed's own examples, and
# Debian's chromium is the browser Playwright drives (no browser is ever downloaded).
system-deps:
	@missing=""; \
	for tool in jq node chromium; do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	case "$$missing" in *node*) missing="$${missing/node/nodejs}";; esac; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; apt-get update -q && apt-get install -y -q $$missing; fi

demo: install
	$(VENV)/bin/jupyter lab --allow-root --ServerApp.root_dir=. notebooks/01_quickstart.ipynb

lint: install
	$(VENV)/bin/ruff check .

test: install system-deps lint
	$(PY) -m pytest

bench: install
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
