"""Stage `ingest`: every extract under data.raw_dir (and data.incoming_dir) through the row kernel under the data
contract (triage.data.kernels, run by the executor params choose: triage.executors): identifiers keyed-hashed,
personal data dropped, unknown columns reported, values normalised and checked row by row, the triage label derived.

A contract whose source is an OMOP CDM is first extracted (triage.data.omop) into its per-visit table, which is then
ingested as the one extract; ingest_stats.json gets the extraction's report under `cdm` (index visits, the visits
each population rule removed, the concept sets and their record counts).

Writes data/interim/ingested.parquet (every row read, with its record id, order, digests and reasons: duplicates are
found by `validate`, over all rows) and data/interim/ingest_stats.json.
"""

from __future__ import annotations

from triage import config
from triage.contract import contract_from_params
from triage.data.extracts import pipeline_extracts
from triage.data.ingest import extract_key
from triage.data.omop.extract import extract_cdm
from triage.executors import executor_from_params
from triage.tables import write_json

log = config.stage_logger("ingest")


def main() -> None:
    params = config.load_params()
    contract = contract_from_params(params)
    executor = executor_from_params(params)
    cdm_report = None
    if contract.spec.source is not None:  # an OMOP CDM: its per-visit table is the one extract
        spark = executor.session if executor.name == "spark" else None
        cdm_report = extract_cdm(contract, config.CDM_VISITS, params["data"]["raw_dir"], log.info, spark)
        paths = [config.CDM_VISITS]
    else:
        paths = pipeline_extracts(params["data"])
    try:
        key, simulated = extract_key(paths)
        log.info("contract %s %s (%s); %d extract(s); %s executor", contract.name, contract.version, contract.path,
                 len(paths), executor.name)
        stats = executor.ingest(paths, contract, key, config.INGESTED, simulated, log.info)
    finally:
        config.CDM_VISITS.unlink(missing_ok=True)
    if cdm_report is not None:
        stats["cdm"] = cdm_report
    write_json(stats, config.INGEST_STATS)
    log.info("rows in %d from %d extract(s)", stats["rows_in"], len(stats["extracts"]))


if __name__ == "__main__":
    main()
