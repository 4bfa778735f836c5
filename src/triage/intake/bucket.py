"""A small wrapper of a botocore S3 client for the intake: list, read and write JSON, download by ETag, move."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from triage.intake import IntakeError
from triage.intake.layout import clean_etag


@dataclass(frozen=True)
class S3Settings:
    """Where the bucket is and how to reach it. Empty keys: botocore's own chain (environment, profile, role)."""

    bucket: str
    endpoint: str | None = None
    region: str = "us-east-1"
    access_key: str | None = None
    secret_key: str | None = None

    @classmethod
    def from_connection(cls, bucket: str, login: str | None, password: str | None, extra: dict) -> S3Settings:
        """From an Airflow connection (type aws or generic): login/password are the access key and secret (empty
        for botocore's chain: a role, a profile), extra `endpoint_url` (any S3-compatible server; absent: AWS)
        and `region_name`."""
        endpoint = extra.get("endpoint_url") or extra.get("host") or None
        return cls(bucket, endpoint, extra.get("region_name") or "us-east-1", login or None, password or None)

    def tool_environment(self) -> dict[str, str]:
        """The same credentials for the tools (dvc push/pull) when the DVC remote's config holds none."""
        if not (self.access_key and self.secret_key):
            return {}
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_DEFAULT_REGION": self.region}

    def client(self) -> Any:
        import botocore.config
        import botocore.session

        session = botocore.session.get_session()
        config = botocore.config.Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5,
                                        read_timeout=120, s3={"addressing_style": "path"})
        credentials = {"aws_access_key_id": self.access_key, "aws_secret_access_key": self.secret_key} \
            if self.access_key and self.secret_key else {}
        return session.create_client("s3", endpoint_url=self.endpoint or None, region_name=self.region,
                                     config=config, **credentials)


class IntakeBucket:
    def __init__(self, client: Any, bucket: str):
        self.client = client
        self.bucket = bucket

    @classmethod
    def connect(cls, settings: S3Settings) -> IntakeBucket:
        return cls(settings.client(), settings.bucket)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def objects(self, prefix: str) -> Iterator[dict]:
        """Every object under `prefix`: {Key, ETag, Size, LastModified}."""
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                yield from page.get("Contents", [])
        except self._client_error() as error:
            raise IntakeError(f"listing {self.uri(prefix)} failed: {_code(error)}") from error

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except self._client_error() as error:
            if _code(error) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise IntakeError(f"reading {self.uri(key)} failed: {_code(error)}") from error
        return True

    def get_json(self, key: str) -> dict | None:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except self._client_error() as error:
            if _code(error) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise IntakeError(f"reading {self.uri(key)} failed: {_code(error)}") from error
        try:
            return json.loads(body)
        except ValueError as error:
            raise IntakeError(f"{self.uri(key)} is not JSON ({error})") from error

    def put_json(self, key: str, data: dict) -> None:
        body = json.dumps(data, indent=2, ensure_ascii=False, default=str).encode("utf-8")
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=path.read_bytes(), ContentType=content_type)

    def download(self, key: str, etag: str, destination: Path) -> Path:
        """The object's bytes into `destination`, refused if the object changed since it was listed (another ETag)."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except self._client_error() as error:
            raise IntakeError(f"downloading {self.uri(key)} failed: {_code(error)}") from error
        found = clean_etag(response.get("ETag", ""), key)
        if found != etag:
            raise IntakeError(f"{self.uri(key)} changed since it was listed (ETag {found}, expected {etag}): it is "
                              "taken as a new extract on the next run")
        destination.parent.mkdir(parents=True, exist_ok=True)
        with open(destination, "wb") as handle:
            for chunk in iter(lambda: response["Body"].read(1 << 20), b""):
                handle.write(chunk)
        return destination

    def move(self, key: str, destination: str) -> None:
        """Copy then delete (S3 has no rename)."""
        self.client.copy_object(Bucket=self.bucket, Key=destination, CopySource={"Bucket": self.bucket, "Key": key})
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def _client_error(self) -> type[Exception]:
        from botocore.exceptions import ClientError

        return ClientError


def _code(error: Exception) -> str:
    response = getattr(error, "response", {}) or {}
    return str(response.get("Error", {}).get("Code", "") or error)
