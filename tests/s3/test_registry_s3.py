"""The S3 remote, the GTO registry and the model bucket, against a real SeaweedFS on loopback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from botocore.exceptions import ClientError

from triage.errors import ExitCode
from triage.release.registry import dvc_artifacts, gto_index
from triage.tooling.s3server import LocalS3, free_port
from triage_shared.store import (
    MANIFEST_FILE,
    MODEL_FILE,
    IntegrityError,
    ModelNotPublished,
    ModelStore,
    StoreError,
    sha256_hex,
)

from ..conftest import REPO, commit_all, run, s3_client_of

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    instance = LocalS3(tmp_path_factory.mktemp("s3"), port=free_port(), bucket="triage")
    instance.start()
    yield instance
    instance.stop()
    assert instance.running_pid() is None


@pytest.fixture(scope="module")
def s3_env(server) -> dict:
    return server.environment()


@pytest.fixture(scope="module")
def store(server) -> ModelStore:
    return ModelStore(s3_client_of(server), server.bucket)


@pytest.fixture(scope="module")
def registry_repo(pipeline_workspace, server, s3_env) -> Path:
    """The pipeline workspace with its outputs committed, pushed to S3, registered and promoted to dev."""
    repo = pipeline_workspace
    for key, value in (("endpointurl", server.endpoint), ("access_key_id", server.credentials.access_key),
                       ("secret_access_key", server.credentials.secret_key)):
        run(["dvc", "remote", "modify", "--local", "s3", key, value], repo)
    commit_all(repo, "pipeline outputs")
    run(["dvc", "push", "-r", "s3"], repo)
    run(["gto", "register", "triage-model", "--version", "v0.1.0"], repo)
    run(["gto", "assign", "triage-model", "--version", "v0.1.0", "--stage", "dev"], repo)
    return repo


def test_server_listens_on_loopback_only_with_telemetry_off(server):
    command = " ".join(server.command())
    assert "-ip.bind=127.0.0.1" in command and "-master.telemetry=false" in command
    assert server.endpoint.startswith("http://127.0.0.1:")
    assert oct((server.root / "credentials.json").stat().st_mode)[-3:] == "600"


def test_wrong_credentials_are_refused(server, store):
    store.client.put_object(Bucket=server.bucket, Key="probe.txt", Body=b"ok")
    with pytest.raises(ClientError, match="SignatureDoesNotMatch|AccessDenied|InvalidAccessKeyId"):
        s3_client_of(server, "not-the-secret").get_object(Bucket=server.bucket, Key="probe.txt")
    with pytest.raises(StoreError, match="refused"):
        ModelStore(s3_client_of(server, "not-the-secret"), server.bucket).fetch("dev")


def test_push_pull_round_trip_restores_outputs_with_checksums(registry_repo, tmp_path):
    lock = yaml.safe_load((registry_repo / "dvc.lock").read_text())
    onnx_md5 = next(out["md5"] for out in lock["stages"]["export"]["outs"] if out["path"] == "models/triage.onnx")
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(registry_repo), str(clone)], tmp_path)
    shutil.copy(registry_repo / ".dvc/config.local", clone / ".dvc/config.local")
    run(["dvc", "pull", "-r", "s3"], clone)
    from triage.tables import file_digest

    assert file_digest(clone / "models/triage.onnx", "md5") == onnx_md5
    assert (clone / "data/processed/train.parquet").exists() and (clone / "data/simulation/extracts").is_dir()
    assert "up to date" in run(["dvc", "status"], clone).stdout


def test_publish_then_pull_model_verifies(registry_repo, s3_env, tmp_path, store):
    result = run(["triage", "publish", "--stage", "dev"], registry_repo, env=s3_env)  # the old flag, for one release
    assert "published triage-model@v0.1.0" in result.stdout and "sha256" in result.stdout
    assert "--stage is deprecated, use --env" in result.stderr
    manifest = json.loads(store.client.get_object(Bucket=store.bucket,
                                                  Key="models/triage/dev/manifest.json")["Body"].read())
    assert manifest["registry"]["version"] == "v0.1.0" and manifest["registry"]["stage"] == "dev"
    card = store.client.get_object(Bucket=store.bucket, Key="models/triage/dev/model-card.md")["Body"].read()
    assert b"not a diagnosis" in card and b"orphan" in card
    pulled = run(["triage", "pull-model", "--env", "dev", "--dest", str(tmp_path / "m")], registry_repo,
                 env=s3_env)
    assert "sha256 verified" in pulled.stdout
    model = (tmp_path / "m" / MODEL_FILE).read_bytes()
    assert sha256_hex(model) == manifest["onnx"]["sha256"] == sha256_hex(
        (registry_repo / "models/triage.onnx").read_bytes())
    profile = store.fetch_profile("dev")  # the drift monitor's reference, published beside its model
    assert profile["model"]["sha256"] == manifest["onnx"]["sha256"] and profile["rows"] > 0


def test_promotion_check_allows_a_good_version_and_refuses_a_failing_one(registry_repo, s3_env):
    allowed = run(["triage", "promotion-check", "--env", "dev"], registry_repo, env=s3_env)
    for line in ("PASS  ONNX parity", "PASS  quality gate model.macro_f1", "PASS  latency single-row p99",
                 "PASS  batch throughput", "PASS  model card", "promotion allowed"):
        assert line in allowed.stdout, allowed.stdout
    params_file = registry_repo / "params.yaml"
    original = params_file.read_text()
    params = yaml.safe_load(original)
    params["promotion"]["max_single_row_p99_ms"] = 0.000001  # a budget no model meets
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        refused = run(["triage", "promotion-check", "--env", "dev"], registry_repo, env=s3_env, check=False)
    finally:
        params_file.write_text(original)
    assert refused.returncode == ExitCode.FAILED_CHECK and "FAIL  latency single-row p99" in refused.stdout
    assert "promotion REFUSED" in refused.stdout


def test_stage_without_promotion_is_refused(registry_repo, s3_env):
    result = run(["triage", "publish", "--env", "prod"], registry_repo, env=s3_env, check=False)
    assert result.returncode == ExitCode.BAD_INPUT
    assert "no version of triage-model is promoted to stage 'prod'" in result.stderr


def test_version_missing_in_the_remote_is_refused(registry_repo, s3_env):
    run(["dvc", "remote", "add", "-f", "empty", "s3://triage/empty-remote"], registry_repo)
    run(["dvc", "remote", "modify", "empty", "endpointurl", s3_env["TRIAGE_S3_ENDPOINT"]], registry_repo)
    result = run(["triage", "publish", "--env", "dev", "--remote", "empty"], registry_repo, env=s3_env,
                 check=False)
    assert result.returncode == ExitCode.BAD_INPUT
    assert "is not in DVC remote 'empty'" in result.stderr and "dvc push -r empty" in result.stderr


def test_tampered_or_truncated_model_in_the_bucket_is_refused(registry_repo, s3_env, store, tmp_path):
    run(["triage", "publish", "--env", "dev"], registry_repo, env=s3_env)
    key = "models/triage/dev/" + MODEL_FILE
    original = store.client.get_object(Bucket=store.bucket, Key=key)["Body"].read()
    for broken in (original[:-100], original[:1000] + b"x" + original[1001:]):
        store.client.put_object(Bucket=store.bucket, Key=key, Body=broken)
        with pytest.raises(IntegrityError, match="refusing the dev model"):
            store.fetch("dev", attempts=2, wait=0.1)
    result = run(["triage", "pull-model", "--env", "dev", "--dest", str(tmp_path / "bad")], registry_repo,
                 env=s3_env, check=False)
    assert result.returncode == ExitCode.BAD_INPUT and "refusing" in result.stderr
    assert not (tmp_path / "bad" / MODEL_FILE).exists()
    store.client.put_object(Bucket=store.bucket, Key=key, Body=original)


def test_publish_refuses_a_manifest_that_does_not_match(store):
    with pytest.raises(IntegrityError, match="differs"):
        store.publish("dev", b"model bytes", {"onnx": {"sha256": "0" * 64}}, "card")


def test_unpublished_stage_is_reported(store):
    with pytest.raises(ModelNotPublished, match="no model is published for stage 'prod'"):
        store.fetch("prod")


def test_restart_between_publish_and_pull_loses_nothing(registry_repo, s3_env, server, store, tmp_path):
    run(["triage", "publish", "--stage", "dev"], registry_repo, env=s3_env)
    before = store.client.get_object(Bucket=store.bucket, Key="models/triage/dev/" + MANIFEST_FILE)["Body"].read()
    server.stop()
    server.start()
    manifest = ModelStore(store.client, store.bucket).pull("dev", tmp_path / "after-restart")
    assert json.dumps(manifest, indent=2, ensure_ascii=False).encode() == before
    assert "in sync" in run(["dvc", "status", "-c", "-r", "s3"], registry_repo).stdout


def test_artifacts_yaml_agrees_with_dvc_yaml():
    committed = yaml.safe_load((REPO / "artifacts.yaml").read_text())
    assert committed == gto_index(dvc_artifacts(REPO))
    assert committed["triage-model"]["path"] == dvc_artifacts(REPO)["triage-model"]["path"] == "models/triage.onnx"


def test_generated_secrets_are_safe_on_a_command_line(tmp_path):
    for i in range(200):
        credentials = LocalS3(tmp_path / str(i), port=1).credentials
        assert credentials.secret_key.isalnum() and credentials.access_key.isalnum()
