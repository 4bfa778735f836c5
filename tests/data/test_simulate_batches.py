"""The simulated cohort written in batches (triage.simulation.cohort): a small cohort in several small batches has
the rows, files, columns, types and class shares of the same cohort drawn in one batch, every extract reads through
the pipeline's reader, and the same seed writes the same bytes."""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from triage import config
from triage.data.extracts import iter_extract_batches
from triage.data.simulated_marker import SIMULATED_MARKER
from triage.simulation.cohort import simulate_cohort
from triage.simulation.extract_files import append_csv
from triage.simulation.mess import injected_rows
from triage.tables import read_json, write_csv
from triage_shared.classes import CLASSES

N_VISITS = 3000
SMALL_BATCH = 700  # 4 full batches and one of 200


def simulate(directory: Path, params: dict, batch_visits: int) -> tuple[Path, list[str]]:
    """The simulate stage's outputs under `directory` (config's paths pointed there) and its progress lines."""
    settings = {**copy.deepcopy(params["simulate"]), "n_visits": N_VISITS, "batch_visits": batch_visits}
    lines: list[str] = []
    directory.mkdir(parents=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(config, "SIMULATION", directory)
        patch.setattr(config, "SIMULATED_EXTRACTS", directory / "extracts")
        patch.setattr(config, "GENERATIVE_MODEL", directory / "generative_model.npz")
        patch.setattr(config, "HOLDOUT_FILE", directory / "holdout_diagnoses.txt")
        simulate_cohort(settings, params["base"]["seed"], progress=lines.append)
    return directory, lines


@pytest.fixture(scope="module")
def batched(tmp_path_factory, params) -> tuple[Path, list[str]]:
    return simulate(tmp_path_factory.mktemp("batches") / "simulation", params, SMALL_BATCH)


@pytest.fixture(scope="module")
def whole(tmp_path_factory, params) -> tuple[Path, list[str]]:
    return simulate(tmp_path_factory.mktemp("whole") / "simulation", params, N_VISITS)


def marker(directory: Path) -> dict:
    return read_json(directory / "extracts" / SIMULATED_MARKER)


def extracts(directory: Path) -> list[Path]:
    return sorted(p for p in (directory / "extracts").iterdir() if p.name != SIMULATED_MARKER)


def read_all(path: Path, rows: int = 250) -> pd.DataFrame:
    """An extract through the pipeline's streaming reader (small batches: several per Parquet row group)."""
    batches = list(iter_extract_batches(path, rows=rows))
    assert all(not batch.row_faults for batch in batches), path
    return pd.concat([batch.frame for batch in batches], ignore_index=True)


def test_the_cohort_comes_in_batches_with_one_progress_line_each(batched, whole):
    directory, lines = batched
    batch_lines = [line for line in lines if line.startswith("batch ")]
    assert marker(directory)["batches"] == 5 and len(batch_lines) == 5
    assert batch_lines[-1].startswith(f"batch 5/5: {N_VISITS:,} of {N_VISITS:,} visits")
    assert marker(whole[0])["batches"] == 1


def test_rows_written_are_the_visits_plus_the_injected_duplicates(batched, whole, params):
    expected = N_VISITS + injected_rows(N_VISITS, params["simulate"]["mess"])
    for directory, _ in (batched, whole):
        assert marker(directory)["rows_written"] == expected
        assert sum(len(read_all(path)) for path in extracts(directory)) == expected
        assert sum(marker(directory)["class_counts"].values()) == N_VISITS


def test_same_sites_columns_and_types_as_one_batch(batched, whole):
    assert [p.name for p in extracts(batched[0])] == [p.name for p in extracts(whole[0])]
    for path, one in zip(extracts(batched[0]), extracts(whole[0]), strict=True):
        frame, reference = read_all(path), read_all(one)
        assert list(frame.columns) == list(reference.columns)
        assert frame.dtypes.to_dict() == reference.dtypes.to_dict()
        if path.suffix == ".parquet":
            schema = pq.read_schema(path)
            assert schema.equals(pq.read_schema(one)) and all(field.type == pa.string() for field in schema)
            assert pq.ParquetFile(path).metadata.num_row_groups > 1  # one row group per batch with rows


def test_one_site_writes_decimal_commas_in_every_batch(batched):
    with_commas = [p.name for p in extracts(batched[0]) if read_all(p)["temperature_c"].str.contains(",").any()]
    assert len(with_commas) == 1


def test_class_shares_close_to_one_batch(batched, whole):
    def shares(directory: Path) -> dict[int, float]:
        counts = {int(k): v for k, v in marker(directory)["class_counts"].items()}
        return {k: counts.get(k, 0) / N_VISITS for k in range(len(CLASSES))}

    many, one = shares(batched[0]), shares(whole[0])
    assert all(abs(many[k] - one[k]) < 0.05 for k in many), (many, one)  # about 4 standard errors at 3,000 visits


def test_identifiers_follow_on_across_batches(batched):
    frame = pd.concat([read_all(path) for path in extracts(batched[0])], ignore_index=True)
    assert frame["visit_id"].nunique() == N_VISITS  # duplicates repeat a visit's id, no two visits share one
    per_patient = frame.groupby("patient_id").agg(national=("national_id", "nunique"),
                                                  site=("site_id", lambda s: s.str.strip().nunique()))
    assert (per_patient["national"] == 1).all() and (per_patient["site"] == 1).all()
    assert len(per_patient) < N_VISITS  # some patients come back


def test_same_seed_same_bytes(batched, tmp_path, params):
    again, _ = simulate(tmp_path / "simulation", params, SMALL_BATCH)
    written = sorted(p.relative_to(batched[0]) for p in batched[0].rglob("*") if p.is_file())
    assert written == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert all((batched[0] / name).read_bytes() == (again / name).read_bytes() for name in written)


def test_csv_batches_join_to_the_bytes_write_csv_writes(messy_cohort, tmp_path):
    frame = messy_cohort.head(900).copy()
    frame.iloc[0, frame.columns.get_loc("full_name")] = "=HYPERLINK(\"x\")"
    frame.iloc[1, frame.columns.get_loc("symptom_days")] = "-1"
    frame.iloc[2, frame.columns.get_loc("sex")] = "@SUM(A1)"
    frame.iloc[3, frame.columns.get_loc("diagnosis_code")] = "+34 600"
    write_csv(frame, tmp_path / "whole.csv")
    with open(tmp_path / "batches.csv", "w", encoding="utf-8", newline="") as handle:
        for start in range(0, len(frame), 400):
            append_csv(frame.iloc[start:start + 400], handle, header=start == 0)
    assert (tmp_path / "batches.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
