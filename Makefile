# Fraværsradar: the two set-up commands of README.md live here.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO ?= demo
OUT ?= out
# The demo's size: `make demo-home DEMO_PUPILS=1500 DEMO_SCHOOLS=3` makes a smaller one the same way.
DEMO_PUPILS ?= 6000
DEMO_SCHOOLS ?= 12
# How `ews` is run, and what must exist first: the virtualenv's by default (tests pass their own).
EWS ?= $(BIN)/ews
EWS_READY ?= $(BIN)/ews
export OMP_NUM_THREADS ?= 1
export MLFLOW_DISABLE_TELEMETRY ?= true

.PHONY: demo demo-home test test-fast lint bench clean notebooks evaluate-matrix

$(BIN)/ews: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(BIN)/ews

## demo: the main job end to end on the embedded default municipality, then serve it
demo: demo-home
	@echo "Weekly job on the demo (in another terminal): $(EWS) weekly -- takes delivery" \
		"folders dropped into $${EWS_HOME:-.ews}/inbox/; to see the mails, run" \
		"'$(BIN)/python -m aiosmtpd -n -l 127.0.0.1:8025' and set EWS_SMTP_URL=smtp://127.0.0.1:8025" \
		"(docs/operations.md)"
	$(EWS) serve

## demo-home: the same without serving: demo data -> ingest -> train -> score -> weekly lists, then
## the values the README's examples use on this home (a school, the stored week, a pupil)
demo-home: $(EWS_READY)
	$(EWS) demo-data $(DEMO) --pupils $(DEMO_PUPILS) --schools $(DEMO_SCHOOLS)
	$(EWS) ingest $(DEMO)
	$(EWS) train
	$(EWS) score --as-of $$(date -d "last monday" +%F) --out $(OUT)/scores.csv
	$(EWS) flags --out $(OUT)/lists
	$(EWS) demo-hints

## test: the whole test suite (PostgreSQL tests need the server at 127.0.0.1:5432), on both cores:
## one worker per core, each test file kept on one worker (its module fixtures are built once)
test: $(BIN)/ews
	$(BIN)/pytest -n 2 --dist loadfile

## test-fast: the suite without the tests marked slow or browser (a quick loop while working;
## CI runs `make test`)
test-fast: $(BIN)/ews
	$(BIN)/pytest -n 2 --dist loadfile -m "not slow and not browser"

## notebooks: run notebooks/*.ipynb on the state in EWS_HOME (e.g. after `make demo`); the executed
## copies, with outputs, go to out/notebooks/ (the stored notebooks stay without outputs)
notebooks: $(BIN)/ews
	rm -rf out/notebooks && mkdir -p out/notebooks && cp notebooks/*.ipynb out/notebooks/
	EWS_HOME=$${EWS_HOME:-$(CURDIR)/.ews} PYTHONPATH=$(CURDIR) MPLBACKEND=Agg \
		$(BIN)/jupyter-execute --inplace --timeout=600 --kernel_name=python3 out/notebooks/*.ipynb

lint: $(BIN)/ews
	$(BIN)/ruff check .

bench: $(BIN)/ews
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/features.py
	$(BIN)/python benchmarks/weekly.py

## evaluate-matrix: the evaluation matrix of generated municipalities at full size (issue 12):
## backtest per fold, model vs every rule vs the oracle -> docs/evaluation-matrix.{md,json}
evaluate-matrix: $(BIN)/ews
	PYTHONPATH=$(CURDIR) OMP_NUM_THREADS=1 $(BIN)/python benchmarks/evaluate_matrix.py --size full --seed 2026

clean:
	rm -rf .ews $(DEMO) $(OUT)
