"""The job's bootstrap: `python3 run_job.py <spec uri>` (AWS Batch, the stand-in's subprocess) or the entry point of
`spark-submit` (EMR Serverless, the stand-in's standalone cluster).

It imports nothing of triage: it fetches the specification and the code archive it names, puts the archive on
sys.path, and hands over to `triage.cloud.job`. So the image carries the dependencies, and every run brings the
exact code of the working tree that submitted it. Standard library and pyarrow only.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from urllib.parse import urlparse

import pyarrow.fs as pafs


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    if not uri.startswith("s3://"):
        return pafs.LocalFileSystem(), os.path.abspath(uri)
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"
    endpoint = os.environ.get("TRIAGE_S3_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        return pafs.S3FileSystem(region=region), uri[len("s3://"):]
    parsed = urlparse(endpoint)
    return pafs.S3FileSystem(endpoint_override=parsed.netloc, scheme=parsed.scheme or "https",
                             region=region), uri[len("s3://"):]


def read(uri: str) -> bytes:
    fs, path = filesystem(uri)
    with fs.open_input_stream(path) as stream:
        return stream.read()


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[1]:
        print("usage: run_job.py <job spec uri>", file=sys.stderr)
        return 2
    spec_uri = argv[1]
    spec = json.loads(read(spec_uri))
    code = os.path.join(tempfile.mkdtemp(prefix="triage-code-"), "triage-code.zip")
    with open(code, "wb") as out:
        out.write(read(f"{spec['jobs_uri'].rstrip('/')}/{spec['code']}"))
    sys.path.insert(0, code)
    from triage.cloud.job import run_spec

    return run_spec(spec_uri, code)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
