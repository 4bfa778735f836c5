"""`python -m triage.intake.drop --site SITE FILE...`: put extracts where the intake finds them (s3://BUCKET/raw/SITE/),
and `--status`: print the latest intake run's record. What a site's own upload (aws s3 cp, an SFTP bridge) does;
here for the demo, the tests and operators. The bucket and credentials come from the environment, as `triage s3 env`
exports them: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, TRIAGE_S3_ENDPOINT (absent: AWS), TRIAGE_BUCKET."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from triage.intake.bucket import IntakeBucket, S3Settings
from triage.intake.layout import LATEST_RUN, RAW, SITE_NAME, SUFFIXES


def bucket_from_env() -> IntakeBucket:
    name = os.environ.get("TRIAGE_BUCKET")
    if not name:
        raise SystemExit("drop: set TRIAGE_BUCKET (and the AWS_* keys, TRIAGE_S3_ENDPOINT): eval \"$(triage s3 env)\"")
    return IntakeBucket.connect(S3Settings(name, os.environ.get("TRIAGE_S3_ENDPOINT") or None,
                                           os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                                           os.environ.get("AWS_ACCESS_KEY_ID"),
                                           os.environ.get("AWS_SECRET_ACCESS_KEY")))


def drop(bucket: IntakeBucket, site: str, files: list[Path], folder: str = "") -> list[str]:
    if not SITE_NAME.match(site) or site == "rejected":
        raise SystemExit(f"drop: site {site!r} is not a plain name (letters, digits, '_', '.', '-'; not 'rejected')")
    keys = []
    for path in files:
        if path.suffix.lower() not in SUFFIXES or not path.is_file():
            raise SystemExit(f"drop: {path} is not a CSV or Parquet file")
        key = f"{RAW}{site}/{folder.strip('/') + '/' if folder.strip('/') else ''}{path.name}"
        bucket.put_file(key, path, "text/csv" if path.suffix.lower() == ".csv" else "application/octet-stream")
        keys.append(bucket.uri(key))
    return keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m triage.intake.drop", description=__doc__)
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--site", help="the site's folder under raw/")
    parser.add_argument("--folder", default="", help="a sub-folder under raw/<site>/ (e.g. a date)")
    parser.add_argument("--status", action="store_true", help="print monitoring/intake/latest-run.json")
    args = parser.parse_args(argv)
    bucket = bucket_from_env()
    if args.status:
        record = bucket.get_json(LATEST_RUN)
        print(json.dumps(record, indent=2, ensure_ascii=False) if record else "no intake run recorded yet")
        return 0
    if not args.site or not args.files:
        parser.error("--site and at least one file are needed (or --status)")
    for uri in drop(bucket, args.site, args.files, args.folder):
        print(f"dropped {uri}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
