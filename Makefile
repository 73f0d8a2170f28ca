# Two commands for a newcomer: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_OUT ?= demo-output

.PHONY: demo test lint typecheck sysdeps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,serve,dask]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/roiste demo --out $(DEMO_OUT) --force

sysdeps:
	@bash scripts/sysdeps.sh

test: $(STAMP) sysdeps
	$(BIN)/ruff check .
	bash scripts/typecheck.sh
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	bash scripts/typecheck.sh

clean:
	rm -rf $(VENV) $(DEMO_OUT) build .pytest_cache .mypy_cache .ruff_cache
