"""Checks of the training data that a later stage would otherwise trip over deep inside a library.

Run on the parts after the split, from their profile (counts the executor computes in its engine, so the check
costs no pass in Python over the rows): a feature empty in every training row (the imputer would drop it), a
constant feature (no information: a warning, or a failure if the contract says so), a class with fewer training
cases than the contract's `outcome.min_train_cases`, a class absent from the validation or test part (its threshold
and recall could not be measured). Each failure names the column or class and the count.
"""

from __future__ import annotations

from typing import Any

from triage.contract import Contract
from triage.errors import UserError


class TrainingDataError(UserError, ValueError):
    """The training data cannot make a model under this contract; the message says what to change."""


def feature_findings(train: dict[str, Any], contract: Contract) -> tuple[list[str], list[str]]:
    """(failures, warnings) about the features on the training part (`train`: its profile row)."""
    failures, warnings = [], []
    rows = int(train["rows"])
    for name in contract.feature_names:
        present = int(train[f"present_{name}"])
        if present == 0:
            failures.append(f"feature {name!r} is empty in all {rows} training rows: supply its values or "
                            f"list its column under `ignored` in {contract.path}")
        elif train[f"first_{name}"] == train[f"last_{name}"]:
            message = (f"feature {name!r} has one value ({train[f'first_{name}']}) in all {present} training rows "
                       "that record it: it carries no information")
            (failures if contract.spec.checks.constant_feature == "fail" else warnings).append(message)
    return failures, warnings


def class_findings(counts: dict[str, dict[str, int]], contract: Contract) -> list[str]:
    """`counts`: part -> class -> cases."""
    minimum = contract.spec.outcome.min_train_cases
    failures = []
    for klass in contract.classes:
        per_part = {part: counts[part].get(klass, 0) for part in counts}
        if per_part["train"] < minimum:
            failures.append(f"class {klass!r} has {per_part['train']} training case(s), fewer than "
                            f"outcome.min_train_cases={minimum} in {contract.path}: map its codes to another class, "
                            "drop the class, or bring more cases")
        for part in ("valid", "test"):
            if per_part.get(part, 1) == 0:
                failures.append(f"class {klass!r} has no case in the {part} part ({per_part['train']} in training, "
                                f"{sum(per_part.values())} in all): its threshold and recall cannot be measured")
    return failures


def check_training_data(profile: dict[str, dict[str, Any]], contract: Contract) -> list[str]:
    """Raises TrainingDataError listing every failure; returns the warnings. `profile`: part -> its profile row."""
    counts = {part: {c: int(row[f"n_{c}"] or 0) for c in contract.classes} for part, row in profile.items()}
    failures, warnings = feature_findings(profile["train"], contract)
    failures += class_findings(counts, contract)
    if failures:
        raise TrainingDataError("split: the training data cannot make a model under this contract:\n  - "
                                + "\n  - ".join(failures))
    return warnings
