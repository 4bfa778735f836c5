from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.conftest import moto_endpoint  # noqa: F401 - moto's server mode, shared with the infra tests

TINY_DVC_YAML = """stages:
  ingest:
    cmd: python -c "print('ingest')"
    deps:
      - src/triage/stages/ingest.py
      - data/raw
    params:
      - data
    outs:
      - data/interim/ingested.parquet
  train:
    cmd: python -c "print('train')"
    deps:
      - data/processed/train.parquet
    outs:
      - models/pipeline.joblib
"""


@pytest.fixture
def tiny_repo(tmp_path) -> Path:
    """A DVC repository with two stages (a Spark one and a training one) and their inputs."""
    root = tmp_path / "repo"
    (root / "data/raw").mkdir(parents=True)
    (root / "data/raw/site_a.csv").write_text("visit_id,age_years\n1,40\n")
    (root / "data/processed").mkdir(parents=True)
    (root / "data/processed/train.parquet").write_bytes(b"not really parquet")
    (root / "src/triage/stages").mkdir(parents=True)
    (root / "src/triage/stages/ingest.py").write_text("")
    (root / "params.yaml").write_text("data:\n  raw_dir: data/raw\n")
    (root / "dvc.yaml").write_text(TINY_DVC_YAML)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run([str(Path(sys.executable).parent / "dvc"), "init", "-q"], cwd=root, check=True)
    return root
