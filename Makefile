# Two commands do all set-up on a fresh machine with Python >= 3.11:
#   make demo   create .venv, install evalkit, simulate the example cohort and write reports/
#   make test   create .venv, install evalkit with its test extras, run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/evalkit demo --out reports/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m "not slow"

# long checks (the full disclosure matrix, plan variants, byte-identical reruns): CI runs them too
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m slow

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_validate.py

clean:
	rm -rf $(VENV) reports/demo
