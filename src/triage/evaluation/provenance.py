"""Whether reports/metrics.json belongs to the pipeline being gated.

The `evaluate` stage records what its metrics were computed under: the data contract's sha256 and the values of the
params it depends on (the keys listed under `evaluate: params:` in dvc.yaml, `EVALUATE_PARAMS` here; a test keeps
the two equal). The gate, the promotion check and the pull-request report compare that record with the current
params and contract, and ask DVC whether the `evaluate` stage and everything upstream of it are up to date, so
metrics left by an earlier run (a `dvc repro` that failed in `validate` under a new contract, a params edit not yet
reproduced) can never pass for the current pipeline's.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

EVALUATE_STAGE = "evaluate"
EVALUATE_PARAMS = ("base.seed", "data.raw_dir", "split.holdout_file", "evaluate")


def param_value(params: dict[str, Any], dotted: str) -> Any:
    value: Any = params
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def contract_sha256(params: dict[str, Any], root: Path = Path(".")) -> str | None:
    """The sha256 of the contract file the params name (None when it cannot be read)."""
    try:
        return hashlib.sha256((root / params["data"]["contract"]).read_bytes()).hexdigest()
    except (OSError, KeyError, TypeError):
        return None


def provenance(params: dict[str, Any], contract_digest: str) -> dict[str, Any]:
    """What the evaluate stage writes into reports/metrics.json."""
    return {"contract_sha256": contract_digest, "params": {key: param_value(params, key) for key in EVALUATE_PARAMS}}


def mismatches(metrics: dict[str, Any], params: dict[str, Any], root: Path = Path(".")) -> list[str]:
    """Why the metrics are not of the current params and contract (empty: they are)."""
    recorded = metrics.get("provenance")
    if not isinstance(recorded, dict):
        return ["reports/metrics.json records no provenance (written by an older evaluate stage)"]
    reasons = []
    current = contract_sha256(params, root)
    if recorded.get("contract_sha256") != current:
        reasons.append(f"the metrics were computed under contract sha256 {str(recorded.get('contract_sha256'))[:12]},"
                       f" the params name {params.get('data', {}).get('contract')} (sha256 {str(current)[:12]})")
    changed = [key for key in EVALUATE_PARAMS if recorded.get("params", {}).get(key) != param_value(params, key)]
    if changed:
        reasons.append(f"params changed since the metrics were computed: {', '.join(changed)}")
    return reasons


def pipeline_changes(root: Path = Path("."), stage: str = EVALUATE_STAGE) -> list[str]:
    """What `dvc status` reports for `stage` and the stages upstream of it (empty: up to date)."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(str(root)) as repo:
            status = repo.status(targets=[stage], with_deps=True)
    except DvcException as error:
        return [f"dvc status {stage} could not run: {error}"]
    return [f"stage {name.split(':')[-1]}: {describe_change(changes)}" for name, changes in status.items()]


def describe_change(changes: list[Any]) -> str:
    """`dvc status` entries, e.g. [{'changed deps': {...}}, 'changed checksum'] -> 'changed deps (data/...)'."""
    parts = []
    for change in changes:
        if isinstance(change, dict):
            for kind, paths in change.items():
                names = ", ".join(sorted(paths)) if isinstance(paths, dict) else str(paths)
                parts.append(f"{kind} ({names})")
        else:
            parts.append(str(change))
    return "; ".join(parts)


def staleness(metrics: dict[str, Any], params: dict[str, Any], root: Path = Path(".")) -> list[str]:
    """Every reason the metrics are not the current pipeline's: provenance first, then `dvc status`."""
    return mismatches(metrics, params, root) + pipeline_changes(root)
