# Two commands for a new user: `make demo` (set up and show a seeded CRM) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint bench db-stop clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/salesagents demo

test: install lint
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy core api agents tools evals benchmarks prompts web

bench: install
	$(BIN)/python -m benchmarks.run

.PHONY: bench-quick
bench-quick: install
	$(BIN)/python -m benchmarks.run --quick

db-stop: install
	$(BIN)/salesagents db stop

clean:
	-$(BIN)/salesagents db stop
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache
