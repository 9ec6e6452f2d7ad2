# Two commands for a fresh machine: `make demo` and `make test`. Each creates .venv and installs
# the pinned dependencies (constraints.txt) on first use, and builds the two C modules (setup.py: gcc).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: install demo test unit browser bench synth layer deploy lint clean

$(STAMP): pyproject.toml constraints.txt setup.py ingestion/_ndjson.c ingestion/_kinesis.c
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[local,dev,infra]'
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/cqrs demo

# Headless Chromium for the dashboard tests, from Debian's package (nothing downloads a browser).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null); \
	  else echo "chromium missing: sudo apt-get install chromium chromium-driver" >&2; exit 1; fi; }

test: install browser
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile -q

unit: install
	$(BIN)/python -m pytest -q tests/unit

bench: install
	$(BIN)/cqrs bench --all

synth: install
	cd infra && ../$(BIN)/python app.py

# Lambda dependency layer (needs the network; synth never does): [project] dependencies pinned by
# constraints.txt, plus the `api` extra (fastapi + mangum for the search API), Linux x86_64 wheels for python3.12.
# infra/ uses it as an asset once it exists (docs/deploy.md).
layer: install
	rm -rf infra/build/layer
	$(BIN)/python -m pip install -q --disable-pip-version-check --target infra/build/layer/python \
	  --platform manylinux2014_x86_64 --implementation cp --python-version 3.12 --only-binary=:all: \
	  -c constraints.txt $$($(BIN)/python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print(' '.join(p['dependencies'] + p['optional-dependencies']['api']))")

deploy: install
	cd infra && npx --yes aws-cdk@2 deploy --all --app "../$(BIN)/python app.py"

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy cqrs ingestion projections services search_api

clean:
	-$(BIN)/cqrs down 2>/dev/null
	rm -rf $(VENV) .cqrs
