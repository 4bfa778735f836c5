"""A hostile extract through the ingest and validate stages: no identifier or personal value reaches any written file
(parquet contents, quarantine.csv, validation.json, parse errors), malformed rows are quarantined with their row fault
and no value, the quarantine stays safe in a spreadsheet, and a refusal still writes what it refused."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO, ingest_and_validate, ingested_rows
from triage import config
from triage.contract import load_contract
from triage.data.extracts import ROW_FAULT_COLUMN, list_extracts
from triage.simulation.mess import as_text
from triage.stages.__main__ import run as run_stage
from triage_shared.pseudonym import KEY_VARIABLE

ROWS = 60
MALFORMED = (5, 11, 17)  # written by hand: an unquoted comma in the name (extra field), a field left out
TWIN_VISIT = (20, 21)  # two different visits given one visit id
FORMULA_SITE, BAD_AGE = 30, 30  # a formula in a kept text column of a row quarantined for its age


def personal(i: int) -> dict[str, str]:
    return {"patient_id": f"PAT-{i:05d}-Q", "visit_id": f"V-H1-{i:06d}", "insurance_no": f"=INS{i:05d}+1",
            "full_name": f'=HYPERLINK("http://x{i}") Qzorbel{i:03d}, Jr. {i}', "national_id": f"NID{i:07d}X",
            "birth_date": f"1931-02-{i % 28 + 1:02d}"}


def secrets() -> list[str]:
    """Every identifier and personal value, and the distinctive part of each (a split value leaves fragments)."""
    values = [value for i in range(ROWS) for value in personal(i).values()]
    return values + [f"Qzorbel{i:03d}" for i in range(ROWS)] + [f"INS{i:05d}" for i in range(ROWS)]


def hostile_text(clean_cohort: pd.DataFrame) -> str:
    text = as_text(clean_cohort.head(ROWS)).reset_index(drop=True).assign(insurance_no="")
    for i in range(ROWS):
        for column, value in personal(i).items():
            text.loc[i, column] = value
    text.loc[TWIN_VISIT[1], "visit_id"] = text.loc[TWIN_VISIT[0], "visit_id"]
    text.loc[FORMULA_SITE, "site_id"] = '=HYPERLINK("http://evil","x")'
    text.loc[BAD_AGE, "age_years"] = "@SUM(1+1)"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")  # RFC 4180: quotes doubled inside quoted values
    writer.writerow(text.columns)
    for i, row in enumerate(text.itertuples(index=False)):
        fields = list(row)
        if i in MALFORMED:  # unquoted: the name's comma is one field too many, or a field is left out
            fields = [f.replace('"', "").replace(",", "" if i == 11 else ",") for f in fields
                      if i != 11 or f != personal(i)["national_id"]]
            out.write(",".join(fields) + "\n")
        else:
            writer.writerow(fields)
    return out.getvalue()


def hostile_contract(directory: Path) -> Path:
    """The simulated contract with a third identifier column (identifiers.other)."""
    spec = yaml.safe_load((REPO / "data/contracts/simulated.yaml").read_text(encoding="utf-8"))
    spec["identifiers"]["other"] = ["insurance_no"]
    path = directory / "hostile.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture()
def workspace(tmp_path, clean_cohort, monkeypatch) -> Path:
    """A working directory the stages run in: params.yaml, the contract and the hostile extract."""
    monkeypatch.setenv(KEY_VARIABLE, "test-secret-key")
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw/hostile.csv").write_text(hostile_text(clean_cohort), encoding="utf-8")
    params = {"data": {"contract": str(hostile_contract(tmp_path)), "raw_dir": "raw"},
              "validate": {"max_bad_fraction": 0.2}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def set_limit(workspace: Path, limit: float) -> None:
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    params["validate"]["max_bad_fraction"] = limit
    (workspace / "params.yaml").write_text(yaml.safe_dump(params))


def written_text(workspace: Path) -> dict[str, str]:
    """Every file the stages wrote, as text: parquet files by their contents, the others as they are."""
    files = [p for p in workspace.rglob("*") if p.is_file() and p.parent.name != "raw" and p.suffix != ".yaml"]
    return {str(p.relative_to(workspace)): pd.read_parquet(p).to_csv(index=False) if p.suffix == ".parquet"
            else p.read_text(encoding="utf-8") for p in files}


def quarantine_reasons(workspace: Path) -> dict[str, list[dict]]:
    quarantine = pd.read_csv(workspace / config.QUARANTINE, dtype=str)
    return dict(zip(quarantine["record_id"].str.rsplit(":", n=1).str[1].astype(int),
                    quarantine["reasons"].map(json.loads), strict=True))


def test_no_identifier_or_personal_value_reaches_a_written_file(workspace):
    assert (run_stage("ingest"), run_stage("validate")) == (0, 0)
    written = written_text(workspace)
    assert {"data/interim/clean.parquet", "data/interim/quarantine.csv", "data/interim/ingested.parquet",
            "data/interim/ingest_stats.json", "reports/validation.json"} <= set(written)
    leaks = {(name, secret) for name, text in written.items() for secret in secrets() if secret in text}
    assert not leaks
    for name in ("full_name", "national_id", "birth_date"):  # personal-data columns are in no output at all
        assert not [file for file, text in written.items() if name in text]


def test_malformed_rows_carry_their_fault_and_no_value(workspace):
    assert (run_stage("ingest"), run_stage("validate")) == (0, 0)
    reasons = quarantine_reasons(workspace)
    for i in MALFORMED:
        [fault] = reasons[i + 2]  # the header is line 1
        assert fault["column"] == ROW_FAULT_COLUMN and fault["value"] is None
        assert fault["rule"].startswith("fields: the header has 76, this row 7")
    twins = [r for i in TWIN_VISIT for r in reasons[i + 2]]
    assert twins and all(r["column"] == "visit_id" and r["value"] is None for r in twins)
    assert {(r["column"], r["value"]) for r in reasons[BAD_AGE + 2]} == {("age_years", "@SUM(1+1)")}
    assert len(reasons) == len(MALFORMED) + len(TWIN_VISIT) + 1  # every other row, quoted names too, is clean


def test_the_quarantine_of_a_hostile_extract_is_spreadsheet_safe(workspace):
    assert (run_stage("ingest"), run_stage("validate")) == (0, 0)
    with open(workspace / config.QUARANTINE, newline="", encoding="utf-8") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "@", "\t", "\r")]
    assert "'=HYPERLINK(\"HTTP://EVIL\",\"X\")" in cells  # the site, upper-cased at ingest


def test_a_refusal_writes_the_quarantine_and_the_accounting_then_fails_on_one_line(workspace, capsys):
    stale = workspace / config.CLEAN
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"a clean table of an earlier run")
    set_limit(workspace, 0.01)
    assert (run_stage("ingest"), run_stage("validate")) == (0, 2)
    accounting = json.loads((workspace / "reports/validation.json").read_text())
    assert accounting["refused"] is True and accounting["max_bad_fraction"] == 0.01
    assert accounting["rows_quarantined"] == 6 and len(quarantine_reasons(workspace)) == 6
    assert not stale.exists()  # nothing downstream reads rows this run refused
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "above validate.max_bad_fraction=0.01" in line and "6 of 60 rows" in line and "(10.0%)" in line
    assert "(row): fields: the header has 76" in line and "Traceback" not in line


def test_in_memory_ingest_and_validate_leak_nothing(workspace):
    contract = load_contract(workspace / "hostile.yaml")
    paths = list_extracts(workspace / "raw")
    clean, quarantine, accounting = ingest_and_validate(paths, contract, 0.2)
    tables = [clean, quarantine, ingested_rows(paths, contract), pd.DataFrame([json.dumps(accounting)])]
    text = "\n".join(table.to_csv(index=False) for table in tables)
    assert not [secret for secret in secrets() if secret in text]
