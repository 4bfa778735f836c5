"""Stage `simulate`: the default source — the simulated cohort as messy raw extracts (triage.simulation.cohort).

Writes data/simulation/: the extracts and their marker, the generative model (for the exact Bayes posterior used by
evaluate) and the orphan diseases held out of training. The cohort is drawn and appended to the extracts in batches
of `simulate.batch_visits` visits (triage.simulation.cohort.BATCH_VISITS by default), one log line per batch, so the
stage's memory does not grow with `simulate.n_visits`. When params point `data.raw_dir` at other extracts, the
stage writes only a note saying so (quickly: the simulator is not even imported), and the simulator plays no part in
that model.
"""

from __future__ import annotations

import shutil

from triage import config
from triage.tables import write_json

log = config.stage_logger("simulate")


def main() -> None:
    params = config.load_params()
    if config.SIMULATION.exists():
        shutil.rmtree(config.SIMULATION)
    config.SIMULATION.mkdir(parents=True)
    if config.simulating(params):
        from triage.simulation.cohort import simulate_cohort

        simulate_cohort(params["simulate"], params["base"]["seed"], progress=log.info)
        return
    write_json({"simulated": False, "raw_dir": params["data"]["raw_dir"],
                "note": "data.raw_dir points at other extracts: no cohort simulated, no Bayes limit"},
               config.SIMULATION / "off.json")
    log.info("data.raw_dir is %s, not the simulator's output: nothing simulated", params["data"]["raw_dir"])


if __name__ == "__main__":
    main()
