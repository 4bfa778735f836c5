"""The model bucket: layout, publishing and verified pulling of a stage's model.

Kept free of the training stack (botocore and the standard library only) so the slim service can use it.

Layout: s3://BUCKET/models/triage/<stage>/{model.onnx, manifest.json, model-card.md}.

Publish order and how a reader detects a half-finished publish: the model card and model.onnx are uploaded first
and manifest.json last; the manifest is the commit point and names the sha256 (and size) of its model. A reader
fetches the manifest, then the model, and checks the model against the manifest. Mid-publish it sees a new model
with the old manifest (or the reverse): the checksum differs, it waits and tries again (a publish finishes in
seconds), and after the retries it refuses the model rather than serve an unverified one.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from triage_shared import bucket as layout
from triage_shared.artifacts import CARD_FILE, MANIFEST_FILE, MODEL_FILE, PROFILE_FILE


class StoreError(RuntimeError):
    """Base of the store's errors; the message says what to do."""


class ModelNotPublished(StoreError):
    pass


class IntegrityError(StoreError):
    pass


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def model_prefix(stage: str) -> str:
    try:
        return layout.model_prefix(stage)
    except ValueError as error:
        raise StoreError(str(error)) from None


@dataclass(frozen=True)
class S3Location:
    bucket: str
    endpoint: str | None  # None: AWS S3
    region: str

    @classmethod
    def from_env(cls, bucket: str | None = None, endpoint: str | None = None) -> S3Location:
        bucket = bucket or os.environ.get("TRIAGE_BUCKET")
        if not bucket:
            raise StoreError("no bucket: set TRIAGE_BUCKET or pass --bucket")
        return cls(bucket, endpoint or os.environ.get("TRIAGE_S3_ENDPOINT") or None,
                   os.environ.get("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "us-east-1")))

    def client(self):
        """A botocore S3 client; credentials from the standard AWS variables or profile."""
        import botocore.config
        import botocore.session

        session = botocore.session.get_session()
        config = botocore.config.Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5,
                                        read_timeout=60, s3={"addressing_style": "path"})
        return session.create_client("s3", endpoint_url=self.endpoint, region_name=self.region, config=config)


class ModelStore:
    def __init__(self, client: Any, bucket: str):
        self.client = client
        self.bucket = bucket

    @classmethod
    def from_env(cls, bucket: str | None = None, endpoint: str | None = None) -> ModelStore:
        location = S3Location.from_env(bucket, endpoint)
        return cls(location.client(), location.bucket)

    def _get(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                return None
            if code in ("AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId", "403"):
                hint = " — or nothing is published there: a role without s3:ListBucket (the service's task role) " \
                       "is answered 403, not 404, for a missing object" if code in ("AccessDenied", "403") else ""
                raise StoreError(f"access to s3://{self.bucket}/{key} refused ({code}): check the credentials "
                                 f"(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY){hint}") from error
            raise StoreError(f"reading s3://{self.bucket}/{key} failed: {code or error}") from error

    def _put(self, key: str, body: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type,
                               Metadata={"sha256": sha256_hex(body)})

    def publish(self, stage: str, model: bytes, manifest: dict, card: str, profile: bytes | None = None) -> None:
        """Upload card, reference profile and model, then the manifest (the commit point). The manifest must match
        the model."""
        if manifest.get("onnx", {}).get("sha256") != sha256_hex(model):
            raise IntegrityError("refusing to publish: the model's sha256 differs from its manifest")
        prefix = model_prefix(stage)
        self._put(prefix + CARD_FILE, card.encode("utf-8"), "text/markdown; charset=utf-8")
        if profile is not None:
            self._put(prefix + PROFILE_FILE, profile, "application/json")
        else:  # never leave an earlier model's profile beside this one
            self.client.delete_object(Bucket=self.bucket, Key=prefix + PROFILE_FILE)
        self._put(prefix + MODEL_FILE, model, "application/octet-stream")
        self._put(prefix + MANIFEST_FILE, json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8"),
                  "application/json")

    def fetch_profile(self, stage: str) -> dict | None:
        """The reference profile published beside the stage's model (None when that model has none)."""
        data = self._get(model_prefix(stage) + PROFILE_FILE)
        return None if data is None else json.loads(data)

    def fetch(self, stage: str, attempts: int = 4, wait: float = 1.0) -> tuple[bytes, dict]:
        """The stage's model and manifest, verified; retried while a publish may be in progress."""
        prefix = model_prefix(stage)
        problem = ""
        for attempt in range(attempts):
            if attempt:
                time.sleep(wait)
            manifest_bytes = self._get(prefix + MANIFEST_FILE)
            if manifest_bytes is None:
                raise ModelNotPublished(f"no model is published for stage {stage!r} in s3://{self.bucket}/{prefix}"
                                        f" (run `triage publish --env {stage}`)")
            model = self._get(prefix + MODEL_FILE)
            if model is None:
                problem = f"s3://{self.bucket}/{prefix}{MODEL_FILE} is missing"
                continue
            try:
                manifest = json.loads(manifest_bytes)
                verify(model, manifest)
                return model, manifest
            except (IntegrityError, ValueError) as error:
                problem = str(error)
        raise IntegrityError(f"refusing the {stage} model after {attempts} attempts: {problem}")

    def pull(self, stage: str, destination: Path) -> dict:
        """Download and verify the stage's model into `destination` (written atomically)."""
        model, manifest = self.fetch(stage)
        destination.mkdir(parents=True, exist_ok=True)
        card = self._get(model_prefix(stage) + CARD_FILE)
        files = {MODEL_FILE: model, MANIFEST_FILE: json.dumps(manifest, indent=2, ensure_ascii=False).encode()}
        if card is not None:
            files[CARD_FILE] = card
        for name, body in files.items():
            temporary = destination / f".{name}.partial"
            temporary.write_bytes(body)
            os.replace(temporary, destination / name)
        return manifest


def verify(model: bytes, manifest: dict) -> None:
    """The model must be exactly the one the manifest describes (size, when recorded, and sha256)."""
    expected = manifest.get("onnx", {}).get("sha256")
    if not expected:
        raise IntegrityError("the manifest names no sha256 for its model")
    size = manifest.get("onnx", {}).get("size_bytes")
    if size is not None and size != len(model):
        raise IntegrityError(f"model is {len(model)} bytes, the manifest says {size} (truncated or replaced)")
    actual = sha256_hex(model)
    if actual != expected:
        raise IntegrityError(f"model sha256 {actual[:16]}… does not match the manifest's {expected[:16]}…")


def verify_files(model_path: Path, manifest_path: Path) -> dict:
    manifest = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
    verify(Path(model_path).read_bytes(), manifest)
    return manifest
