"""Per-feature missing-value codes (issue 18): a value a site writes for "not measured" (a cholesterol of 0, a -9,
a '?') is declared in the contract and read as missing, not as a value, matched on the stripped, casefolded text and,
for numbers, numerically (`0`, `0.0` and `0,0` under a decimal comma). And `triage contract check --extract` applies
the pipeline's limit on the quarantined share, saying so."""

from __future__ import annotations

from argparse import Namespace

import pandas as pd
import pytest
import yaml

from triage.cli import main
from triage.commands.contract import check as check_command
from triage.contract import ContractFileError, load_contract
from triage.data.validation import ValidationFailed
from triage.errors import UserError
from triage_shared.pseudonym import KEY_VARIABLE

from ..conftest import ingest_and_validate, ingested_rows

CONTRACT = {
    "contract": {"name": "heart", "version": "1.0.0"},
    "decimal_comma": True,
    "identifiers": {"visit": "id"},
    "context": {"site": "dataset"},
    "features": {
        "chol": {"type": "int", "label_es": "Colesterol", "min": 85, "max": 600, "missing_codes": ["0"]},
        "thal": {"type": "category", "label_es": "Talasemia", "missing_codes": ["?", "-9"],
                 "categories": {"normal": {"label_es": "Normal"}, "fixed": {"label_es": "Fijo"}}},
        "fbs": {"type": "binary", "label_es": "Glucemia en ayunas", "true_values": ["TRUE"],
                "false_values": ["FALSE"], "missing_codes": ["-9"]},
    },
    "outcome": {"column": "num", "match": "exact", "classes": {"none": ["0"], "chronic": ["1"]}},
}


@pytest.fixture()
def keyed(monkeypatch):
    monkeypatch.setenv(KEY_VARIABLE, "missing-codes-test-key")


def write_contract(tmp_path, contract: dict = CONTRACT):
    path = tmp_path / "heart.yaml"
    path.write_text(yaml.safe_dump(contract, allow_unicode=True), encoding="utf-8")
    return path


def extract(tmp_path, rows: list[tuple]) -> object:
    path = tmp_path / "heart.csv"
    pd.DataFrame(rows, columns=["id", "dataset", "chol", "thal", "fbs", "num"]).to_csv(path, index=False)
    return path


def test_missing_codes_are_read_as_missing_not_as_values(tmp_path, keyed):
    contract = load_contract(write_contract(tmp_path))
    path = extract(tmp_path, [(1, "cleveland", "233", "normal", "TRUE", "0"), (2, "switzerland", "0", "?", "-9", "1"),
                              (3, "switzerland", "0.0", " ? ", "FALSE", "1"), (4, "switzerland", "0,0", "-9", "-9.0",
                                                                             "0")])
    rows = ingested_rows([path], contract)
    assert rows["reasons"].isna().all()
    assert rows["chol"].tolist()[0] == 233 and rows["chol"].isna().tolist() == [False, True, True,
                                                                                                  True]
    assert rows["thal"].isna().tolist() == [False, True, True, True]
    assert rows["fbs"].tolist()[:1] == [1.0] and rows["fbs"].isna().tolist() == [False, True, False,
                                                                                                   True]
    _, quarantine, accounting = ingest_and_validate([path], contract, 1.0)
    assert accounting["rows_clean"] == 4 and quarantine.empty  # the site is kept, and 0 mg/dL is never trained on


def test_without_the_code_the_zero_is_quarantined(tmp_path, keyed):
    features = {**CONTRACT["features"], "chol": {**CONTRACT["features"]["chol"], "missing_codes": []}}
    contract = load_contract(write_contract(tmp_path, {**CONTRACT, "features": features}))
    path = extract(tmp_path, [(1, "cleveland", "233", "normal", "TRUE", "0"), (2, "switzerland", "0", "fixed",
                                                                               "FALSE", "1")])
    _, quarantine, _ = ingest_and_validate([path], contract, 1.0)
    assert len(quarantine) == 1 and "chol" in quarantine["reasons"].iloc[0]


def test_the_manifest_spec_carries_the_codes_and_spellings(tmp_path):
    contract = load_contract(write_contract(tmp_path))
    specs = {spec["name"]: spec for spec in contract.feature_specs()}
    assert specs["chol"]["missing_codes"] == ["0"] and specs["thal"]["missing_codes"] == ["?", "-9"]
    assert (specs["fbs"]["true_values"], specs["fbs"]["false_values"]) == (["TRUE"], ["FALSE"])


def test_a_missing_code_that_is_also_a_spelling_is_refused(tmp_path):
    features = {**CONTRACT["features"], "fbs": {**CONTRACT["features"]["fbs"], "missing_codes": ["false"]}}
    with pytest.raises(ContractFileError, match="missing_codes"):
        load_contract(write_contract(tmp_path, {**CONTRACT, "features": features}))


def params_with_limit(tmp_path, limit: float):
    path = tmp_path / f"params-{limit}.yaml"
    path.write_text(yaml.safe_dump({"validate": {"max_bad_fraction": limit}}), encoding="utf-8")
    return path


def test_contract_check_applies_the_pipelines_bad_fraction_limit(tmp_path, keyed, capsys, monkeypatch):
    contract = write_contract(tmp_path)
    path = extract(tmp_path, [(i, "cleveland", "233" if i % 5 else "999", "normal", "TRUE", "0")
                              for i in range(20)])  # 4 of 20 rows (20 %) out of range
    for limit, expected in ((0.25, 0), (0.1, 2)):
        monkeypatch.setenv("TRIAGE_PARAMS", str(params_with_limit(tmp_path, limit)))
        assert main(["contract", "check", str(contract), "--extract", str(path)]) == expected
        out, err = capsys.readouterr()
        assert f"validate.max_bad_fraction = {limit:g}" in out and "20.00%" in out
        if expected:
            assert len(err.strip().splitlines()) == 1 and "max_bad_fraction=0.1" in err and "chol" in err
            assert "Traceback" not in err


def test_contract_check_takes_the_params_file_as_an_option(tmp_path, keyed, capsys, monkeypatch):
    """`--params FILE` (the CLI passes it as `args.params`) wins over TRIAGE_PARAMS."""
    contract = write_contract(tmp_path)
    path = extract(tmp_path, [(i, "cleveland", "233" if i % 5 else "999", "normal", "TRUE", "0") for i in range(20)])
    monkeypatch.setenv("TRIAGE_PARAMS", str(tmp_path / "absent.yaml"))
    args = Namespace(contract=str(contract), extract=str(path), params=str(params_with_limit(tmp_path, 0.1)))
    with pytest.raises(ValidationFailed, match=r"20\.0%\), above validate.max_bad_fraction=0.1"):
        check_command(args)
    assert "validate.max_bad_fraction = 0.1 " in capsys.readouterr().out
    with pytest.raises(UserError, match="absent.yaml"):
        check_command(Namespace(contract=str(contract), extract=str(path), params=None))
