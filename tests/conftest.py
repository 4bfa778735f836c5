"""Shared fixtures: small cohorts drawn from the real generative model, and a small trained pipeline."""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from triage import config
from triage.contract import SIMULATED_CONTRACT, Contract, load_contract
from triage.data.columns import LABEL_COLUMN, OUTCOME_CODE
from triage.simulation.build import build_model
from triage.simulation.generative import GenerativeModel
from triage.simulation.mess import make_messy
from triage.simulation.sample import sample_cohort

REPO = Path(__file__).resolve().parents[1]


SLOW_FOLDERS = ("infra",)  # every test there runs real tools (cdk synth, cfn-lint, moto servers)


def pytest_collection_modifyitems(items):
    for item in items:
        if any(f"tests/{folder}/" in str(item.path) for folder in SLOW_FOLDERS):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def at_repository_root():
    """Pipeline code uses repository-relative paths (dvc runs every stage from the root): so do the tests."""
    previous = Path.cwd()
    os.chdir(REPO)
    yield
    os.chdir(previous)


@pytest.fixture(scope="session")
def params() -> dict:
    return config.load_params(REPO / "params.yaml")


@pytest.fixture(scope="session")
def contract() -> Contract:
    """The default contract (the simulated cohort's)."""
    return load_contract(SIMULATED_CONTRACT)


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
def labelled_cohort(clean_cohort, contract) -> pd.DataFrame:
    """The clean cohort with its triage label, in the clean table's columns (as after validate)."""
    from triage.data.ingest import derive_labels

    frame = clean_cohort.drop(columns=list(contract.spec.personal_data)).rename(
        columns={contract.spec.outcome.column: OUTCOME_CODE})
    frame[LABEL_COLUMN] = derive_labels(frame[OUTCOME_CODE], contract)
    return frame


@pytest.fixture(scope="session")
def trained_pipeline(labelled_cohort, small_settings, params, contract):
    from triage.model.estimators import triage_pipeline
    from triage.model.features import class_targets, feature_matrix

    pipeline = triage_pipeline(contract, small_settings, params["base"]["seed"])
    pipeline.fit(feature_matrix(labelled_cohort, contract), class_targets(labelled_cohort, contract.classes))
    return pipeline


SMALL_PIPELINE = {("simulate", "n_visits"): 8000, ("train", "iterations"): 80, ("evaluate", "bootstrap"): 50,
                  ("export", "parity_rows"): 400,
                  ("train", "baselines"): {"logreg_c": 1.0, "forest_trees": 30},
                  # ~36 orphan test cases: the exact 95 % lower bound of 33 of 36 caught is 0.78, and the product's
                  # 0.90 needs every one of 37 or more caught; these tests are about the pipeline, not that bound
                  ("gate", "min_orphan_recall_lower"): 0.70}


def s3_client_of(server, secret_key: str | None = None):
    """A botocore client of a LocalS3 server, with its credentials (or another secret key, to be refused)."""
    import botocore.session

    return botocore.session.get_session().create_client(
        "s3", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id=server.credentials.access_key,
        aws_secret_access_key=secret_key or server.credentials.secret_key)


def run(command: list[str], cwd: Path, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run a project command with the test interpreter's bin directory first on PATH."""
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                   **(env or {})}
    result = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, (f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n"
                                        f"{result.stderr[-3000:]}")
    return result


@contextlib.contextmanager
def params_changed(repo: Path, section: str, key: str, value: object) -> Iterator[None]:
    """`repo`'s params.yaml with one value changed, restored afterwards."""
    params_file = repo / "params.yaml"
    original = params_file.read_text()
    params = yaml.safe_load(original)
    params[section][key] = value
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        yield
    finally:
        params_file.write_text(original)


def commit_all(repo: Path, message: str) -> None:
    run(["git", "add", "-A"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message, "--allow-empty"], repo)


def copy_repository(target: Path, changes: dict[tuple[str, str], object]) -> Path:
    """A fresh git repository holding the project's files (tracked and new, not ignored) with `changes` made to
    params.yaml ({(section, key): value}), committed."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    for name in listed:
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    params = yaml.safe_load((target / "params.yaml").read_text())
    for (section, key), value in changes.items():
        params[section][key] = value
    (target / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q"], target)
    commit_all(target, "copy of the project")
    return target


@pytest.fixture(scope="session")
def pipeline_workspace(tmp_path_factory) -> Path:
    """A git copy of the repository after `dvc repro` on a small cohort."""
    target = copy_repository(tmp_path_factory.mktemp("repo"), SMALL_PIPELINE)
    run(["dvc", "repro"], target)
    return target


def ingest_and_validate(paths, contract: Contract, max_bad_fraction: float = 1.0, key: str | None = None):
    """The extracts through the pipeline's own executor (local), in memory: (clean, quarantine, accounting)."""
    from triage.data.ingest import extract_key
    from triage.executors.local import run_in_memory

    hmac_key, simulated = extract_key(list(paths), key)
    return run_in_memory(list(paths), contract, hmac_key, simulated, max_bad_fraction, progress=lambda message: None)


def ingested_rows(paths, contract: Contract, key: str | None = None) -> pd.DataFrame:
    """What the ingest stage writes for these extracts: every row through the row kernel, with its reasons."""
    import tempfile

    from triage.data.ingest import extract_key
    from triage.executors.local import LocalExecutor

    hmac_key, simulated = extract_key(list(paths), key)
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "ingested.parquet"
        LocalExecutor().ingest(list(paths), contract, hmac_key, out, simulated, progress=lambda message: None)
        return pd.read_parquet(out)
