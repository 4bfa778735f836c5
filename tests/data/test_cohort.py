"""Data tests: the simulated cohort and its generative model against the contract and the published facts."""

import numpy as np
import pandas as pd
import pytest

from triage.data.ingest import derive_labels
from triage.simulation.vocabulary import symptom_columns
from triage_shared.classes import CLASSES


def test_enough_diagnoses_of_each_kind(generative):
    classes = np.array(CLASSES)[generative.class_index]
    common = classes[np.isin(classes, ["mild", "acute", "chronic"])]
    assert len(common) >= 25 and {"mild", "acute", "chronic"} <= set(common)
    assert all((common == c).sum() >= 6 for c in ("mild", "acute", "chronic"))
    assert (classes == "orphan").sum() >= 50
    assert (classes == "none").sum() >= 1


def test_simulated_codes_map_to_their_class_through_the_default_contract(generative, contract):
    labels = derive_labels(pd.Series(generative.codes), contract)
    assert labels.tolist() == [CLASSES[k] for k in generative.class_index]


def test_orphan_prevalence_and_skew(generative, params):
    prior = generative.prior
    orphan = generative.class_index == CLASSES.index("orphan")
    assert prior[orphan].sum() == pytest.approx(params["simulate"]["orphan_share"])
    shares = np.sort(prior[orphan] / prior[orphan].sum())[::-1]
    assert shares[:5].sum() > 0.5  # a few diseases carry most orphan cases
    assert (shares < 0.005).sum() >= 15  # and many have only a handful


def test_orphan_diseases_skew_to_childhood_and_long_duration(generative):
    orphan = generative.class_index == CLASSES.index("orphan")
    child = generative.age_pmf[:, :18].sum(axis=1)
    assert child[orphan].mean() > 0.6 > child[~orphan].mean()
    assert np.median(generative.days_mu[orphan]) > np.median(generative.days_mu[~orphan])


def test_unseen_orphan_diseases(generative, params):
    unseen = set(generative.unseen.tolist())
    orphan_codes = set(generative.codes[generative.class_index == CLASSES.index("orphan")])
    assert len(unseen) == params["simulate"]["unseen_orphan"] and unseen <= orphan_codes


def test_nonspecific_symptoms_overlap_between_common_and_orphan(generative):
    orphan = generative.class_index == CLASSES.index("orphan")
    for column in ("sx_fatigue", "sx_weight_loss", "sx_arthralgia"):
        k = symptom_columns().index(column)
        assert generative.symptom_p[orphan, k].max() > 0.2 and generative.symptom_p[~orphan, k].max() > 0.2


def test_posterior_sums_to_one_and_matches_the_class_frequencies(generative, clean_cohort):
    posterior = generative.posterior(clean_cohort)
    assert np.allclose(posterior.sum(axis=1), 1.0)
    observed = np.bincount(generative.class_index[pd.Series(generative.codes).reset_index().set_index(0)
                                                  .loc[clean_cohort["diagnosis_code"], "index"].to_numpy()],
                           minlength=len(CLASSES)) / len(clean_cohort)
    standard_error = np.sqrt(observed * (1 - observed) / len(clean_cohort))
    assert np.all(np.abs(posterior.mean(axis=0) - observed) < 4 * standard_error + 1e-3)


def test_posterior_is_calibrated_where_it_is_confident(generative, clean_cohort):
    posterior = generative.posterior(clean_cohort)
    truth = clean_cohort["diagnosis_code"].map(dict(zip(generative.codes, generative.class_index,
                                                        strict=True))).to_numpy()
    confident = posterior.max(axis=1) > 0.9
    accuracy = (posterior.argmax(axis=1)[confident] == truth[confident]).mean()
    assert accuracy == pytest.approx(posterior.max(axis=1)[confident].mean(), abs=0.03)


def test_posterior_marginalises_missing_values_exactly(generative, clean_cohort):
    """Summing the posterior with a vital observed over all its values equals the posterior with it missing."""
    row = clean_cohort.iloc[[0]].copy()
    row["spo2_pct"] = np.nan
    row["sex"] = "F"
    grid = pd.concat([row.assign(spo2_pct=float(v)) for v in range(50, 101)], ignore_index=True)
    joint = np.exp(generative.diagnosis_log_likelihood(grid)) * generative.prior_given_site[0][None, :]
    marginal = joint.sum(axis=0)
    missing = np.exp(generative.diagnosis_log_likelihood(row))[0] * generative.prior_given_site[0]
    assert np.allclose(marginal / marginal.sum(), missing / missing.sum(), atol=1e-9)


def test_messy_extract_carries_personal_data_and_inconsistent_codes(messy_cohort, contract):
    assert set(contract.spec.personal_data) <= set(messy_cohort.columns)
    assert len(set(messy_cohort["sex"])) > 3
    assert messy_cohort["national_id"].str.fullmatch(r"\d{8}[A-Z]").all()
    assert messy_cohort.duplicated().sum() >= 60
