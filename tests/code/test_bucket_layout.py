"""One bucket layout: the prefixes the pipeline, the intake, the monitor, the service and the cloud jobs use come from
triage_shared.bucket, and the infrastructure scopes its roles to the same ones (infra/triage_infra/environments.py is
plain Python: imported here without the CDK)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

import pytest

from triage.cloud.store import run_key
from triage.intake import layout
from triage_shared import bucket, predlog

from ..conftest import REPO


@pytest.fixture(scope="module")
def infra_layout():
    spec = importlib.util.spec_from_file_location("infra_environments", REPO / "infra/triage_infra/environments.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_the_infrastructure_scopes_its_roles_to_the_projects_prefixes(infra_layout):
    assert (infra_layout.DVC_PREFIX, infra_layout.RAW_PREFIX, infra_layout.MONITORING_PREFIX) == \
        (bucket.DVC, bucket.RAW, bucket.MONITORING)
    assert (infra_layout.JOBS_PREFIX, infra_layout.JOB_OUTPUTS, infra_layout.JOB_LOGS) == \
        (bucket.JOBS, bucket.JOB_OUTPUTS, bucket.JOB_LOGS)
    for env in bucket.ENVIRONMENTS:
        assert infra_layout.model_prefix(env) == bucket.model_prefix(env)
        assert infra_layout.predictions_prefix(env) == bucket.predictions_prefix(env)


def test_every_writer_puts_its_objects_under_its_prefix():
    assert predlog.segment_key("dev", "predicciones_dev", "host", 0).startswith(bucket.predictions_prefix("dev"))
    assert layout.LATEST_RUN.startswith(bucket.INTAKE) and layout.RUNS.startswith(bucket.INTAKE)
    assert re.fullmatch(bucket.JOB_OUTPUTS.replace("*", "[^/]+") + ".*",
                        bucket.JOBS + run_key("r1", "outputs/data/clean.parquet"))
    with pytest.raises(ValueError, match="environment must be one of dev, prod"):
        bucket.model_prefix("staging")


def test_no_module_spells_a_prefix_of_its_own():
    """Prefix literals live in triage_shared.bucket (and the infra mirror the test above checks), nowhere else."""
    literals = r'''["'](raw|dvc|models/triage|predictions|monitoring|jobs)/'''
    found = subprocess.run(["git", "grep", "-nE", literals, "--", "src/*.py", "service/*.py", "dags/*.py"], cwd=REPO,
                           capture_output=True, text=True).stdout.splitlines()
    elsewhere = [line for line in found if not line.startswith("src/triage_shared/bucket.py")]
    assert elsewhere == [], "\n".join(elsewhere)
