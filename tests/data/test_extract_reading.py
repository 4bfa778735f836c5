"""Reading extracts as RFC 4180 text whatever the header looks like, detecting only the separator; and the 0-row
refusal (a header-only extract) under contracts with and without a visit id."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO, ingest_and_validate
from triage.contract import load_contract
from triage.data.extracts import ROW_FAULT_COLUMN, ExtractError, detect_delimiter, list_extracts, read_csv_text
from triage.data.validation import ValidationFailed, check_bad_fraction
from triage.simulation.mess import as_text
from triage.stages.__main__ import run as run_stage
from triage_shared.pseudonym import KEY_VARIABLE

FLCHAIN = "data/contracts/examples/flchain.yaml"  # no visit id, no visit date, no site
TRICKY = [
    '=HYPERLINK("http://x") Smith, Jr. 235',  # the value that split rows in issue 18
    'say ""hello""',
    "two\nlines, and a comma",
    'ends with a quote"',
    "semi;colon|pipe\ttab",
    "",
]


@pytest.fixture()
def keyed(monkeypatch):
    monkeypatch.setenv(KEY_VARIABLE, "test-secret-key")


def tricky_frame() -> pd.DataFrame:
    return pd.DataFrame({"visit_id": [f"V-{i}" for i in range(len(TRICKY))], "name": TRICKY,
                         "age": [str(30 + i) for i in range(len(TRICKY))]})


def read_back(path: Path) -> pd.DataFrame:
    extract = read_csv_text(path)
    assert extract.row_faults == []
    return extract.frame.drop(columns=["record_id"])


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_python_csv_files_round_trip_whatever_the_separator(tmp_path, delimiter):
    """The header has no quotes (the case where csv.Sniffer guessed doublequote=False)."""
    frame = tricky_frame()
    path = tmp_path / "python.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(frame.columns)
        writer.writerows(frame.itertuples(index=False))
    assert detect_delimiter(path.read_text(encoding="utf-8")) == delimiter
    pd.testing.assert_frame_equal(read_back(path), frame, check_dtype=False)


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_pandas_to_csv_files_round_trip(tmp_path, delimiter):
    frame = tricky_frame()
    path = tmp_path / "pandas.csv"
    frame.to_csv(path, index=False, sep=delimiter)
    pd.testing.assert_frame_equal(read_back(path), frame, check_dtype=False)


def test_the_separator_is_the_one_the_rows_agree_on():
    assert detect_delimiter('"peso (kg, aprox.)";talla;nota\n70,5;170;"a, b"\n') == ";"
    assert detect_delimiter("peso (kg, aprox.);talla;nota\n70,5;170;x\n") == ";"
    assert detect_delimiter('a,b,c\n1,"x;y;z;w",3\n') == ","
    assert detect_delimiter("solo\n1\n") == ","


def spreadsheet_export(frame: pd.DataFrame) -> bytes:
    """As a spreadsheet in a Spanish locale saves 'CSV UTF-8': BOM, `;`, decimal comma, CRLF, quotes doubled."""
    text = frame.copy()
    text["temperature_c"] = text["temperature_c"].str.replace(".", ",", regex=False)
    text.loc[0, "site_id"] = 'S01 "norte"; planta 2'
    lines = text.to_csv(index=False, sep=";", lineterminator="\r\n")
    return b"\xef\xbb\xbf" + lines.encode("utf-8")


def test_a_spreadsheet_export_is_ingested_like_the_original(raw_dir, clean_cohort, contract, keyed):
    text = as_text(clean_cohort.head(40)).reset_index(drop=True)
    (raw_dir / "hoja.csv").write_bytes(spreadsheet_export(text))
    clean, quarantine, accounting = ingest_and_validate(list_extracts(raw_dir), contract, 0.05)
    assert (accounting["rows_in"], len(clean), len(quarantine), accounting["refused"]) == (40, 40, 0, False)
    expected = pd.to_numeric(text["temperature_c"].replace("", None))
    pd.testing.assert_series_equal(clean["temperature_c"], expected, check_names=False, check_dtype=False)
    assert clean.loc[0, "site_id"] == 'S01 "NORTE"; PLANTA 2'


def test_a_malformed_row_keeps_its_record_but_none_of_its_cells(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text('visit_id,name,visit_date\nV-1,"Ana",2024-01-01\nV-H1-2,Smith, Jr.,2024-01-02\nV-3\n')
    extract = read_csv_text(path)
    assert extract.frame["record_id"].str.rsplit(":", n=1).str[1].tolist() == ["2", "3", "4"]
    assert extract.frame.iloc[1:, :3].map(lambda cell: cell == "").all().all()
    assert [(f["column"], f["value"]) for f in extract.row_faults] == [(ROW_FAULT_COLUMN, None)] * 2


def test_an_unreadable_csv_is_refused_naming_file_and_line(tmp_path):
    path = tmp_path / "huge.csv"
    path.write_text("a,b\n1,2\n3," + "x" * (csv.field_size_limit() + 1) + "\n")
    with pytest.raises(ExtractError, match=r"huge.csv: line \d+ cannot be read as CSV"):
        read_csv_text(path)


def header_only(directory: Path, contract, names=("extract.csv",)) -> None:
    header = ",".join(column for _, column in contract.spec.source_columns())
    for name in names:
        (directory / name).write_text(header + "\r\n\r\n", encoding="utf-8")


@pytest.mark.parametrize("contract_file", ["data/contracts/simulated.yaml", FLCHAIN], ids=["visit-id", "no-visit-id"])
@pytest.mark.parametrize("names", [("extract.csv",), ("a.csv", "b.csv")], ids=["one", "two"])
def test_header_only_extracts_are_refused_as_0_rows(raw_dir, contract_file, names, keyed):
    contract = load_contract(contract_file)
    header_only(raw_dir, contract, names)
    clean, quarantine, accounting = ingest_and_validate(list_extracts(raw_dir), contract, 0.05)
    assert (len(clean), len(quarantine), accounting["rows_in"], accounting["refused"]) == (0, 0, 0, True)
    with pytest.raises(ValidationFailed) as refused:
        check_bad_fraction(accounting, 0.05)
    message = str(refused.value)
    assert message.startswith("validate: 0 rows") and "\n" not in message and "dtype" not in message


def test_no_clean_row_left_is_refused_even_at_a_limit_of_1(raw_dir, clean_cohort, contract, keyed):
    text = as_text(clean_cohort.head(5))
    text["age_years"] = "abc"
    text.to_csv(raw_dir / "extract.csv", index=False)
    _, _, accounting = ingest_and_validate(list_extracts(raw_dir), contract, 1.0)
    with pytest.raises(ValidationFailed, match=r"0 rows left clean of 5 rows in \(5 quarantined"):
        check_bad_fraction(accounting, 1.0)


@pytest.mark.parametrize("contract_file", ["data/contracts/simulated.yaml", FLCHAIN], ids=["visit-id", "no-visit-id"])
def test_the_stages_refuse_a_header_only_extract_on_one_line(tmp_path, monkeypatch, capsys, contract_file, keyed):
    (tmp_path / "raw").mkdir()
    header_only(tmp_path / "raw", load_contract(contract_file))
    params = {"data": {"contract": str(REPO / contract_file), "raw_dir": "raw"}, "validate": {"max_bad_fraction": 0.05}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert (run_stage("ingest"), run_stage("validate")) == (0, 2)
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("stage validate failed: validate: 0 rows") and "dtype" not in line
    assert json.loads((tmp_path / "reports/validation.json").read_text())["refused"] is True
    assert (tmp_path / "data/interim/quarantine.csv").is_file()
    assert not (tmp_path / "data/interim/clean.parquet").exists()
