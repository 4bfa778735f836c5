"""The jobs prefix: inputs by content (a re-run uploads nothing new), the code archive (same tree, same bytes),
outputs committed by their manifest and checked on the way back, and the profile switch refusing bad values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from triage.cloud.settings import choose_profile, compute_settings
from triage.cloud.spec import stage_files
from triage.cloud.store import JobStore, code_archive
from triage.errors import UserError

from ..conftest import REPO


def test_inputs_are_stored_once_by_content_and_come_back_checked(tmp_path):
    root, store = tmp_path / "repo", JobStore(str(tmp_path / "jobs"))
    (root / "data").mkdir(parents=True)
    (root / "data/a.csv").write_text("x\n1\n")
    (root / "data/b.csv").write_text("x\n1\n")  # same content: one object
    inputs = store.put_inputs([Path("data/a.csv"), Path("data/b.csv")], root)
    assert len(set(inputs.values())) == 1 and len(list((tmp_path / "jobs/inputs").iterdir())) == 1
    store.get_inputs(inputs, tmp_path / "job")
    assert (tmp_path / "job/data/b.csv").read_text() == "x\n1\n"
    (tmp_path / "jobs/inputs" / inputs["data/a.csv"]).write_text("tampered")
    with pytest.raises(OSError, match="data/a.csv"):
        store.get_inputs(inputs, tmp_path / "again")


def test_outputs_need_their_manifest_and_a_corrupted_file_is_refused(tmp_path):
    job, store = tmp_path / "job", JobStore(str(tmp_path / "jobs"))
    (job / "data/out.parquet").mkdir(parents=True)
    (job / "data/out.parquet/part-00000.parquet").write_bytes(b"rows")
    (job / "reports").mkdir()
    (job / "reports/m.json").write_text("{}")
    assert not store.has_outputs("r1")
    manifest = store.put_outputs("r1", ["data/out.parquet", "reports/m.json"], job)
    assert set(manifest) == {"data/out.parquet/part-00000.parquet", "reports/m.json"} and store.has_outputs("r1")
    store.get_outputs("r1", tmp_path / "here")
    assert (tmp_path / "here/data/out.parquet/part-00000.parquet").read_bytes() == b"rows"
    (tmp_path / "jobs/runs/r1/outputs/reports/m.json").write_text('{"changed": 1}')
    with pytest.raises(OSError, match="reports/m.json"):
        store.get_outputs("r1", tmp_path / "there")
    assert not (tmp_path / "there/reports/m.json").exists()


def test_the_code_archive_is_the_same_bytes_for_the_same_tree():
    first, second = code_archive(REPO / "src"), code_archive(REPO / "src")
    assert first == second and len(first) > 10_000


def test_stage_files_come_from_dvc_yaml_without_code(tmp_path):
    """On a copy of the repository's dvc.yaml and params: data inputs expanded, code left out, outputs as declared,
    and an input the stages before it have not written yet refused by name (a clean clone has none of them)."""
    from dvc.repo import Repo

    Repo.init(str(tmp_path), no_scm=True).close()
    for name in ("dvc.yaml", "params.yaml", "data/contracts/simulated.yaml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes((REPO / name).read_bytes())
    (tmp_path / "data/simulation").mkdir()  # the reference stage's output, written by hand here
    (tmp_path / "data/simulation/generative_model.npz").write_bytes(b"model")
    with pytest.raises(UserError, match="split: its dependency data/interim/clean.parquet does not exist"):
        stage_files("split", tmp_path)
    (tmp_path / "data/interim/clean.parquet").mkdir(parents=True)
    (tmp_path / "data/interim/clean.parquet/part-00000.parquet").write_bytes(b"rows")
    files = stage_files("split", tmp_path)
    inputs = {path.as_posix() for path in files.inputs}
    assert inputs == {"params.yaml", "data/contracts/simulated.yaml", "data/simulation/generative_model.npz",
                      "data/interim/clean.parquet/part-00000.parquet"}
    assert files.outputs == ["data/processed/train.parquet", "data/processed/valid.parquet",
                             "data/processed/test.parquet", "reports/split.json"]


def test_the_profile_comes_from_params_or_the_environment_and_is_checked():
    params = {"compute": {"profile": "local", "stages": {"train": "training"}, "cloud_above_visits": 10}}
    assert compute_settings(params, {}).target("train") is None
    assert compute_settings(params, {"TRIAGE_COMPUTE": "aws"}).target("train") == "training"
    assert compute_settings(params, {"TRIAGE_COMPUTE": "aws"}).target("evaluate") is None
    with pytest.raises(UserError, match="TRIAGE_COMPUTE: 'cloud' is not a compute profile"):
        compute_settings(params, {"TRIAGE_COMPUTE": "cloud"})
    with pytest.raises(UserError, match="compute.stages.train: 'gpu' is not a target"):
        compute_settings({"compute": {"stages": {"train": "gpu"}}}, {})
    settings = compute_settings(params, {})
    assert choose_profile(11, settings) == "aws" and choose_profile(10, settings) == "local"


def test_compute_is_read_by_no_stage():
    """Switching the profile must not change a stage's hash: no stage lists `compute` among its params."""
    import yaml

    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    listed = [json.dumps(stage.get("params", [])) for stage in stages.values()]
    assert not any("compute" in entry for entry in listed)
