"""The canonical columns of the clean table, whatever the extract called them (the contract maps its own names)."""

from __future__ import annotations

PATIENT_ID = "patient_id"  # keyed hash
VISIT_ID = "visit_id"  # keyed hash
VISIT_DATE = "visit_date"
SITE_ID = "site_id"
OUTCOME_CODE = "outcome_code"
LABEL_COLUMN = "triage_class"
