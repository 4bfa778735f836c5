"""Parameters (params.yaml) and the repository's fixed paths."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import yaml

from triage_shared.artifacts import MANIFEST_PATH, ONNX_PATH, PROFILE_PATH

PARAMS_VARIABLE = "TRIAGE_PARAMS"


def params_file() -> Path:
    """The params file of this run: $TRIAGE_PARAMS, else params.yaml (read when asked, not at import)."""
    return Path(os.environ.get(PARAMS_VARIABLE) or "params.yaml")


# Fixed pipeline locations (relative to the repository root, where dvc runs every stage).
REFERENCE_DIR = Path("data/reference")
ORPHAN_PROFILES = REFERENCE_DIR / "orphan_profiles.csv"
ORPHAN_PROFILES_META = REFERENCE_DIR / "orphan_profiles.meta.json"
COMMON_DISEASES = REFERENCE_DIR / "common_diseases.csv"
SIMULATION = Path("data/simulation")  # the simulate stage's output: extracts, generative model, held-out diseases
SIMULATED_EXTRACTS = SIMULATION / "extracts"
GENERATIVE_MODEL = SIMULATION / "generative_model.npz"
HOLDOUT_FILE = SIMULATION / "holdout_diagnoses.txt"
INTERIM = Path("data/interim")
INGESTED = INTERIM / "ingested.parquet"
INGEST_STATS = INTERIM / "ingest_stats.json"
CDM_VISITS = INTERIM / "cdm_visits.parquet"  # a CDM source's per-visit table, while ingest reads it
CLEAN = INTERIM / "clean.parquet"
QUARANTINE = INTERIM / "quarantine.csv"
PROCESSED = Path("data/processed")
TRAIN = PROCESSED / "train.parquet"
VALID = PROCESSED / "valid.parquet"
TEST = PROCESSED / "test.parquet"
TRAIN_RESAMPLED = PROCESSED / "train_resampled.parquet"
MODELS = Path("models")
MODEL_BUNDLE = MODELS / "pipeline.joblib"
BASELINES_BUNDLE = MODELS / "baselines.joblib"
ONNX_MODEL = Path(ONNX_PATH)
MANIFEST = Path(MANIFEST_PATH)
REFERENCE_PROFILE = Path(PROFILE_PATH)
REPORTS = Path("reports")
METRICS = REPORTS / "metrics.json"  # the evaluate stage's metrics: the gate, summary, report and export read it
VALIDATION_REPORT = REPORTS / "validation.json"  # the validate stage's row accounting


def load_params(path: Path | None = None) -> dict[str, Any]:
    with open(path or params_file(), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def simulating(params: dict[str, Any]) -> bool:
    """The default source: data.raw_dir is the simulate stage's own output. Pointed anywhere else (a hospital's
    extracts), the simulate stage does nothing and nothing of the simulator reaches the model or its reports."""
    return Path(params["data"]["raw_dir"]) == SIMULATED_EXTRACTS


def configure_logging() -> None:
    """Progress goes to the log (stderr, $TRIAGE_LOG_LEVEL, INFO by default), for stages and commands alike; a
    command's result goes to stdout."""
    logging.basicConfig(level=os.environ.get("TRIAGE_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", datefmt="%H:%M:%S")


def stage_logger(name: str) -> logging.Logger:
    configure_logging()
    return logging.getLogger(f"triage.{name}")
