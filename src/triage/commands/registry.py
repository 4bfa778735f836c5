"""`triage registry sync`, `triage publish`, `triage pull-model`: the model registry (GTO tags on git) and the
published models in the bucket."""

from __future__ import annotations

import sys
from argparse import Namespace
from pathlib import Path

from triage.errors import ExitCode


def sync(args: Namespace) -> int:
    """artifacts.yaml (GTO) from dvc.yaml's artifacts."""
    from triage.release.registry import sync_artifacts_yaml

    print(f"wrote {sync_artifacts_yaml(Path(args.repo))}")
    return ExitCode.OK


def publish(args: Namespace) -> int:
    """The version promoted to an environment, to s3://BUCKET/models/triage/<env>/."""
    from triage.release.registry import RegistryError
    from triage.release.registry import publish as publish_version
    from triage_shared.bucket import model_prefix
    from triage_shared.store import ModelStore, StoreError

    try:
        store = ModelStore.from_env(args.bucket, args.endpoint)
        manifest = publish_version(Path(args.repo), args.env, store, remote=args.remote)
    except (RegistryError, StoreError) as error:
        print(f"publish: {error}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    print(f"published {manifest['registry']['tag']} to s3://{store.bucket}/{model_prefix(args.env)}")
    print(f"  sha256  {manifest['onnx']['sha256']}")
    print("  metrics " + ", ".join(f"{k}={v}" for k, v in manifest["metrics"].items()))
    return ExitCode.OK


def pull_model(args: Namespace) -> int:
    """The reader's side: an environment's published model, downloaded and verified."""
    from triage_shared.store import ModelStore, StoreError

    try:
        manifest = ModelStore.from_env(args.bucket, args.endpoint).pull(args.env, Path(args.dest))
    except StoreError as error:
        print(f"pull-model: {error}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    print(f"pulled {manifest['name']} {manifest['version']} ({args.env}) into {args.dest}: sha256 verified "
          f"{manifest['onnx']['sha256'][:16]}…")
    return ExitCode.OK
