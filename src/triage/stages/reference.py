"""Stage `reference`: the simulated cohort's orphan disease profiles from the HPO/Orphanet annotations.

Writes data/reference/orphan_profiles.csv and its metadata (HPO release, counts). See triage.simulation.reference.
"""

from __future__ import annotations

from triage import config
from triage.simulation.reference import build_reference
from triage.tables import write_csv, write_json

log = config.stage_logger("reference")


def main() -> None:
    params = config.load_params()
    table, meta = build_reference(params["reference"], params["base"]["seed"], progress=log.info)
    write_csv(table, config.ORPHAN_PROFILES)
    write_json(meta, config.ORPHAN_PROFILES_META)
    log.info("wrote %d profile rows for %d orphan diseases to %s", len(table), meta["orpha_diseases_selected"],
             config.ORPHAN_PROFILES)


if __name__ == "__main__":
    main()
