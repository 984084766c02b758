# The two commands of the README:
#   make book   install (if needed), execute stale notebooks, build _build/html; a short
#               progress summary on screen, the full logs in _build/logs/
#   make test   strict checks of the committed book (current pages, generated files, HTML with
#               warnings as errors), unit/catalog/pipeline/falsifiability tests and the nbval
#               regression over book/, then the nbval regression again under a second OpenBLAS
#               kernel set (what nbval compares must be the same on every CPU)
# Others: make test-paper-scale (tests marked paper_scale), make unit, make nbval, make bench.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EOSLIB := $(VENV)/bin/eoslib
JOBS ?= 2
LOGS := _build/logs
# Multi-threaded CPU reductions are not bit-stable: executed notebooks (the runner sets the same)
# and the regression run XLA and OpenBLAS on one thread each.
export XLA_FLAGS := --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1
export OPENBLAS_NUM_THREADS := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1
# XLA compilations persist across kernels: nbval, the second BLAS pass and the falsifiability
# runs execute the same functions again. A cached executable is the one XLA would compile anew
# (same HLO, options and CPU), so it changes no number; it only skips the compile.
export JAX_COMPILATION_CACHE_DIR ?= $(CURDIR)/_cache/jax
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS ?= 0.1
MATHJAX_VERSION := 3.2.2
MATHJAX := .vendor/web/mathjax/tex-chtml.js
PYTEST := $(PY) -m pytest -p no:cacheprovider -q
NBVAL := --nbval-lax --nbval-sanitize-with tests/nbval_sanitize.cfg
# "<kernel set this CPU picks> <a second one it supports>", e.g. "SkylakeX Haswell" (evaluated
# when used, i.e. after `install`).
BLAS_KERNELS = $(shell $(PY) -m eoslib.book.blas)
export TIMEFORMAT := (took %0R s)

.PHONY: book test test-paper-scale install vendor browser unit nbval nbval-second-blas strict clean bench

book:
	@mkdir -p $(LOGS)
	@printf "install: "; if $(MAKE) --no-print-directory install vendor > $(LOGS)/install.log 2>&1; \
		then echo "ok (log: $(LOGS)/install.log)"; \
		else echo "failed; the end of $(LOGS)/install.log:"; tail -n 25 $(LOGS)/install.log; exit 1; fi
	@$(EOSLIB) build --jobs $(JOBS) --log-dir $(LOGS)

test: install vendor browser
	@echo "== strict: pages current, generated files current, HTML with warnings as errors"
	@time $(EOSLIB) build --no-execute --strict --log-dir $(LOGS)
	@echo "== tests and nbval regression (OpenBLAS kernels: $(word 1,$(BLAS_KERNELS)))"
	@time $(PYTEST) tests book $(NBVAL) -m "not paper_scale" -n $(JOBS) --dist loadfile
	@$(MAKE) --no-print-directory nbval-second-blas

# The second pass compares only the printed check lines (nbval), under the second kernel set.
nbval-second-blas: install
	@set -- $(BLAS_KERNELS); if [ "$${2:-none}" = none ]; then \
		echo "== no second OpenBLAS kernel set known for this CPU ($${1:-none}); second pass skipped"; \
	else \
		echo "== nbval regression under OPENBLAS_CORETYPE=$$2 (this CPU picks $$1)"; \
		time OPENBLAS_CORETYPE=$$2 $(PYTEST) book $(NBVAL) -n $(JOBS) --dist loadfile; \
	fi

test-paper-scale: install
	$(PYTEST) tests -m paper_scale -n $(JOBS) --dist loadfile

unit: install
	$(PYTEST) tests -m "not paper_scale and not slow" -n $(JOBS) --dist loadfile

nbval: install
	$(PYTEST) book $(NBVAL) -n $(JOBS) --dist loadfile
	@$(MAKE) --no-print-directory nbval-second-blas

strict: install vendor
	$(EOSLIB) build --no-execute --strict --log-dir $(LOGS)

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[book,test,sweep]"
	touch $@

# Headless Chromium for tests/test_browser.py (every page of the book in a real browser):
# Debian's package, as root (CI) through apt-get; Playwright's own browser download needs a CDN
# that the build machines cannot reach. Does nothing when a Chromium is already installed.
browser:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
		|| [ -n "$$EOSLIB_CHROMIUM" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "browser: installing Debian's chromium (apt-get)"; \
		apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends chromium fonts-dejavu-core >/dev/null; \
	else \
		echo "browser: tests/test_browser.py needs Chromium: apt-get install chromium (as root)," \
			"or set EOSLIB_CHROMIUM to a Chromium executable"; exit 1; \
	fi

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
