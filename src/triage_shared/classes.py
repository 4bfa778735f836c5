"""The product's triage classes (a data contract declares which of them its data has, at least two), their Spanish
labels as clinicians read them, and the specialist-review message."""

from __future__ import annotations

CLASSES: tuple[str, ...] = ("none", "mild", "acute", "chronic", "orphan")
CLASS_LABELS_ES: dict[str, str] = {
    "none": "NO ENFERMO",
    "mild": "ENFERMEDAD LEVE",
    "acute": "ENFERMEDAD AGUDA",
    "chronic": "ENFERMEDAD CRÓNICA",
    "orphan": "COMPATIBLE CON ENFERMEDAD HUÉRFANA",
}
ORPHAN_CLASS = "orphan"
REVIEW_MESSAGE_ES = "Revisión por especialista"
NO_ORPHAN_DECISION = "this model makes no orphan decision: its data has no orphan class"


def orphan_index(classes: list[str] | tuple[str, ...]) -> int | None:
    """Position of the orphan class in a model's class list, or None when the model has none."""
    return list(classes).index(ORPHAN_CLASS) if ORPHAN_CLASS in classes else None
