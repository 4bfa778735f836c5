"""The drift monitor's statistics on real cohorts scored by the real exported model (from the small pipeline run)."""

from __future__ import annotations

import copy
import html.parser
import json

import numpy as np
import pandas as pd
import pytest

from triage.contract import SIMULATED_CONTRACT, load_contract
from triage.data.ingest import derive_labels
from triage.model.features import feature_matrix
from triage.monitoring.drift import Thresholds, compare, label_index, psi
from triage.monitoring.report import write_reports
from triage.simulation.generative import GenerativeModel
from triage.simulation.shift import rising_orphan, sample_reference, sample_shifted, shifted_model
from triage_shared.classes import CLASSES
from triage_shared.onnx import session as onnx_session

from ..conftest import REPO

pytestmark = pytest.mark.slow
WINDOW = 1500
SEEDS = 20
CONTRACT = load_contract(REPO / SIMULATED_CONTRACT)


@pytest.fixture(scope="module")
def workspace_model(pipeline_workspace):
    profile = json.loads((pipeline_workspace / "models/reference_profile.json").read_text())
    session = onnx_session((pipeline_workspace / "models/triage.onnx").read_bytes())
    generative = GenerativeModel.load(pipeline_workspace / "data/simulation/generative_model.npz")
    return profile, session, generative


def scored_window(frame: pd.DataFrame, session) -> pd.DataFrame:
    """What the log reader yields for these visits: the features as sent and the model's probabilities."""
    probabilities = session.run(["probabilities"], {"features": feature_matrix(frame, CONTRACT)})[0]
    window = frame[list(CONTRACT.feature_names)].copy()
    window["sex"] = window["sex"].astype(str)
    for k, name in enumerate(CLASSES):
        window[f"p_{name}"] = probabilities[:, k].astype(np.float64)
    return window


def test_psi_is_zero_for_equal_mixes_and_grows_with_the_shift():
    assert psi([50, 30, 20], [500, 300, 200]) == pytest.approx(0.0, abs=1e-12)
    assert 0 < psi([50, 30, 20], [45, 33, 22]) < psi([50, 30, 20], [20, 30, 50])


def test_false_alarm_rate_on_fresh_training_samples_stays_within_alpha(workspace_model, params):
    profile, session, generative = workspace_model
    thresholds = Thresholds.from_params(params)
    verdicts = [compare(profile, scored_window(sample_reference(generative, params["simulate"], WINDOW, seed),
                                               session), thresholds)["drift_detected"] for seed in range(SEEDS)]
    rate = sum(verdicts) / SEEDS
    print(f"false alarms: {sum(verdicts)} of {SEEDS} fresh samples (alpha {thresholds.alpha})")
    assert rate <= thresholds.alpha


def test_the_shifted_cohort_is_detected_with_its_reasons(workspace_model, params):
    profile, session, generative = workspace_model
    report = compare(profile, scored_window(sample_shifted(generative, params["simulate"]["shift"], WINDOW, 11),
                                            session), Thresholds.from_params(params))
    assert report["drift_detected"]
    assert report["predicted_mix"]["drifted"] or report["orphan_share"]["drifted"]
    assert any(f["drifted"] for f in report["features"])
    assert report["orphan_share"]["live"] > report["orphan_share"]["reference"]  # one orphan disease rose


def test_the_shift_moves_what_it_says(workspace_model, params):
    _, _, generative = workspace_model
    settings = params["simulate"]["shift"]
    shifted = shifted_model(generative, settings)
    position = list(generative.codes).index(rising_orphan(generative))
    assert shifted.prior[position] > 5 * generative.prior[position]
    assert not np.allclose(shifted.site_weights, generative.site_weights)
    weak = copy.deepcopy(settings) | {"site_weight_power": 1.0, "seasonal_factor": 1.0, "outbreak_factor": 1.0,
                                       "orphan_factor": 1.0}
    assert np.allclose(shifted_model(generative, weak).prior, generative.prior)


def test_labels_below_the_gate_count_as_drift(workspace_model, params):
    profile, session, generative = workspace_model
    frame = sample_reference(generative, params["simulate"], WINDOW, 99)
    window = scored_window(frame, session)
    labels = label_index(derive_labels(frame["diagnosis_code"], CONTRACT), list(CLASSES))
    thresholds = Thresholds.from_params(params)
    honest = compare(profile, window, thresholds, labels)
    assert not honest["drift_detected"] and honest["labelled"]["macro_f1"] >= thresholds.min_macro_f1
    scrambled = np.random.default_rng(0).permutation(labels)  # the model no longer matches the truth
    broken = compare(profile, window, thresholds, scrambled)
    assert broken["drift_detected"] and any("macro-F1" in reason for reason in broken["reasons"])
    assert broken["labelled"]["macro_f1"] < thresholds.min_macro_f1


def test_too_small_a_window_gives_no_verdict(workspace_model, params):
    profile, session, generative = workspace_model
    window = scored_window(sample_reference(generative, params["simulate"], 50, 1), session)
    with pytest.raises(ValueError, match="min_rows"):
        compare(profile, window, Thresholds.from_params(params))


class _Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)


def test_reports_are_well_formed(workspace_model, params, tmp_path):
    profile, session, generative = workspace_model
    result = compare(profile, scored_window(sample_shifted(generative, params["simulate"]["shift"], WINDOW, 5),
                                            session), Thresholds.from_params(params))
    report = {"drift_detected": result.pop("drift_detected"), "reasons": result.pop("reasons"), "env": "prod",
              "model": profile["model"], "reference_rows": profile["rows"], "unreadable_lines": 0,
              "window": {"rows": WINDOW, "first": "a", "last": "b"},
              "thresholds": {"alpha": 0.01, "psi": 0.1}, **result}
    paths = write_reports(report, profile, tmp_path, top=4)
    loaded = json.loads(paths["json"].read_text())
    assert loaded["drift_detected"] is True and loaded["reasons"] and len(loaded["features"]) == len(
        CONTRACT.feature_names)
    markdown = paths["markdown"].read_text()
    assert "Deriva detectada" in markdown and "| feature | test | PSI |" in markdown
    assert all(reason in markdown for reason in loaded["reasons"])
    parser = _Tags()
    parser.feed(paths["html"].read_text())
    assert parser.tags.count("img") == 1 + 4 and "title" in parser.tags
