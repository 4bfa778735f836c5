"""Stage `ingest`: every extract under data.raw_dir (and data.incoming_dir) through the row kernel under the data
contract (triage.data.kernels, run by the executor params choose: triage.executors): identifiers keyed-hashed,
personal data dropped, unknown columns reported, values normalised and checked row by row, the triage label derived.

Writes data/interim/ingested.parquet (every row read, with its record id, order, digests and reasons: duplicates are
found by `validate`, over all rows) and data/interim/ingest_stats.json.
"""

from __future__ import annotations

from triage import config
from triage.contract import contract_from_params
from triage.data.extracts import pipeline_extracts
from triage.data.ingest import extract_key
from triage.executors import executor_from_params
from triage.tables import write_json

log = config.stage_logger("ingest")


def main() -> None:
    params = config.load_params()
    contract = contract_from_params(params)
    paths = pipeline_extracts(params["data"])
    key, simulated = extract_key(paths)
    executor = executor_from_params(params)
    log.info("contract %s %s (%s); %d extract(s); %s executor", contract.name, contract.version, contract.path,
             len(paths), executor.name)
    stats = executor.ingest(paths, contract, key, config.INGESTED, simulated, log.info)
    write_json(stats, config.INGEST_STATS)
    log.info("rows in %d from %d extract(s)", stats["rows_in"], len(stats["extracts"]))


if __name__ == "__main__":
    main()
