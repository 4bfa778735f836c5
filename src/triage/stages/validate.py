"""Stage `validate`: the ingested table against the contract's Pandera schema; bad rows quarantined with reasons.

Writes data/interim/quarantine.csv (spreadsheet-safe) and reports/validation.json (a DVC metric: rows_in = rows_clean
+ rows_quarantined + rows_duplicate, reasons by rule, columns not in the contract, validate.max_bad_fraction and the
verdict) first, then data/interim/clean.parquet only if the rows are accepted. A refusal (no rows, or a quarantine
share above validate.max_bad_fraction) ends the stage on one line after those two files are written, so the user can
see what was refused; a stale clean.parquet is removed then, so no later stage reads rows this run refused.
"""

from __future__ import annotations

import pandas as pd

from triage import config
from triage.contract import contract_from_params
from triage.data.validation import ValidationFailed, check_bad_fraction, validate
from triage.tables import read_json, write_csv, write_json, write_parquet

log = config.stage_logger("validate")


def main() -> None:
    params = config.load_params()
    contract = contract_from_params(params)
    limit = params["validate"]["max_bad_fraction"]
    frame = pd.read_parquet(config.INGESTED)
    parse_errors = pd.read_parquet(config.PARSE_ERRORS)
    clean, quarantine, accounting = validate(frame, parse_errors, read_json(config.INGEST_STATS), contract, limit)
    write_csv(quarantine, config.QUARANTINE)
    write_json(accounting, config.REPORTS / "validation.json")
    log.info("rows_in %d = clean %d + quarantined %d + duplicates %d; quarantine at %s", accounting["rows_in"],
             accounting["rows_clean"], accounting["rows_quarantined"], accounting["rows_duplicate"],
             config.QUARANTINE)
    for source, columns in accounting["columns_not_in_contract"].items():
        log.warning("%s: column(s) not in the contract, not used: %s", source, ", ".join(columns))
    try:
        check_bad_fraction(accounting, limit)
    except ValidationFailed:
        config.CLEAN.unlink(missing_ok=True)
        raise
    write_parquet(clean, config.CLEAN)


if __name__ == "__main__":
    main()
