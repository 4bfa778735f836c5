"""What the product fixes whatever the data: the triage classes, their Spanish labels, the review message, and the
canonical column names of the clean table.

The features are not here: they come from the data contract file (`triage.contract`), so that another extract,
with its own features, trains through params.yaml alone.
"""

from __future__ import annotations

# --- triage classes (a contract declares which of them its data has, at least two) --------------------------------
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

# --- canonical columns of the clean table (whatever the extract called them) ------------------------------------
PATIENT_ID = "patient_id"  # keyed hash
VISIT_ID = "visit_id"  # keyed hash
VISIT_DATE = "visit_date"
SITE_ID = "site_id"
OUTCOME_CODE = "outcome_code"
LABEL_COLUMN = "triage_class"
