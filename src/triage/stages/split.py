"""Stage `split`: the clean table into train / validation / test parts by patient (triage.data.split), then the
training-data checks (triage.data.checks): an empty feature, too few cases of a class or a class missing from a part
fails here, naming the column or class and the count."""

from __future__ import annotations

import pandas as pd

from triage import config
from triage.contract import contract_from_params
from triage.data.checks import check_training_data
from triage.data.split import PARTS, read_holdout, split, summary
from triage.tables import write_json, write_parquet

log = config.stage_logger("split")


def main() -> None:
    params = config.load_params()
    settings = params["split"]
    contract = contract_from_params(params)
    holdout = read_holdout(settings.get("holdout_file"))
    parts = split(pd.read_parquet(config.CLEAN), settings, params["base"]["seed"], holdout, contract.classes)
    warnings = check_training_data(parts, contract)
    for warning in warnings:
        log.warning("%s", warning)
    for name, path in zip(PARTS, (config.TRAIN, config.VALID, config.TEST), strict=True):
        write_parquet(parts[name], path)
    stats = summary(parts, holdout, contract)
    stats["warnings"] = warnings
    write_json(stats, config.REPORTS / "split.json")
    log.info("%s split: %s", settings["method"],
             "; ".join(f"{name} {stats[name]['rows']} rows (" + ", ".join(
                 f"{c} {stats[name]['n_' + c]}" for c in contract.classes) + ")" for name in PARTS))


if __name__ == "__main__":
    main()
