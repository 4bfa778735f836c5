"""Stage `resample`: rebalance the training part (triage.data.resample), first taking the class-aware sample when
it has more than `train.max_rows` rows; class counts before and after go to reports/resample.json."""

from __future__ import annotations

from triage import config
from triage.contract import contract_from_params
from triage.data.columns import LABEL_COLUMN
from triage.data.parts import read_frame
from triage.data.resample import read_class_aware_sample, resample, resample_report
from triage.tables import write_json, write_parquet

log = config.stage_logger("resample")


def main() -> None:
    params = config.load_params()
    contract = contract_from_params(params)
    columns = [*contract.feature_names, LABEL_COLUMN]
    sample = read_class_aware_sample([config.TRAIN], params["train"].get("max_rows"), params["base"]["seed"], columns)
    labels = read_frame(config.TRAIN, columns=[LABEL_COLUMN])
    if len(sample) < len(labels):
        log.info("class-aware sample: %d of %d training rows (train.max_rows), every rare case kept", len(sample),
                 len(labels))
    out = resample(sample, contract, params["resample"], params["train"]["class_weight_power"],
                   params["base"]["seed"])
    write_parquet(out, config.TRAIN_RESAMPLED)
    report = resample_report(labels, out, params["resample"]["method"], contract.classes)
    write_json(report, config.REPORTS / "resample.json")
    log.info("%s: %s -> %s", report["method"], report["before"], report["after_weighted"])


if __name__ == "__main__":
    main()
