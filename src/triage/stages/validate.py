"""Stage `validate`: the global steps over the ingested rows (duplicates across all extracts, the unique visit id)
and the quarantine of every row that fails the contract, with its reasons (triage.data.queries, run by the executor
params choose: triage.executors).

Writes data/interim/clean.parquet, data/interim/quarantine.csv (spreadsheet-safe) and reports/validation.json (a DVC
metric: rows_in = rows_clean + rows_quarantined + rows_duplicate, reasons by rule, columns not in the contract,
validate.max_bad_fraction and the verdict). A refusal (no rows, or a quarantine share above
validate.max_bad_fraction) ends the stage on one line after the quarantine and the accounting are written, so the
user can see what was refused; the clean table is removed then, so no later stage reads rows this run refused.
"""

from __future__ import annotations

import shutil

from triage import config
from triage.contract import contract_from_params
from triage.data.validation import ValidationFailed, check_bad_fraction
from triage.executors import executor_from_params
from triage.tables import read_json, write_csv, write_json

log = config.stage_logger("validate")


def main() -> None:
    params = config.load_params()
    contract = contract_from_params(params)
    limit = params["validate"]["max_bad_fraction"]
    executor = executor_from_params(params)
    _, quarantine, accounting = executor.validate(config.INGESTED, contract, read_json(config.INGEST_STATS), limit,
                                                  config.CLEAN)
    write_csv(quarantine, config.QUARANTINE)
    write_json(accounting, config.VALIDATION_REPORT)
    log.info("rows_in %d = clean %d + quarantined %d + duplicates %d (%s executor); quarantine at %s",
             accounting["rows_in"], accounting["rows_clean"], accounting["rows_quarantined"],
             accounting["rows_duplicate"], executor.name, config.QUARANTINE)
    for source, columns in accounting["columns_not_in_contract"].items():
        log.warning("%s: column(s) not in the contract, not used: %s", source, ", ".join(columns))
    try:
        check_bad_fraction(accounting, limit)
    except ValidationFailed:
        remove(config.CLEAN)
        raise


def remove(path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
