"""Shared fixtures: small cohorts drawn from the real generative model, and a small trained pipeline."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

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


SMALL_PIPELINE = {("simulate", "n_visits"): 8000, ("train", "iterations"): 80, ("evaluate", "bootstrap"): 50,
                  ("export", "parity_rows"): 400}


def run(command: list[str], cwd: Path, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run a project command with the test interpreter's bin directory first on PATH."""
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                   **(env or {})}
    result = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, (f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n"
                                        f"{result.stderr[-3000:]}")
    return result


def commit_all(repo: Path, message: str) -> None:
    run(["git", "add", "-A"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message, "--allow-empty"], repo)


@pytest.fixture(scope="session")
def pipeline_workspace(tmp_path_factory) -> Path:
    """A git copy of the repository (tracked and new files) after `dvc repro` on a small cohort."""
    target = tmp_path_factory.mktemp("repo")
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    for name in listed:
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    params = yaml.safe_load((target / "params.yaml").read_text())
    for (section, key), value in SMALL_PIPELINE.items():
        params[section][key] = value
    params["train"]["baselines"]["forest_trees"] = 30
    (target / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q"], target)
    commit_all(target, "small cohort")
    run(["dvc", "repro"], target)
    return target
