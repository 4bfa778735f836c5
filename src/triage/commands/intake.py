"""`triage intake drop` and `triage intake status`: put extracts where the batch intake finds them, and read the
latest intake run's record (the bucket and keys from the environment: `eval "$(triage s3 env)"`)."""

from __future__ import annotations

import json
from argparse import Namespace

from triage.errors import ExitCode


def drop(args: Namespace) -> int:
    from triage.intake.drop import bucket_from_env
    from triage.intake.drop import drop as drop_files

    for uri in drop_files(bucket_from_env(), args.site, args.files, args.folder):
        print(f"dropped {uri}")
    return ExitCode.OK


def status(args: Namespace) -> int:
    from triage.intake.drop import bucket_from_env
    from triage.intake.layout import LATEST_RUN

    record = bucket_from_env().get_json(LATEST_RUN)
    print(json.dumps(record, indent=2, ensure_ascii=False) if record else "no intake run recorded yet")
    return ExitCode.OK
