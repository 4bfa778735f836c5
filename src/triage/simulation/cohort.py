"""The simulated cohort on disk: the generative model, the held-out diseases, and the messy raw extracts one per
site (the first sites as CSV, the last as Parquet: ingest must read both), with the marker that lists each file's
sha256 so that ingest uses the public development key for exactly these files and no other.

The cohort is drawn, made messy and written in batches of at most `simulate.batch_visits` visits (BATCH_VISITS when
params set none), each appended to the site extracts before the next is drawn: memory is bounded by the batch, not
by the cohort (10 million visits must fit in a few GB). Each batch draws from its own generator, the batch-th child
of the seed's SeedSequence, so the bits depend on the seed and the batch size only, never on the machine. Batches
are independent samples of the same distribution (sites, dates over the whole period, classes); a patient's repeat
visits are grouped within a batch, so no patient spans two batches, and identifiers follow on from batch to batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from triage import config
from triage.data.simulated_marker import write_simulated_marker
from triage.simulation.build import build_model
from triage.simulation.extract_files import SiteExtracts
from triage.simulation.generative import GenerativeModel
from triage.simulation.mess import make_messy
from triage.simulation.sample import sample_cohort
from triage_shared.classes import CLASSES

BATCH_VISITS = 100_000  # visits per batch when params set no simulate.batch_visits (about 0.55 GB at peak)


@dataclass
class Tally:
    """What the batches written so far add up to: where the next batch's identifiers start, and the accounting
    the marker records."""

    visits: int = 0
    patients: int = 0
    rows: int = 0
    class_counts: np.ndarray = field(default_factory=lambda: np.zeros(len(CLASSES), dtype=np.int64))
    comma_site: str | None = None  # the one site that writes decimal commas (the cohort's first visit's)

    def add(self, clean: pd.DataFrame, rows: int, model: GenerativeModel) -> None:
        class_of = dict(zip(model.codes.tolist(), model.class_index.tolist(), strict=True))
        classes = clean["diagnosis_code"].map(class_of).to_numpy(dtype=np.int64)
        self.class_counts += np.bincount(classes, minlength=len(CLASSES))
        self.visits += len(clean)
        self.patients += clean["patient_id"].nunique()
        self.rows += rows

    def class_mix(self) -> dict[int, int]:
        """{class index: visits}, most frequent first, classes without visits left out (the marker's format)."""
        order = sorted(np.flatnonzero(self.class_counts).tolist(), key=lambda k: -self.class_counts[k])
        return {k: int(self.class_counts[k]) for k in order}


def batch_sizes(n_visits: int, batch_visits: int) -> list[int]:
    """Visits of each batch: full batches, then the remainder."""
    if batch_visits < 1:
        raise ValueError(f"simulate.batch_visits must be at least 1, not {batch_visits}")
    full, rest = divmod(int(n_visits), int(batch_visits))
    return [int(batch_visits)] * full + ([rest] if rest else [])


def batch_generator(seed: int, batch: int) -> np.random.Generator:
    """The batch's own generator: the batch-th child of SeedSequence(seed), as SeedSequence(seed).spawn would make
    it (independent of the other batches and of build_model's default_rng(seed)), without spawning the others."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(batch,)))


def simulate_batch(model: GenerativeModel, settings: dict, seed: int, batch: int, size: int,
                   tally: Tally) -> pd.DataFrame:
    """One batch of messy rows: visits drawn with the batch's generator, identifiers following the batches before,
    the mess at the cohort's rates; the tally moves on."""
    rng = batch_generator(seed, batch)
    clean = sample_cohort(model, size, settings["start_date"], settings["days"], rng, first_patient=tally.patients,
                          first_visit=tally.visits)
    if tally.comma_site is None:
        tally.comma_site = str(clean["site_id"].iloc[0])
    messy = make_messy(clean, settings["mess"], rng, comma_site=tally.comma_site, before=tally.visits)
    tally.add(clean, len(messy), model)
    return messy


def write_batches(model: GenerativeModel, settings: dict, seed: int, sizes: list[int],
                  progress: Callable[[str], None]) -> tuple[Tally, list[Path]]:
    """Every batch drawn and appended to the site extracts in turn (one progress line per batch)."""
    tally, started, total = Tally(), time.perf_counter(), sum(sizes)
    with SiteExtracts(config.SIMULATED_EXTRACTS, model.site_ids.tolist()) as extracts:
        for batch, size in enumerate(sizes):
            extracts.append(simulate_batch(model, settings, seed, batch, size, tally))
            progress(f"batch {batch + 1}/{len(sizes)}: {tally.visits:,} of {total:,} visits "
                     f"({tally.rows:,} rows written), {time.perf_counter() - started:.1f} s")
    return tally, extracts.paths


def simulate_cohort(settings: dict, seed: int, progress: Callable[[str], None] = print) -> None:
    """Writes config.GENERATIVE_MODEL, config.HOLDOUT_FILE and the extracts under config.SIMULATED_EXTRACTS."""
    model = build_model(settings, seed)
    model.save(config.GENERATIVE_MODEL)
    config.HOLDOUT_FILE.write_text("".join(f"{code}\n" for code in model.unseen.tolist()), encoding="utf-8")
    batch_visits = int(settings.get("batch_visits", BATCH_VISITS))
    sizes = batch_sizes(settings["n_visits"], batch_visits)
    progress(f"sampling {settings['n_visits']} visits over {len(model.codes)} diagnoses and {len(model.site_ids)} "
             f"sites, in {len(sizes)} batch{'es' if len(sizes) != 1 else ''} of at most {batch_visits:,} visits")
    tally, paths = write_batches(model, settings, seed, sizes, progress)
    write_simulated_marker(config.SIMULATED_EXTRACTS, paths, {
        "seed": seed, "n_visits": settings["n_visits"], "batch_visits": batch_visits, "batches": len(sizes),
        "rows_written": tally.rows,
        "class_counts": tally.class_mix(), "holdout_diagnoses": model.unseen.tolist()})
    progress(f"wrote {tally.rows} rows ({tally.visits} clean visits + duplicates) in {len(paths)} extracts to "
             f"{config.SIMULATED_EXTRACTS}")
