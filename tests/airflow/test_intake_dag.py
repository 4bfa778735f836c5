"""The DAG `triage_intake` under Airflow itself (dag.test, as `airflow dags test`), against a real SeaweedFS and a
working clone with DVC and GTO: two sites' extracts, one clean and one over the bad-row limit; a second run that finds
nothing new; a third extract that takes the new labelled rows past the threshold and retrains."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
from pathlib import Path

import pandas as pd
import pytest

from triage.intake.bucket import IntakeBucket
from triage.intake.flow import Intake, retrain
from triage.intake.retrain_decision import last_model, new_labelled_rows
from triage.intake.tools import Tools, load_settings

from ..conftest import run
from .conftest import KEY, THRESHOLD, run_airflow

pytestmark = pytest.mark.slow  # Airflow, SeaweedFS and a working clone of the pipeline
CLEAN_SITE, BAD_SITE, LATE_SITE = "hospital-norte", "hospital-sur", "hospital-este"
VISITS = 700


def shifted(clone: Path, target: Path, seed: int) -> pd.DataFrame:
    """A labelled extract of the shifted cohort under the default contract (what a hospital sends later)."""
    run(["triage", "simulate-shift", "--visits", str(VISITS), "--seed", str(seed), "--extract", str(target),
         "--requests", str(target.with_suffix(".json"))], clone)
    return pd.read_csv(target, dtype=str, keep_default_na=False)


def pseudonym(value: str) -> str:
    return hmac.new(KEY.encode(), value.encode(), hashlib.sha256).hexdigest()[:24]


def upload(client, path: Path, key: str) -> None:
    client.put_object(Bucket="triage", Key=key, Body=path.read_bytes())


def keys(client, prefix: str) -> dict[str, str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket="triage", Prefix=prefix)
    return {item["Key"]: item["ETag"] for page in pages for item in page.get("Contents", [])}


def get_json(client, key: str) -> dict:
    return json.loads(client.get_object(Bucket="triage", Key=key)["Body"].read())


def git(clone: Path, *args: str) -> str:
    return run(["git", *args], clone).stdout.strip()


def record_prefix(site: str, name: str, client) -> str:
    """monitoring/intake/extracts/<site>/<name>/<etag>/ of the one version of that extract."""
    folders = {key.rsplit("/", 1)[0] for key in keys(client, f"monitoring/intake/extracts/{site}/{name}/")}
    assert len(folders) == 1, folders
    return folders.pop() + "/"


@pytest.fixture(scope="module")
def dropped(working_clone, s3_client, tmp_path_factory) -> dict:
    """Two sites' extracts in the bucket (one clean with a few bad rows and duplicates, one mostly bad), a file that
    is not an extract, a key that cannot be one, and a prod drift report without drift."""
    folder = tmp_path_factory.mktemp("extracts")
    clean = shifted(working_clone, folder / "norte.csv", seed=11)
    clean = pd.concat([clean, clean.head(6)], ignore_index=True)  # 6 exact duplicates
    bad_visits = clean.loc[[10, 20, 30], "visit_id"].tolist()
    clean.loc[[10, 20, 30], "temperature_c"] = "caliente"  # 3 rows the contract quarantines: within the limit
    clean.to_csv(folder / "norte.csv", index=False)
    bad = shifted(working_clone, folder / "sur.csv", seed=12)
    bad.loc[bad.index % 5 == 0, "age_years"] = "doscientos"  # 20 % of the rows: over validate.max_bad_fraction
    bad.to_csv(folder / "sur.csv", index=False)
    upload(s3_client, folder / "norte.csv", f"raw/{CLEAN_SITE}/norte_2026-12.csv")
    upload(s3_client, folder / "sur.csv", f"raw/{BAD_SITE}/2026-12/extract.csv")
    s3_client.put_object(Bucket="triage", Key=f"raw/{CLEAN_SITE}/README.txt", Body=b"not an extract")
    s3_client.put_object(Bucket="triage", Key="raw/bad site!/x.csv", Body=b"a,b\n1,2\n")
    s3_client.put_object(Bucket="triage", Key="monitoring/prod/2026-12-01T000000+00:00/drift_report.json",
                         Body=json.dumps({"drift_detected": False, "created_at": "2026-12-01T00:00:00+00:00",
                                          "reasons": []}).encode())
    return {"folder": folder, "clean_rows": len(clean), "bad_visits": bad_visits, "bad_rows": len(bad)}


@pytest.fixture(scope="module")
def first_run(dag_env, dropped, working_clone, s3_client) -> dict:
    head = git(working_clone, "rev-parse", "HEAD")
    result, log = run_airflow(dag_env, "run")
    return {"result": result, "log": log, "head_before": head, "head": git(working_clone, "rev-parse", "HEAD"),
            "records": keys(s3_client, "monitoring/intake/extracts/"), "latest": get_json(
                s3_client, "monitoring/intake/latest-run.json")}


@pytest.fixture(scope="module")
def second_run(first_run, dag_env, working_clone, s3_client) -> dict:
    result, log = run_airflow(dag_env, "run")
    return {"result": result, "log": log, "head": git(working_clone, "rev-parse", "HEAD"),
            "records": keys(s3_client, "monitoring/intake/extracts/"),
            "latest": get_json(s3_client, "monitoring/intake/latest-run.json")}


@pytest.fixture(scope="module")
def third_run(second_run, dag_env, working_clone, s3_client, dropped) -> dict:
    shifted(working_clone, dropped["folder"] / "este.csv", seed=13)
    upload(s3_client, dropped["folder"] / "este.csv", f"raw/{LATE_SITE}/este_2026-12.csv")
    result, log = run_airflow(dag_env, "run", timeout=900)
    return {"result": result, "log": log, "latest": get_json(s3_client, "monitoring/intake/latest-run.json")}


def states(result: dict, task: str) -> dict[str, str]:
    """label (the extract's key for mapped checks) -> state."""
    return {info["label"] or name: info["state"] for name, info in result["tasks"].items()
            if name.split("[")[0] == task}


def test_dag_integrity_and_parse_time(airflow_env):
    report, _ = run_airflow(airflow_env, "check")
    assert report["import_errors"] == {}
    assert report["dag_ids"] == ["triage_intake"]
    assert report["tasks"] == ["check_extract", "decide_retraining", "find_extracts", "land_accepted", "retrain"]
    assert report["schedule"] == "@daily" and report["max_active_runs"] == 1
    assert report["heavy_modules_loaded"] == []  # no pandas, pandera, pyarrow, botocore or triage at parse time
    parse = report["file_parse_seconds"]["triage_intake.py"]
    print(f"\nDAG parse time: {parse * 1000:.0f} ms (DagBag, Airflow already imported); Airflow import "
          f"{report['airflow_import_seconds']:.2f} s")
    assert parse < 1.0


def test_one_refused_extract_fails_alone(first_run):
    result = first_run["result"]
    checks = states(result, "check_extract")
    assert checks == {f"raw/{CLEAN_SITE}/norte_2026-12.csv": "success",
                      f"raw/{BAD_SITE}/2026-12/extract.csv": "failed"}, result["tasks"]
    assert states(result, "land_accepted") == {"land_accepted": "success"}
    assert states(result, "decide_retraining") == {"decide_retraining": "success"}
    assert states(result, "retrain") == {"retrain": "skipped"}
    print(f"\nfirst run: {result['seconds']} s; " + ", ".join(f"{name} {info['seconds']} s"
                                                          for name, info in result["tasks"].items()))


def test_accounting_objects_and_task_log(first_run, dropped, s3_client):
    prefix = record_prefix(CLEAN_SITE, "norte_2026-12.csv", s3_client)
    accounting = get_json(s3_client, prefix + "accounting.json")
    assert accounting["status"] == "accepted" and accounting["refusal"] is None
    assert accounting["rows_in"] == dropped["clean_rows"]
    assert accounting["rows_in"] == accounting["rows_clean"] + accounting["rows_quarantined"] + \
        accounting["rows_duplicate"]
    assert accounting["rows_duplicate"] >= 6 and accounting["rows_quarantined"] == 3
    assert accounting["reasons"] == {"temperature_c: type: number": 3}
    assert accounting["rows_labelled"] == accounting["rows_clean"]
    assert accounting["extract"]["uri"] == f"s3://triage/raw/{CLEAN_SITE}/norte_2026-12.csv"
    quarantine = s3_client.get_object(Bucket="triage", Key=prefix + "quarantine.csv")["Body"].read().decode()
    rows = list(csv.DictReader(io.StringIO(quarantine)))
    assert len(rows) == 3 and all(r["record_id"].startswith(f"s3://triage/raw/{CLEAN_SITE}/") for r in rows)
    # identifiers pseudonymised with the key from the connection, never in clear
    assert {r["visit_id"] for r in rows} == {pseudonym(v) for v in dropped["bad_visits"]}
    assert not any(v in quarantine for v in dropped["bad_visits"])
    log = first_run["log"]
    assert f"s3://triage/raw/{CLEAN_SITE}/norte_2026-12.csv: rows in {accounting['rows_in']} = clean " in log
    assert "temperature_c: type: number: 3" in log
    assert KEY not in log  # the key never reaches a log


def test_refused_extract_moved_with_its_reason(first_run, dropped, s3_client):
    raw = keys(s3_client, "raw/")
    assert f"raw/{BAD_SITE}/2026-12/extract.csv" not in raw
    assert f"raw/rejected/{BAD_SITE}/2026-12/extract.csv" in raw
    reason = get_json(s3_client, f"raw/rejected/{BAD_SITE}/2026-12/extract.csv.reason.json")
    assert "above validate.max_bad_fraction=0.05" in reason["reason"]
    assert "age_years" in reason["reason"] and f"s3://triage/raw/{BAD_SITE}/2026-12/extract.csv" in reason["reason"]
    prefix = record_prefix(BAD_SITE, "2026-12/extract.csv", s3_client)
    accounting = get_json(s3_client, prefix + "accounting.json")
    assert accounting["status"] == "rejected" and accounting["rows_in"] == dropped["bad_rows"]
    assert accounting["rows_quarantined"] >= dropped["bad_rows"] // 5
    assert accounting["rejected_to"] == f"s3://triage/raw/rejected/{BAD_SITE}/2026-12/extract.csv"
    assert prefix + "rejected.json" in first_run["records"]
    assert f"REFUSED s3://triage/raw/{BAD_SITE}/2026-12/extract.csv" in first_run["log"]


def test_accepted_extract_landed_with_dvc(first_run, working_clone, s3_client):
    clone = working_clone
    landed_path = clone / "data/raw/incoming" / CLEAN_SITE / "norte_2026-12.csv"
    assert landed_path.is_file()
    pointer = f"data/raw/incoming/{CLEAN_SITE}.dvc"
    assert first_run["head"] != first_run["head_before"]
    assert git(clone, "show", "--name-only", "--format=", "HEAD") == pointer  # one commit: the pointer only
    assert git(clone, "status", "--porcelain", "--untracked-files=no") == ""
    message = git(clone, "log", "-1", "--format=%B")
    assert message.startswith("Intake: 1 extract(s) from hospital-norte")
    assert "Intake-Labelled-Rows: " in message
    assert not (clone / "data/raw/incoming" / BAD_SITE).exists()
    assert "in sync" in run(["dvc", "status", "-c", "-r", "s3", pointer], clone).stdout  # pushed
    landed = get_json(s3_client, record_prefix(CLEAN_SITE, "norte_2026-12.csv", s3_client) + "landed.json")
    assert landed["commit"] == first_run["head"] and landed["path"] == str(landed_path.relative_to(clone))


def test_below_threshold_not_triggered_with_reason(first_run, s3_client):
    latest = first_run["latest"]
    decision = latest["retrain_decision"]
    assert decision["triggered"] is False and decision["last_model"] == "triage-model@v1.0.0"
    assert 0 < decision["new_labelled_rows"] < THRESHOLD
    assert decision["reasons"][0] == (f"{decision['new_labelled_rows']} new labelled rows since triage-model@v1.0.0 "
                                      f"< intake.retrain_min_new_rows={THRESHOLD}")
    assert "no drift" in decision["reasons"][1]
    assert latest["retrain"]["ran"] is False
    assert latest["sites"][CLEAN_SITE]["extracts_accepted"] == 1 and latest["sites"][BAD_SITE]["extracts_rejected"] == 1
    assert get_json(s3_client, f"monitoring/intake/runs/{latest['run_id'].replace(':', '_')}.json") == latest
    assert "retraining not triggered" in first_run["log"]
    assert "ignored: s3 object raw/bad site!/x.csv: site folder" in first_run["log"]


def test_second_run_processes_nothing_twice(first_run, second_run):
    assert second_run["records"] == first_run["records"]  # no accounting written again
    assert second_run["head"] == first_run["head"]  # nothing landed again
    assert "0 new extract(s), 0 awaiting landing, 1 already processed" in second_run["log"]
    assert states(second_run["result"], "check_extract") in ({}, {"check_extract": "skipped"})
    assert second_run["latest"]["extracts"] == []
    assert second_run["latest"]["retrain_decision"]["triggered"] is False


def test_past_threshold_retrains_and_promotes_to_dev(third_run, working_clone):
    result, latest = third_run["result"], third_run["latest"]
    decision = latest["retrain_decision"]
    assert decision["triggered"] is True and decision["new_labelled_rows"] >= THRESHOLD
    assert f">= intake.retrain_min_new_rows={THRESHOLD}" in decision["reasons"][0]
    assert states(result, "retrain") == {"retrain": "success"}, third_run["log"][-5000:]
    assert latest["retrain"]["ran"] is True and latest["retrain"]["exit_code"] == 0
    assert latest["retrain"]["registered"] == "triage-model@v1.1.0"
    tools = Tools(working_clone)
    assert git(working_clone, "rev-list", "-n", "1", "triage-model@v1.1.0") == git(working_clone, "rev-parse", "HEAD")
    assert run(["gto", "show", "triage-model#dev", "--ref"], working_clone).stdout.strip() == "triage-model@v1.1.0"
    assert run(["gto", "show", "triage-model#prod", "--ref"], working_clone, check=False).stdout.strip() == ""
    model = last_model(tools, "triage-model")
    assert model is not None and model.tag == "triage-model@v1.1.0"
    assert new_labelled_rows(tools, model) == 0  # the next decision counts from the new model
    print(f"\nthird run (retrain): {result['seconds']} s, retrain {latest['retrain']['seconds']} s")


def test_retrain_held_while_the_clone_has_uncommitted_changes(third_run, working_clone, s3_client):
    """A retrain whose gate failed leaves the clone dirty: the next one is held with the reason, nothing run."""
    params = working_clone / "params.yaml"
    before = params.read_text()
    params.write_text(before + "\n# an inspection in progress\n")
    try:
        intake = Intake(IntakeBucket(s3_client, "triage"), Tools(working_clone), load_settings(working_clone),
                        "manual__held")
        outcome = retrain(intake, KEY)
    finally:
        params.write_text(before)
    assert outcome["ran"] is False and outcome["exit_code"] is None
    assert "held: the working clone" in outcome["verdict"] and "params.yaml" in outcome["verdict"]
    assert get_json(s3_client, "monitoring/intake/runs/manual__held.json")["retrain"] == outcome
    assert git(working_clone, "tag", "--list", "triage-model@v*").split() == ["triage-model@v1.0.0",
                                                                           "triage-model@v1.1.0"]
