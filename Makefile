# memberflow: two commands on a fresh machine, `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# SAM CLI lives in its own venv made with the Lambda runtime's Python (3.12): `sam build`
# needs a python3.12 on PATH, and that venv's bin/ is one. PYTHON312 is found on PATH or in
# pyenv; set it to point elsewhere (make PYTHON312=/path/to/python3.12).
SAM_VENV := $(VENV)/sam
SAM_STAMP := $(SAM_VENV)/.installed
SAM_PATH := SAM_CLI_TELEMETRY=0 PATH="$(abspath $(SAM_VENV))/bin:$$PATH"
SAM_BUILD_DIR := $(VENV)/sam-build
PYTHON312 ?= $(shell for p in python3.12 "$$(pyenv root 2>/dev/null)"/versions/3.12*/bin/python3.12 "$$HOME"/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 12); print(sys.executable)' 2>/dev/null && break; done)
# The state machine validator (npm), pinned; run with the machine's node.
ASL_VALIDATOR_VERSION := 4.0.0
ASL_VALIDATOR := $(VENV)/node/node_modules/.bin/asl-validator

.PHONY: demo test lint template-check sam asl pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when a requirements file or pyproject changes.
$(STAMP): $(BIN)/python requirements.txt requirements-dev.txt shared/requirements.txt pyproject.toml
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

$(SAM_STAMP): requirements-sam.txt | $(STAMP)
	@test -n "$(PYTHON312)" || { echo "make: sam build needs Python 3.12 (the functions' runtime, python3.12) and none was found on PATH or in pyenv. Install one (pyenv install 3.12, or your system's python3.12 package) or run make PYTHON312=/path/to/python3.12." >&2; exit 1; }
	rm -rf $(SAM_VENV)
	$(PYTHON312) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	touch $(SAM_STAMP)

$(ASL_VALIDATOR):
	@command -v npm >/dev/null || { echo "make: the state machine validator needs node and npm" >&2; exit 1; }
	npm install --prefix $(VENV)/node --no-save --no-audit --no-fund --silent asl-validator@$(ASL_VALIDATOR_VERSION)

# The default programme (2,000 members x 180 days); it prints its wall time (docs/demo.md).
demo: $(STAMP)
	$(BIN)/memberflow demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# cfn-lint, then the SAM transform and the checks on its output (IAM routes without the
# caller's credentials, no fixed name two stacks would share, tables retained).
template-check: $(STAMP)
	$(BIN)/cfn-lint template.yaml
	$(BIN)/python -m memberflow_local.translated

# sam validate --lint and sam build (into an ignored dir; --cached rebuilds what changed).
sam: $(SAM_STAMP)
	$(SAM_PATH) $(SAM_VENV)/bin/sam validate --lint --template template.yaml --region us-east-1
	$(SAM_PATH) $(SAM_VENV)/bin/sam build --template template.yaml --build-dir $(SAM_BUILD_DIR) \
		--cached --cache-dir $(VENV)/sam-cache

# An independent validator on every state machine, as deployed (substitutions applied).
asl: $(STAMP) $(ASL_VALIDATOR)
	$(BIN)/python -m memberflow_local.translated --write-definitions $(VENV)/asl
	$(ASL_VALIDATOR) $(foreach f,$(wildcard statemachines/*.asl.json),--json-path $(VENV)/asl/$(notdir $(f)))

# Two worker processes (pytest-xdist; PYTEST_WORKERS=auto uses every core), each test
# sent to whichever worker is free; every test builds its own stack in its own process.
PYTEST_WORKERS ?= 2
pytest: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal

test: lint template-check sam asl pytest

# make bench [ONLY="sweep journeys"]
bench: $(STAMP)
	$(BIN)/python -m bench $(ONLY)

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache .aws-sam
