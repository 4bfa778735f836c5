"""Stage `ingest`: every extract under data.raw_dir (and data.incoming_dir) read under the data contract.

See triage.data.ingest: identifiers hashed, personal data dropped, unknown columns reported, values normalised,
duplicates counted and dropped, the triage label derived from the contract's outcome map.
"""

from __future__ import annotations

from pathlib import Path

from triage import config
from triage.contract import contract_from_params
from triage.data.extracts import list_extracts
from triage.data.ingest import ingest
from triage.tables import write_json, write_parquet

log = config.stage_logger("ingest")


def main() -> None:
    params = config.load_params()
    contract = contract_from_params(params)
    incoming = params["data"].get("incoming_dir")
    paths = list_extracts(Path(params["data"]["raw_dir"])) + (
        list_extracts(Path(incoming), required=False) if incoming else [])
    log.info("contract %s %s (%s); %d extract(s)", contract.name, contract.version, contract.path, len(paths))
    result = ingest(paths, contract, progress=log.info)
    write_parquet(result.table, config.INGESTED)
    # text columns, a missing value (the row fault of a malformed row has none) kept missing, never the text "None"
    write_parquet(result.errors.astype("string"), config.PARSE_ERRORS)
    write_json(result.stats, config.INGEST_STATS)
    stats = result.stats
    log.info("rows in %d: %d exact and %d near duplicates dropped, %d rows out (%d with parse errors)",
             stats["rows_in"], stats["rows_exact_duplicate"], stats["rows_near_duplicate"], stats["rows_out"],
             stats["rows_with_parse_errors"])


if __name__ == "__main__":
    main()
