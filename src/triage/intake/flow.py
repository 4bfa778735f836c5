"""The steps of the intake, one function per task of the DAG `triage_intake`; plain Python, so they run and are
tested without Airflow. The DAG only adds the schedule, the mapping, the connections and the task states."""

from __future__ import annotations

import logging
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from triage.intake import IntakeError
from triage.intake.bucket import IntakeBucket
from triage.intake.landing import land
from triage.intake.layout import (
    ACCOUNTING,
    LANDED,
    LATEST_RUN,
    QUARANTINE,
    REJECTED,
    ExtractObject,
    rejected_key,
    run_key,
    versioned_name,
)
from triage.intake.ledger import ACCEPTED, list_extracts
from triage.intake.ledger import REJECTED as STATUS_REJECTED
from triage.intake.ledger import awaiting_landing as accepted_not_landed
from triage.intake.retrain_decision import Decision, decide, last_model, latest_drift, new_labelled_rows, run_retrain
from triage.intake.tools import IntakeSettings, Tools, load_settings, require_clone

log = logging.getLogger("triage.intake")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Intake:
    """What every step needs: the bucket, the working clone (with its settings) and the tools run in it."""

    bucket: IntakeBucket
    tools: Tools
    settings: IntakeSettings
    run_id: str

    @classmethod
    def open(cls, bucket: IntakeBucket, clone: Path, tools_bin: Path | None, run_id: str,
             env: dict[str, str] | None = None) -> Intake:
        """`env`: what the tools need besides PATH (the bucket's credentials for `dvc pull/push`)."""
        require_clone(clone)
        return cls(bucket, Tools(clone, tools_bin, dict(env or {})).with_identity(), load_settings(clone), run_id)

    @property
    def clone(self) -> Path:
        return self.tools.clone


# -- 1. find -------------------------------------------------------------------------------------------------------
def find_extracts(bucket: IntakeBucket) -> list[dict]:
    """The raw/<site>/ extracts not processed yet (object key + ETag), for one mapped check each."""
    listing = list_extracts(bucket)
    log.info("s3://%s/raw/: %d new extract(s), %d awaiting landing, %d already processed", bucket.bucket,
             len(listing.new), len(listing.awaiting_landing), listing.done)
    for extract in listing.new:
        log.info("new: %s (etag %s, %d bytes)", extract.uri(bucket.bucket), extract.etag, extract.size)
    for problem in listing.ignored:
        log.warning("ignored: %s", problem)
    return [extract.to_dict() for extract in listing.new]


# -- 2. check one extract ------------------------------------------------------------------------------------------
def check_one(intake: Intake, extract: ExtractObject, key: str) -> dict:
    """Ingest + validate one extract under the clone's contract; write its accounting (and quarantine); move it to
    raw/rejected/<site>/ with the reason when refused. Returns the accounting (status accepted or rejected)."""
    from triage.contract import load_contract
    from triage.intake.check import check_extract, describe
    from triage.tables import write_csv

    bucket, settings = intake.bucket, intake.settings
    uri = extract.uri(bucket.bucket)
    contract = load_contract(intake.clone / settings.contract)
    with tempfile.TemporaryDirectory(prefix="triage-intake-") as work:
        local = bucket.download(extract.key, extract.etag, Path(work) / Path(extract.name).name)
        verdict = check_extract(local, uri, contract, key, settings.max_bad_fraction)
        accounting = {"extract": {**extract.to_dict(), "uri": uri},
                      "status": ACCEPTED if verdict.accepted else STATUS_REJECTED, "refusal": verdict.refusal,
                      **verdict.accounting, "run_id": intake.run_id, "checked_at": now(),
                      "contract": {"file": str(settings.contract), **verdict.accounting.get("contract", {})}}
        if len(verdict.quarantine):
            table = Path(work) / QUARANTINE
            write_csv(verdict.quarantine, table)
            bucket.put_file(extract.record_key(QUARANTINE), table, "text/csv; charset=utf-8")
            accounting["quarantine"] = bucket.uri(extract.record_key(QUARANTINE))
    log.info("%s", describe(verdict, uri))
    if verdict.accepted:
        bucket.put_json(extract.record_key(ACCOUNTING), accounting)
        return accounting
    destination = rejected_key(extract)
    if bucket.exists(destination):  # an older refused extract of the same name stays as it is
        destination = rejected_key(ExtractObject(extract.key, extract.etag, extract.size, extract.site,
                                                 versioned_name(extract.name, extract.etag)))
    accounting["rejected_to"] = bucket.uri(destination)
    bucket.put_json(extract.record_key(ACCOUNTING), accounting)
    reason = {"extract": uri, "etag": extract.etag, "reason": verdict.refusal, "refused_at": now(),
              "run_id": intake.run_id, "accounting": bucket.uri(extract.record_key(ACCOUNTING))}
    bucket.put_json(destination + ".reason.json", reason)
    bucket.move(extract.key, destination)
    bucket.put_json(extract.record_key(REJECTED), {**reason, "moved_to": bucket.uri(destination)})
    log.warning("REFUSED %s -> %s: %s", uri, bucket.uri(destination), verdict.refusal)
    return accounting


# -- 3. land -------------------------------------------------------------------------------------------------------
def land_accepted(intake: Intake) -> dict:
    """Every accepted extract not landed yet (this run's and any an interrupted run left) into the working clone."""
    items = accepted_not_landed(intake.bucket)
    if not items:
        log.info("nothing to land")
        return {"commit": None, "landed": []}
    with tempfile.TemporaryDirectory(prefix="triage-intake-") as work:
        result = land(intake.tools, intake.bucket, intake.settings, items, Path(work))
    for item in result.landed:
        intake.bucket.put_json(item.extract.record_key(LANDED), {
            "extract": item.extract.uri(intake.bucket.bucket), "etag": item.extract.etag, "path": item.path,
            "dvc_file": item.dvc_file, "commit": result.commit, "dvc_remote": result.pushed_to,
            "rows_labelled": item.rows_labelled, "landed_at": now(), "run_id": intake.run_id,
            "working_clone": str(intake.clone)})
    return {"commit": result.commit, "dvc_remote": result.pushed_to,
            "landed": [{"uid": item.extract.uid, "path": item.path, "rows_labelled": item.rows_labelled}
                       for item in result.landed]}


# -- 4. decide -----------------------------------------------------------------------------------------------------
def run_record(intake: Intake, found: list[dict], landing: dict) -> dict:
    """This run's extracts with their verdicts and per-site totals (from their accounting objects)."""
    extracts, sites = [], defaultdict(Counter)
    for data in found:
        extract = ExtractObject.from_dict(data)
        accounting = intake.bucket.get_json(extract.record_key(ACCOUNTING))
        if accounting is None:
            extracts.append({"uid": extract.uid, "status": "not checked (the check failed: see its task log)"})
            continue
        extracts.append({"uid": extract.uid, "status": accounting["status"], "refusal": accounting.get("refusal"),
                         "accounting": intake.bucket.uri(extract.record_key(ACCOUNTING)),
                         **{k: accounting.get(k, 0) for k in ("rows_in", "rows_clean", "rows_quarantined",
                                                              "rows_duplicate", "rows_labelled")}})
        totals = sites[extract.site]
        totals[f"extracts_{accounting['status']}"] += 1
        for column in ("rows_in", "rows_clean", "rows_quarantined", "rows_duplicate", "rows_labelled"):
            totals[column] += int(accounting.get(column, 0))
    return {"run_id": intake.run_id, "working_clone": str(intake.clone), "extracts": extracts,
            "sites": {site: dict(totals) for site, totals in sorted(sites.items())}, "landing": landing}


def decide_retraining(intake: Intake, found: list[dict], landing: dict) -> dict:
    """The retraining decision with its reasons, recorded in monitoring/intake/runs/<run>.json (and latest-run.json)."""
    model = last_model(intake.tools, intake.settings.model_name)
    rows = new_labelled_rows(intake.tools, model)
    drift = latest_drift(intake.bucket, intake.settings.drift_env)
    decision = decide(rows, intake.settings, model, drift, intake.bucket.bucket)
    log.info("retraining %s: %s", "TRIGGERED" if decision.triggered else "not triggered",
             " | ".join(decision.reasons))
    record = {**run_record(intake, found, landing), "decided_at": now(), "retrain_decision": decision.to_dict(),
              "retrain": None if decision.triggered else {"ran": False, "why_not": list(decision.reasons)}}
    write_run(intake, record)
    return record


def write_run(intake: Intake, record: dict) -> None:
    intake.bucket.put_json(run_key(intake.run_id), record)
    intake.bucket.put_json(LATEST_RUN, record)


# -- 5. retrain ----------------------------------------------------------------------------------------------------
def retrain(intake: Intake, key: str) -> dict:
    """`triage retrain --push <remote>` in the clone; the outcome added to the run's record."""
    record = intake.bucket.get_json(run_key(intake.run_id)) or {"run_id": intake.run_id}
    changed = intake.tools.run(["git", "status", "--porcelain", "--untracked-files=no"]).split("\n")
    changed = [line for line in changed if line.strip()]
    if changed:  # `triage retrain` would refuse too: say why, and what the operator does
        held = (f"held: the working clone {intake.clone} has uncommitted changes ({len(changed)} file(s), e.g. "
                f"{changed[0].strip()}), as a retrain whose quality gate failed leaves it for inspection; once "
                "inspected, restore it (git reset --hard && dvc checkout) and the next run retrains")
        log.warning("retrain %s", held)
        record["retrain"] = {"ran": False, "exit_code": None, "verdict": held, "finished_at": now()}
        write_run(intake, record)
        return record["retrain"]
    tools = Tools(intake.clone, intake.tools.bin_dir, {**intake.tools.extra_env, "TRIAGE_PSEUDONYM_KEY": key})
    outcome = run_retrain(tools, intake.settings)
    log.info("retrain: %s (exit %d, %.0f s)", outcome.verdict, outcome.exit_code, outcome.seconds)
    record["retrain"] = {"ran": True, "finished_at": now(), **outcome.to_dict()}
    write_run(intake, record)
    return record["retrain"]


def decision_of(record: dict) -> Decision:
    data = record["retrain_decision"]
    return Decision(**{**data, "reasons": tuple(data["reasons"])})


__all__ = ["Intake", "IntakeError", "check_one", "decide_retraining", "decision_of", "find_extracts",
           "land_accepted", "retrain"]
