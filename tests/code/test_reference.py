import json

import pandas as pd
import pytest

from triage import config
from triage.simulation.reference import frequency_probability, project_profiles, select_diseases
from triage.simulation.vocabulary import symptoms


@pytest.mark.parametrize(("code", "expected"), [("HP:0040280", 1.0), ("HP:0040281", 0.895), ("HP:0040283", 0.17),
                                                ("3/4", 0.75), ("40%", 0.4), ("", None), ("HP:9999999", None)])
def test_frequency_bands_give_their_expected_probability(code, expected):
    value = frequency_probability(code)
    if expected is None:
        assert value is None
    else:
        assert value == pytest.approx(expected)


def test_projection_combines_terms_and_folds_imprecision():
    annotations = pd.DataFrame({"database_id": ["ORPHA:1", "ORPHA:1"], "disease_name": ["X", "X"],
                                "hpo_id": ["HP:A", "HP:B"], "probability": [0.5, 0.5]})
    distances = {"HP:A": [("seizures", 0)], "HP:B": [("seizures", 3)]}
    exact = project_profiles(annotations, distances, imprecision=0.0)
    assert exact["probability"].item() == pytest.approx(1 - 0.5 * 0.5)
    imprecise = project_profiles(annotations, distances, imprecision=1.0)
    assert imprecise["probability"].item() < exact["probability"].item()


def test_selection_requires_red_flags_and_enough_symptoms():
    rows = [("ORPHA:1", s, 0.5) for s in ("fever", "cough", "fatigue", "headache", "rash")]  # no red flag
    rows += [("ORPHA:2", s, 0.5) for s in ("fever", "cough", "fatigue", "headache", "seizures")]
    profiles = pd.DataFrame(rows, columns=["orpha_code", "symptom", "probability"])
    assert select_diseases(profiles, 1, 5, 1, seed=0) == ["ORPHA:2"]
    with pytest.raises(ValueError, match="n_orphan=2"):
        select_diseases(profiles, 2, 5, 1, seed=0)


def test_committed_profile_table_has_real_orpha_diseases_and_the_hpo_release():
    table = pd.read_csv(config.ORPHAN_PROFILES)
    meta = json.loads(config.ORPHAN_PROFILES_META.read_text())
    assert table["orpha_code"].str.fullmatch(r"ORPHA:\d+").all()
    assert table["orpha_code"].nunique() >= 50
    assert set(table["symptom"]) <= {s.name for s in symptoms()}
    assert table["probability"].between(0, 1).all()
    assert meta["hpo_release"] == "2025-01-16"
