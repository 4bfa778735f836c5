"""Parts read in batches: the same batches whatever the Parquet layout (one file or a folder of parts, any row
groups), and the drift profile counted batch by batch equal to the same figures computed on the whole part."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from triage.data import parts
from triage.data.columns import LABEL_COLUMN
from triage.monitoring.performance import estimated_performance
from triage.monitoring.profile import KS_SAMPLE, ProfileCounts, bin_counts, build_profile
from triage.tables import frame_batches
from triage_shared.decision import decide

CLASSES = ["none", "mild", "orphan"]
MANIFEST = {"name": "m", "onnx": {"sha256": "0" * 64}, "contract": {"name": "c", "version": 1, "sha256": "1" * 64},
            "thresholds": {"review": 0.7, "orphan": 0.2}, "classes": [{"code": c} for c in CLASSES],
            "features": [{"name": "age", "type": "int"}, {"name": "fever", "type": "binary"},
                         {"name": "sex", "type": "category", "categories": ["F", "M"]}]}


def part(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(0, 90, rows).astype(float)
    age[rng.random(rows) < 0.1] = np.nan
    return pd.DataFrame({"age": age, "fever": rng.integers(0, 2, rows).astype(float),
                         "sex": rng.choice(["F", "M", None], rows), LABEL_COLUMN: rng.choice(CLASSES, rows)})


def test_a_file_a_folder_of_parts_and_a_stores_manifest_give_the_same_batches(tmp_path):
    frame = part(1234)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "one.parquet", row_group_size=100)
    (tmp_path / "parts").mkdir()
    for number, (start, stop) in enumerate([(0, 377), (377, 378), (378, 1234)]):
        pq.write_table(pa.Table.from_pandas(frame.iloc[start:stop], preserve_index=False),
                       tmp_path / f"parts/part-{number:05d}.parquet", row_group_size=61)
    columns = ["age", LABEL_COLUMN]
    expected = [batch.reset_index(drop=True) for batch in frame_batches(frame[columns], 500)()]
    stored = [parts.put_part(file, str(tmp_path / "store"), pq.ParquetFile(file).metadata.num_rows)
              for file in sorted((tmp_path / "parts").glob("*.parquet"))]
    parts.write_manifest(tmp_path / "manifest", str(tmp_path / "store"), stored)
    for source in (tmp_path / "one.parquet", tmp_path / "parts", tmp_path / "manifest"):
        batches = list(parts.batches(source, columns, 500)())
        assert [len(batch) for batch in batches] == [500, 500, 234]
        for got, want in zip(batches, expected, strict=True):
            pd.testing.assert_frame_equal(got, want)


def profile_in_batches(frame: pd.DataFrame, probabilities: np.ndarray, rows: int) -> dict:
    counts = ProfileCounts(MANIFEST, seed=3)
    for start in range(0, len(frame), rows):
        counts.add(frame.iloc[start:start + rows], probabilities[start:start + rows])
    edges = counts.numeric["age"].edges()
    return build_profile(counts, {"age": bin_counts(frame["age"].dropna().to_numpy(), edges)})


@pytest.mark.parametrize("rows", [5000, 777])
def test_the_profile_counted_in_batches_is_the_profile_of_the_whole_part(rows):
    frame = part(5000, 1)
    probabilities = np.random.default_rng(2).dirichlet(np.ones(3), 5000)
    profile = profile_in_batches(frame, probabilities, rows)
    age = frame["age"].dropna().to_numpy()
    numeric = profile["features"]["age"]
    assert numeric["edges"] == np.unique(np.quantile(age, np.linspace(0, 1, 11)[1:-1])).tolist()  # all values
    assert numeric["missing"] == frame["age"].isna().sum() and sum(numeric["counts"]) == len(age)
    assert numeric["mean"] == pytest.approx(age.mean())
    assert len(numeric["sample"]) == KS_SAMPLE and set(numeric["sample"]) <= set(np.round(age, 2))
    sex = profile["features"]["sex"]
    assert sex["counts"] == [int((frame["sex"] == c).sum()) for c in ("F", "M")] and sex["missing"] == \
        frame["sex"].isna().sum()
    decided = decide(probabilities, 0.2, 2)
    assert profile["predicted_counts"] == np.bincount(decided, minlength=3).tolist()
    assert profile["label_counts"] == [int((frame[LABEL_COLUMN] == c).sum()) for c in CLASSES]
    assert profile["review_count"] == int((probabilities.max(axis=1) < 0.7).sum())
    estimate = estimated_performance(probabilities, decided, CLASSES)
    assert profile["estimated_performance"]["macro_f1"] == pytest.approx(estimate["macro_f1"])
