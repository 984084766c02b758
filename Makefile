# The two commands of the README:
#   make book   install (if needed), execute stale notebooks, build _build/html
#   make test   unit tests, catalog/toc tests, falsifiability and pipeline tests,
#               nbval regression over book/, strict book build
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EOSLIB := $(VENV)/bin/eoslib
JOBS ?= 2
# Multi-threaded CPU reductions are not bit-stable: regression runs use one XLA thread.
export XLA_FLAGS := --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1
export PYDEVD_DISABLE_FILE_VALIDATION := 1
MATHJAX_VERSION := 3.2.2
MATHJAX := .vendor/web/mathjax/tex-chtml.js

.PHONY: book test install vendor unit nbval html clean bench

book: install vendor
	$(EOSLIB) build --jobs $(JOBS)

test: install vendor
	$(EOSLIB) build --no-execute --strict
	$(PY) -m pytest tests book --nbval-lax --nbval-sanitize-with tests/nbval_sanitize.cfg \
		-n $(JOBS) --dist loadfile -p no:cacheprovider -q

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[book,test]"
	touch $@

# MathJax from the npm registry, served from the build itself (see _config.yml).
vendor: $(MATHJAX)

$(MATHJAX):
	rm -rf .vendor/npm .vendor/web/mathjax
	mkdir -p .vendor/npm .vendor/web
	cd .vendor/npm && npm install --no-save --no-audit --no-fund --loglevel=error mathjax@$(MATHJAX_VERSION)
	cp -r .vendor/npm/node_modules/mathjax/es5 .vendor/web/mathjax
	test -f $@

bench: install
	$(PY) benchmarks/bench_lr_sweep.py

clean:
	rm -rf _build _runs .vendor
