"""`triage contract draft --omop`: a draft contract from the example CDM that validates as it stands, proposes the
non-inpatient visit types, the frequent concepts of each domain and the outcome codes mapped by the reference
contract's ICD-10 / ORPHA prefixes, notes its guesses for review, and extracts visits."""

from __future__ import annotations

import subprocess
import sys

import yaml

from triage.contract import load_contract
from triage.data.omop.example import write_example_cdm
from triage.data.omop.extract import extract_cdm

from ..conftest import REPO


def test_a_draft_from_the_example_cdm_validates_and_extracts_visits(tmp_path):
    cdm = write_example_cdm(tmp_path / "cdm")
    out = tmp_path / "draft.yaml"
    done = subprocess.run([sys.executable, "-m", "triage.cli", "contract", "draft", "--omop", str(cdm), "--out",
                           str(out)], cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "guess(es) to review" in done.stdout
    spec = yaml.safe_load(out.read_text())
    assert spec["source"]["omop"]["index_visits"]["visit_concepts"] == [9202, 9203]  # not the inpatient 9201
    domains = {feature["omop"].get("domain") for feature in spec["features"].values()}
    assert {"measurement", "condition", "procedure"} <= domains
    assert any(feature["type"] == "float" for feature in spec["features"].values())
    classes = spec["outcome"]["classes"]
    assert classes["orphan"] == ["ORPHA:"] and "I10" in classes["chronic"] and len(classes) >= 3
    assert any("visit types" in note for note in spec["review"])
    contract = load_contract(out)
    report = extract_cdm(contract, tmp_path / "visits.parquet", raw_dir="")
    assert report["visits"] > 20_000 and report["visits"] + sum(report["removed_by_population_rules"].values()) == \
        report["index_visits"]
