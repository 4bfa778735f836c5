"""Shared fixtures: small cohorts drawn from the real generative model, and a small trained pipeline."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from triage import config, schema
from triage.cohort.build import build_model
from triage.cohort.generative import GenerativeModel
from triage.cohort.mess import make_messy
from triage.cohort.sample import sample_cohort

REPO = Path(__file__).resolve().parents[1]
os.chdir(REPO)  # stages use repository-relative paths, as under dvc


@pytest.fixture(scope="session")
def params() -> dict:
    return config.load_params(REPO / "params.yaml")


@pytest.fixture(scope="session")
def generative(params) -> GenerativeModel:
    return build_model(params["simulate"], params["base"]["seed"])


@pytest.fixture(scope="session")
def clean_cohort(generative, params) -> pd.DataFrame:
    """6,000 clean visits (typed, before the mess)."""
    return sample_cohort(generative, 6000, params["simulate"]["start_date"], params["simulate"]["days"],
                         np.random.default_rng(7))


@pytest.fixture(scope="session")
def messy_cohort(clean_cohort, params) -> pd.DataFrame:
    return make_messy(clean_cohort, params["simulate"]["mess"], np.random.default_rng(8))


@pytest.fixture()
def raw_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "raw"
    directory.mkdir()
    return directory


@pytest.fixture(scope="session")
def small_settings(params) -> dict:
    settings = copy.deepcopy(params["train"])
    settings.update(iterations=120, threads=2)
    return settings


@pytest.fixture(scope="session")
def labelled_cohort(clean_cohort) -> pd.DataFrame:
    """The clean cohort with its triage label, as the clean table after validate."""
    from triage.stages.ingest import derive_labels, read_diagnosis_map

    frame = clean_cohort.drop(columns=list(schema.PERSONAL_DATA_COLUMNS)).copy()
    frame[schema.LABEL_COLUMN] = derive_labels(frame[schema.OUTCOME_COLUMN], read_diagnosis_map())
    return frame


@pytest.fixture(scope="session")
def trained_pipeline(labelled_cohort, small_settings, params):
    from triage.features import class_targets, feature_matrix
    from triage.modeling import triage_pipeline

    pipeline = triage_pipeline(small_settings, params["base"]["seed"])
    pipeline.fit(feature_matrix(labelled_cohort), class_targets(labelled_cohort))
    return pipeline
