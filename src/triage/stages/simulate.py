"""Stage `simulate`: draw the default cohort and write it as messy raw extracts (CSV and Parquet).

Writes data/simulation/: the extracts (with a marker listing each file's sha256, so that ingest uses the public
development key for exactly these files and no other), the generative model (for the exact Bayes posterior used by
evaluate) and the orphan diseases held out of training. When params point `data.raw_dir` at other extracts, the
stage writes only a note saying so: the simulator plays no part in that model.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from triage import config
from triage.tables import write_json

PARQUET_SITES = 3  # the last sites deliver Parquet, the others CSV: ingest must read both
log = config.stage_logger("simulate")


def write_extracts(messy, raw_dir: Path) -> list[Path]:
    """One extract per site, as the hospitals would send them; the first sites as CSV, the last as Parquet."""
    from triage.tables import write_csv

    raw_dir.mkdir(parents=True)
    sites = sorted(messy["site_id"].str.strip().unique())
    paths = []
    for position, site in enumerate(sites):
        part = messy[messy["site_id"].str.strip() == site]
        if position >= len(sites) - PARQUET_SITES:
            path = raw_dir / f"extract_{site}.parquet"
            part.to_parquet(path, index=False)
        else:
            path = raw_dir / f"extract_{site}.csv"
            write_csv(part, path)
        paths.append(path)
    return paths


def simulate(params: dict) -> None:
    """The cohort (heavy imports here: the stage is a no-op, and quick, when the simulator is off)."""
    import numpy as np

    from triage.cohort.build import build_model
    from triage.cohort.mess import make_messy
    from triage.cohort.sample import sample_cohort
    from triage.data.extracts import write_simulated_marker

    settings, seed = params["simulate"], params["base"]["seed"]
    model = build_model(settings, seed)
    model.save(config.GENERATIVE_MODEL)
    config.HOLDOUT_FILE.write_text("".join(f"{code}\n" for code in model.unseen.tolist()), encoding="utf-8")
    rng = np.random.default_rng(seed + 1)
    log.info("sampling %d visits over %d diagnoses and %d sites", settings["n_visits"], len(model.codes),
             len(model.site_ids))
    clean = sample_cohort(model, settings["n_visits"], settings["start_date"], settings["days"], rng)
    messy = make_messy(clean, settings["mess"], rng)
    paths = write_extracts(messy, config.SIMULATED_EXTRACTS)
    class_mix = clean["diagnosis_code"].map(dict(zip(model.codes, model.class_index, strict=True))).value_counts()
    write_simulated_marker(config.SIMULATED_EXTRACTS, paths, {
        "seed": seed, "n_visits": settings["n_visits"], "rows_written": len(messy),
        "class_counts": {int(k): int(v) for k, v in class_mix.items()},
        "holdout_diagnoses": model.unseen.tolist()})
    log.info("wrote %d rows (%d clean visits + duplicates) in %d extracts to %s", len(messy), len(clean),
             len(paths), config.SIMULATED_EXTRACTS)


def main() -> None:
    params = config.load_params()
    if config.SIMULATION.exists():
        shutil.rmtree(config.SIMULATION)
    config.SIMULATION.mkdir(parents=True)
    if config.simulating(params):
        simulate(params)
        return
    write_json({"simulated": False, "raw_dir": params["data"]["raw_dir"],
                "note": "data.raw_dir points at other extracts: no cohort simulated, no Bayes limit"},
               config.SIMULATION / "off.json")
    log.info("data.raw_dir is %s, not the simulator's output: nothing simulated", params["data"]["raw_dir"])


if __name__ == "__main__":
    main()
