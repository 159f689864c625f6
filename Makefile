# Every target sets itself up: it finds a Python >= 3.12, builds .venv, installs the project.
SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed

# Mesa 3.5 needs Python >= 3.12; the machine's default python3 may be older (ECOSYSTEM.md).
# Override with `make PYTHON=/path/to/python3.12`.
PYTHON ?= $(shell for p in python3.12 python3.13 python3 \
	$$(ls -d $$(pyenv root 2>/dev/null)/versions/3.1[2-9]*/bin/python 2>/dev/null); do \
	  $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1 && { command -v $$p || echo $$p; } && break; \
	done)

.PHONY: run test lint typecheck bench app validate notebooks docs clean
run: $(STAMP)
	$(BIN)/tokenmarket run --scenario going_global --out results/going_global

# Lint, static types, the unit/property/browser tests, and every notebook top to bottom.
test: $(STAMP) typecheck
	$(BIN)/ruff check model agents runs tests benchmarks tokenmarket
	$(BIN)/python -m pytest --nbmake tests notebooks

lint: $(STAMP)
	$(BIN)/ruff check model agents runs tests benchmarks tokenmarket
	$(BIN)/ruff format --check model agents runs tests benchmarks tokenmarket

# mypy sees the package as installed: build/typecheck/tokenmarket/ links the repository's
# folders (mypy cannot follow setuptools' editable finder). Settings in pyproject.toml.
TYPED := build/typecheck/tokenmarket
typecheck: $(STAMP)
	mkdir -p $(TYPED)
	for d in model agents runs; do ln -sfn ../../../$$d $(TYPED)/$$d; done
	ln -sf ../../../tokenmarket/__init__.py $(TYPED)/__init__.py
	cd build/typecheck && ../../$(BIN)/mypy --config-file ../../pyproject.toml \
		-p tokenmarket.model -p tokenmarket.agents

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_step.py
	$(BIN)/python benchmarks/bench_sweep.py
	$(BIN)/python benchmarks/bench_calvano.py

HOST ?= 127.0.0.1
PORT ?= 8765
app: $(STAMP)  # `make app HOST=0.0.0.0` serves the whole classroom network
	$(BIN)/tokenmarket app --host $(HOST) --port $(PORT)

validate: $(STAMP)
	$(BIN)/tokenmarket validate --seeds 20

notebooks: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,notebooks]'
	$(BIN)/jupyter lab notebooks

# The notebooks, executed top to bottom, as HTML with their figures (not committed: ~MBs),
# and the README's figure (committed), redrawn from a fresh run.
docs: $(STAMP) docs/market_share.png
	$(BIN)/python -m pip install --quiet -e '.[test,docs]'
	$(BIN)/jupyter nbconvert --to html --execute --output-dir docs/notebooks notebooks/*.ipynb

# The README's figure: `tokenmarket run` of going_global, seed 0, the whole scenario.
docs/market_share.png: $(STAMP) model/scenarios/going_global.toml runs/plots.py
	rm -rf build/docs_run
	$(BIN)/tokenmarket run --scenario going_global --seed 0 --out build/docs_run
	cp build/docs_run/market_share.png $@
	rm -rf build/docs_run

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: no Python >= 3.12 found; install one or run make PYTHON=/path/to/python3.12" >&2; exit 2; }
	@echo "using $(PYTHON)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) results build docs/notebooks tests/output .pytest_cache .ruff_cache .mypy_cache .hypothesis
