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
	$(BIN)/python -m pip install --quiet -e '.[test,sparse]' \
	  || { echo "scikit-sparse did not build (it needs libsuitesparse-dev): installing without it;" \
	            "several-term mixed models use the dense Cholesky path (evalkit/models/schur.py)"; \
	       $(BIN)/python -m pip install --quiet -e '.[test]'; }
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/evalkit demo --out reports/demo

# The report test renders the impact report in headless Chromium: installed here when absent and
# we may (root, Debian's apt), else that one test is skipped with a message saying how to enable it.
BROWSER = if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the browser test"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	  || { echo "could not install chromium: the browser test will be skipped"; export EVALKIT_SKIP_BROWSER=1; }; \
	else echo "no chromium and not root: the browser test will be skipped (install chromium to run it)"; \
	  export EVALKIT_SKIP_BROWSER=1; fi

test: $(STAMP)
	@$(BROWSER); $(BIN)/python -m pytest -q -n 2 -m "not slow"

# long checks (the full disclosure matrix, plan variants, byte-identical reruns): CI runs them too
test-slow: $(STAMP)
	@$(BROWSER); $(BIN)/python -m pytest -q -n 2 -m slow

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_validate.py

clean:
	rm -rf $(VENV) reports/demo
