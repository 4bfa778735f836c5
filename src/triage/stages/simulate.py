"""Stage `simulate`: draw the default cohort and write it as messy raw extracts (CSV and Parquet) to data/raw.

Also writes the generative model (for the exact Bayes posterior used by evaluate) and the list of orphan diseases
held out of training entirely.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from triage import config
from triage.cohort.build import build_model
from triage.cohort.mess import make_messy
from triage.cohort.sample import sample_cohort
from triage.tables import write_json

SIMULATED_MARKER = "_SIMULATED.json"
HOLDOUT_FILE = Path("data/simulation/holdout_diagnoses.txt")
PARQUET_SITES = 3  # the last sites deliver Parquet, the others CSV: ingest must read both
log = config.stage_logger("simulate")


def write_extracts(messy: pd.DataFrame, raw_dir: Path) -> list[Path]:
    """One extract per site, as the hospitals would send them; the first sites as CSV, the last as Parquet."""
    if raw_dir.exists():
        shutil.rmtree(raw_dir)
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
            part.to_csv(path, index=False)
        paths.append(path)
    return paths


def main() -> None:
    params = config.load_params()
    settings, seed = params["simulate"], params["base"]["seed"]
    model = build_model(settings, seed)
    model.save(config.GENERATIVE_MODEL)
    HOLDOUT_FILE.parent.mkdir(parents=True, exist_ok=True)
    HOLDOUT_FILE.write_text("".join(f"{code}\n" for code in model.unseen.tolist()), encoding="utf-8")
    rng = np.random.default_rng(seed + 1)
    log.info("sampling %d visits over %d diagnoses and %d sites", settings["n_visits"], len(model.codes),
             len(model.site_ids))
    clean = sample_cohort(model, settings["n_visits"], settings["start_date"], settings["days"], rng)
    messy = make_messy(clean, settings["mess"], rng)
    raw_dir = Path(params["base"]["raw_dir"])
    paths = write_extracts(messy, raw_dir)
    class_mix = clean["diagnosis_code"].map(dict(zip(model.codes, model.class_index, strict=True))).value_counts()
    write_json({"simulated": True, "seed": seed, "n_visits": settings["n_visits"], "rows_written": len(messy),
                "extracts": [p.name for p in paths], "class_counts": {int(k): int(v) for k, v in class_mix.items()},
                "holdout_diagnoses": model.unseen.tolist()}, raw_dir / SIMULATED_MARKER)
    log.info("wrote %d rows (%d clean visits + duplicates) in %d extracts to %s", len(messy), len(clean),
             len(paths), raw_dir)


if __name__ == "__main__":
    main()
