"""Behavioural tests of the trained model and the Bayes posterior."""

import numpy as np
import pandas as pd
import pytest

from triage.data.columns import LABEL_COLUMN
from triage.model.features import feature_matrix
from triage.simulation.vocabulary import red_flag_columns, symptom_columns
from triage_shared.classes import CLASSES

ORPHAN = CLASSES.index("orphan")


def with_orphan_red_flags(frame: pd.DataFrame, generative) -> pd.DataFrame:
    """The same visits with the three most frequent red flags of the commonest orphan disease."""
    orphan = np.flatnonzero(generative.class_index == ORPHAN)
    commonest = orphan[np.argmax(generative.prior[orphan])]
    columns = symptom_columns()
    red = [columns.index(c) for c in red_flag_columns()]
    top = np.array(red)[np.argsort(-generative.symptom_p[commonest, red])[:3]]
    changed = frame.copy()
    for k in top:
        changed[columns[k]] = 1.0
    return changed


@pytest.fixture(scope="module")
def common_visits(labelled_cohort):
    return labelled_cohort[labelled_cohort[LABEL_COLUMN].isin(["mild", "none"])].head(300)


def test_red_flags_raise_the_model_orphan_probability(trained_pipeline, common_visits, generative, contract):
    before = trained_pipeline.predict_proba(feature_matrix(common_visits, contract))[:, ORPHAN]
    changed = with_orphan_red_flags(common_visits, generative)
    after = trained_pipeline.predict_proba(feature_matrix(changed, contract))[:, ORPHAN]
    assert (after > before).mean() > 0.95
    assert after.mean() > 5 * before.mean()


def test_red_flags_raise_the_bayes_orphan_probability(generative, common_visits):
    before = generative.posterior(common_visits)[:, ORPHAN]
    after = generative.posterior(with_orphan_red_flags(common_visits, generative))[:, ORPHAN]
    assert (after > before).all()


def test_site_and_visit_date_do_not_move_the_output(trained_pipeline, labelled_cohort, contract):
    visits = labelled_cohort.head(200)
    moved = visits.assign(site_id="S99", visit_date="2031-06-30")
    base = trained_pipeline.predict_proba(feature_matrix(visits, contract))
    assert np.abs(trained_pipeline.predict_proba(feature_matrix(moved, contract)) - base).max() < 1e-9


def test_site_moves_the_bayes_posterior_only_a_little(generative, labelled_cohort):
    """The generating site mix differs, so knowing the site changes the Bayes posterior, but modestly."""
    visits = labelled_cohort.head(500)
    without = generative.posterior(visits)
    with_site = generative.posterior(visits, use_site=True)
    shift = np.abs(with_site - without).max(axis=1)
    assert np.median(shift) < 0.1 and shift.max() > 0


def test_longer_symptom_duration_points_away_from_mild(trained_pipeline, common_visits, contract):
    short = trained_pipeline.predict_proba(feature_matrix(common_visits.assign(symptom_days=2), contract))
    long = trained_pipeline.predict_proba(feature_matrix(common_visits.assign(symptom_days=900), contract))
    mild = CLASSES.index("mild")
    assert long[:, mild].mean() < short[:, mild].mean()
