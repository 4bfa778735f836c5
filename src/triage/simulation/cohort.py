"""The simulated cohort on disk: the generative model, the held-out diseases, and the messy raw extracts one per
site (the first sites as CSV, the last as Parquet: ingest must read both), with the marker that lists each file's
sha256 so that ingest uses the public development key for exactly these files and no other."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from triage import config
from triage.data.extracts import write_simulated_marker
from triage.simulation.build import build_model
from triage.simulation.mess import make_messy
from triage.simulation.sample import sample_cohort
from triage.tables import write_csv

PARQUET_SITES = 3


def write_extracts(messy: pd.DataFrame, raw_dir: Path) -> list[Path]:
    """One extract per site, as the hospitals would send them."""
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


def simulate_cohort(settings: dict, seed: int, progress=print) -> None:
    """Writes config.GENERATIVE_MODEL, config.HOLDOUT_FILE and the extracts under config.SIMULATED_EXTRACTS."""
    model = build_model(settings, seed)
    model.save(config.GENERATIVE_MODEL)
    config.HOLDOUT_FILE.write_text("".join(f"{code}\n" for code in model.unseen.tolist()), encoding="utf-8")
    rng = np.random.default_rng(seed + 1)
    progress(f"sampling {settings['n_visits']} visits over {len(model.codes)} diagnoses and {len(model.site_ids)} "
             "sites")
    clean = sample_cohort(model, settings["n_visits"], settings["start_date"], settings["days"], rng)
    messy = make_messy(clean, settings["mess"], rng)
    paths = write_extracts(messy, config.SIMULATED_EXTRACTS)
    class_mix = clean["diagnosis_code"].map(dict(zip(model.codes, model.class_index, strict=True))).value_counts()
    write_simulated_marker(config.SIMULATED_EXTRACTS, paths, {
        "seed": seed, "n_visits": settings["n_visits"], "rows_written": len(messy),
        "class_counts": {int(k): int(v) for k, v in class_mix.items()},
        "holdout_diagnoses": model.unseen.tolist()})
    progress(f"wrote {len(messy)} rows ({len(clean)} clean visits + duplicates) in {len(paths)} extracts to "
             f"{config.SIMULATED_EXTRACTS}")
