"""Model registry (GTO tags over the artifact declared in dvc.yaml) and publishing to the model bucket.

dvc.yaml's `artifacts:` section is the one source; `artifacts.yaml`, which GTO 1.10 reads, is generated from it
(`triage registry sync`) and a test checks that they agree.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from triage.release.card import model_card
from triage_shared.artifacts import ARTIFACT, MANIFEST_PATH, ONNX_PATH, PROFILE_PATH
from triage_shared.store import ModelStore, StoreError, sha256_hex


class RegistryError(RuntimeError):
    pass


def dvc_artifacts(repo: Path = Path(".")) -> dict:
    return yaml.safe_load((repo / "dvc.yaml").read_text())["artifacts"]


def gto_index(artifacts: dict) -> dict:
    """The artifacts.yaml content GTO reads, from dvc.yaml's artifacts (DVC outputs are not in git: virtual)."""
    return {name: {"type": spec["type"], "path": spec["path"], "virtual": True,
                   "description": spec.get("desc", ""), "labels": sorted(spec.get("labels", []))}
            for name, spec in artifacts.items()}


def sync_artifacts_yaml(repo: Path = Path(".")) -> Path:
    target = repo / "artifacts.yaml"
    header = "# Generated from dvc.yaml `artifacts:` by `triage registry sync`; edit dvc.yaml, not this file.\n"
    target.write_text(header + yaml.safe_dump(gto_index(dvc_artifacts(repo)), sort_keys=True))
    return target


@dataclass(frozen=True)
class PromotedVersion:
    name: str
    version: str
    stage: str
    commit: str

    @property
    def tag(self) -> str:
        return f"{self.name}@{self.version}"


def promoted_version(repo: Path, stage: str, name: str = ARTIFACT) -> PromotedVersion:
    from gto.api import find_versions_in_stage

    found = find_versions_in_stage(str(repo), name, stage)
    if not found:
        raise RegistryError(f"no version of {name} is promoted to stage {stage!r}: "
                            f"`gto assign {name} --version vX.Y.Z --stage {stage}` first")
    latest = found[0] if isinstance(found, list) else found
    return PromotedVersion(name, latest.version, stage, latest.commit_hexsha)


def remote_config_from_env() -> dict:
    config = {}
    if os.environ.get("TRIAGE_S3_ENDPOINT"):
        config["endpointurl"] = os.environ["TRIAGE_S3_ENDPOINT"]
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        config["access_key_id"] = os.environ["AWS_ACCESS_KEY_ID"]
        config["secret_access_key"] = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
    return config


def fetch_from_remote(repo: Path, version: PromotedVersion, remote: str) -> tuple[bytes, bytes, bytes | None]:
    """The version's ONNX file, manifest and reference profile (None for versions made before the profile stage)
    from the DVC remote, through an empty cache (never the work tree)."""
    import dvc.api

    with tempfile.TemporaryDirectory(prefix="triage-fetch-") as cache:
        files: list[bytes | None] = []
        for path in (ONNX_PATH, MANIFEST_PATH, PROFILE_PATH):
            try:
                files.append(dvc.api.read(path, repo=str(repo), rev=version.commit, remote=remote, mode="rb",
                                          config={"cache": {"dir": cache}},
                                          remote_config=remote_config_from_env() or None))
            except Exception as error:  # dvc raises several types for a missing object; all mean the same here
                if path == PROFILE_PATH:
                    files.append(None)
                    continue
                raise RegistryError(f"{version.tag}: {path} is not in DVC remote {remote!r} ({type(error).__name__}"
                                    f"): run `dvc push -r {remote}` at {version.commit[:8]}") from error
    return files[0], files[1], files[2]


def publish(repo: Path, stage: str, store: ModelStore, remote: str = "s3", name: str = ARTIFACT) -> dict:
    version = promoted_version(repo, stage, name)
    model, manifest_bytes, profile = fetch_from_remote(repo, version, remote)
    manifest = json.loads(manifest_bytes)
    if sha256_hex(model) != manifest["onnx"]["sha256"]:
        raise RegistryError(f"{version.tag}: the ONNX file's sha256 does not match its manifest; refusing")
    manifest["registry"] = {"name": name, "version": version.version, "stage": stage, "tag": version.tag,
                            "commit": version.commit, "published_at": datetime.now(UTC).isoformat(timespec="seconds")}
    manifest["version"] = version.version
    try:
        store.publish(stage, model, manifest, model_card(manifest), profile)
    except StoreError as error:
        raise RegistryError(str(error)) from error
    return manifest
