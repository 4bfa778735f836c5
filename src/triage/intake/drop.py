"""Extracts put where the intake finds them (s3://BUCKET/raw/SITE/), as `triage intake drop` does: what a site's own
upload (aws s3 cp, an SFTP bridge) does; here for the demo, the tests and operators. The bucket and credentials come
from the environment, as `triage s3 env` exports them: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, TRIAGE_S3_ENDPOINT
(absent: AWS), TRIAGE_BUCKET."""

from __future__ import annotations

import os
from pathlib import Path

from triage.errors import UserError
from triage.intake.bucket import IntakeBucket, S3Settings
from triage.intake.layout import RAW, SITE_NAME, SUFFIXES


def bucket_from_env() -> IntakeBucket:
    name = os.environ.get("TRIAGE_BUCKET")
    if not name:
        raise UserError("set TRIAGE_BUCKET (and the AWS_* keys, TRIAGE_S3_ENDPOINT): eval \"$(triage s3 env)\"")
    return IntakeBucket.connect(S3Settings(name, os.environ.get("TRIAGE_S3_ENDPOINT") or None,
                                           os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                                           os.environ.get("AWS_ACCESS_KEY_ID"),
                                           os.environ.get("AWS_SECRET_ACCESS_KEY")))


def drop(bucket: IntakeBucket, site: str, files: list[Path], folder: str = "") -> list[str]:
    if not SITE_NAME.match(site) or site == "rejected":
        raise UserError(f"site {site!r} is not a plain name (letters, digits, '_', '.', '-'; not 'rejected')")
    keys = []
    for path in files:
        if path.suffix.lower() not in SUFFIXES or not path.is_file():
            raise UserError(f"{path} is not a CSV or Parquet file")
        key = f"{RAW}{site}/{folder.strip('/') + '/' if folder.strip('/') else ''}{path.name}"
        bucket.put_file(key, path, "text/csv" if path.suffix.lower() == ".csv" else "application/octet-stream")
        keys.append(bucket.uri(key))
    return keys

