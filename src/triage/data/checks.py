"""Checks of the training data that a later stage would otherwise trip over deep inside a library.

Run on the parts after the split: a feature empty in every training row (the imputer would drop it), a constant
feature (no information: a warning, or a failure if the contract says so), a class with fewer training cases than
the contract's `outcome.min_train_cases`, a class absent from the validation or test part (its threshold and recall
could not be measured). Each failure names the column or class and the count.
"""

from __future__ import annotations

import pandas as pd

from triage.contract import Contract
from triage.data.columns import LABEL_COLUMN
from triage.errors import UserError


class TrainingDataError(UserError, ValueError):
    """The training data cannot make a model under this contract; the message says what to change."""


def feature_findings(train: pd.DataFrame, contract: Contract) -> tuple[list[str], list[str]]:
    """(failures, warnings) about the features on the training part."""
    failures, warnings = [], []
    for name in contract.feature_names:
        present = train[name].dropna()
        if present.empty:
            failures.append(f"feature {name!r} is empty in all {len(train)} training rows: supply its values or "
                            f"list its column under `ignored` in {contract.path}")
        elif present.nunique() == 1:
            message = (f"feature {name!r} has one value ({present.iloc[0]}) in all {len(present)} training rows "
                       "that record it: it carries no information")
            (failures if contract.spec.checks.constant_feature == "fail" else warnings).append(message)
    return failures, warnings


def class_findings(parts: dict[str, pd.DataFrame], contract: Contract) -> list[str]:
    minimum = contract.spec.outcome.min_train_cases
    failures = []
    for klass in contract.classes:
        counts = {name: int((part[LABEL_COLUMN] == klass).sum()) for name, part in parts.items()}
        if counts["train"] < minimum:
            failures.append(f"class {klass!r} has {counts['train']} training case(s), fewer than "
                            f"outcome.min_train_cases={minimum} in {contract.path}: map its codes to another class, "
                            "drop the class, or bring more cases")
        for part in ("valid", "test"):
            if counts.get(part, 1) == 0:
                failures.append(f"class {klass!r} has no case in the {part} part ({counts['train']} in training, "
                                f"{sum(counts.values())} in all): its threshold and recall cannot be measured")
    return failures


def check_training_data(parts: dict[str, pd.DataFrame], contract: Contract) -> list[str]:
    """Raises TrainingDataError listing every failure; returns the warnings."""
    failures, warnings = feature_findings(parts["train"], contract)
    failures += class_findings(parts, contract)
    if failures:
        raise TrainingDataError("split: the training data cannot make a model under this contract:\n  - "
                                + "\n  - ".join(failures))
    return warnings
