# memberflow: two commands on a fresh machine, `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint template-check pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when a requirements file or pyproject changes.
$(STAMP): $(BIN)/python requirements.txt requirements-dev.txt shared/requirements.txt pyproject.toml
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# About two minutes on moto; the default programme (2,000 x 180 days) takes about 14 minutes (docs/demo.md).
demo: $(STAMP)
	$(BIN)/memberflow demo --members 300 --days 120

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

template-check: $(STAMP)
	$(BIN)/cfn-lint template.yaml
	$(BIN)/python -m memberflow_local.template

pytest: $(STAMP)
	$(BIN)/python -m pytest

test: lint template-check pytest

# make bench [ONLY="sweep journeys"]
bench: $(STAMP)
	$(BIN)/python -m bench $(ONLY)

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
