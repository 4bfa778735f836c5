"""Stage `split`: the clean table into train / validation / test parts by patient (triage.data.queries, run by the
executor params choose), then the training-data checks on the parts' profile (triage.data.checks): an empty
feature, too few cases of a class or a class missing from a part fails here, naming the column or class and the
count."""

from __future__ import annotations

from triage import config
from triage.contract import contract_from_params
from triage.data.checks import check_training_data
from triage.data.split import PARTS, read_holdout, summary
from triage.executors import executor_from_params
from triage.tables import write_json

log = config.stage_logger("split")


def main() -> None:
    params = config.load_params()
    settings = params["split"]
    contract = contract_from_params(params)
    holdout = read_holdout(settings.get("holdout_file"))
    outs = dict(zip(PARTS, (config.TRAIN, config.VALID, config.TEST), strict=True))
    _, profile = executor_from_params(params).split(config.CLEAN, contract, settings, params["base"]["seed"],
                                                     holdout, outs)
    warnings = check_training_data(profile, contract)
    for warning in warnings:
        log.warning("%s", warning)
    stats = summary(profile, contract, holdout)
    stats["warnings"] = warnings
    write_json(stats, config.REPORTS / "split.json")
    log.info("%s split: %s", settings["method"],
             "; ".join(f"{name} {stats[name]['rows']} rows (" + ", ".join(
                 f"{c} {stats[name]['n_' + c]}" for c in contract.classes) + ")" for name in PARTS))


if __name__ == "__main__":
    main()
