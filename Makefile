# attnlab — the two commands a new user types:
#   make run    set everything up, run the default ("mini") workflow, build the report
#   make test   set everything up, run the tests (what CI runs)
PYTHON  ?= python3.11
VENV    ?= .venv
CORES   ?= $(shell nproc 2>/dev/null || echo 2)
CONFIG  ?=
SMK     := $(VENV)/bin/snakemake
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: setup run report test lint smoke bench clean

$(VENV)/.installed: requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (attnlab needs Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

setup: $(VENV)/.installed

run: setup
	$(if $(CONFIG),PYTHONPATH=workflow $(VENV)/bin/python -m attnlab.config $(CONFIG))
	$(SMK) --cores $(CORES) $(if $(CONFIG),--configfile $(CONFIG))
	$(MAKE) --no-print-directory report

# The report is rebuilt only when a table, figure or the claims changed.
report: setup
	@if [ ! -f results/report.html ] || [ -n "$$(find results/claims.md results/tables results/figures -newer results/report.html 2>/dev/null | head -1)" ]; then \
		$(SMK) $(if $(CONFIG),--configfile $(CONFIG)) --report results/report.html; \
	else echo "results/report.html is up to date"; fi

# Two pytest-xdist workers; a module's tests stay together (see SLOW_FIRST in tests/conftest.py).
TEST_WORKERS ?= 2
test: setup
	$(VENV)/bin/python -m pytest -q -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder

# ruff format --check joins once the code is formatted ([tool.attnlab.lint] ruff_format in pyproject.toml).
lint: setup
	$(SMK) --lint
	$(VENV)/bin/snakefmt --check Snakefile workflow/Snakefile rules
	$(VENV)/bin/ruff check .
	@if $(VENV)/bin/python -c 'import sys, tomllib; sys.exit(not tomllib.load(open("pyproject.toml", "rb"))["tool"]["attnlab"]["lint"]["ruff_format"])'; \
	then $(VENV)/bin/ruff format --check .; else echo "ruff format --check: off until [tool.attnlab.lint] ruff_format = true"; fi

smoke: setup
	$(SMK) --cores $(CORES) --configfile config/smoke.yaml

bench: setup
	$(VENV)/bin/python bench/run_times.py

clean:
	rm -rf results/*/ results/claims.md results/claims.csv results/report.html .snakemake
