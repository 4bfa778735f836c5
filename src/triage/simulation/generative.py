"""The generative model of the simulated cohort, written as explicit conditional distributions.

    site ~ Categorical(site_weights)
    diagnosis d | site ~ Categorical(P(d | site))                       (class shares differ by site type)
    age | d ~ discrete pmf over 0..100                                   (orphan diseases skewed to childhood)
    sex | d ~ {M: male(d)(1-u), F: (1-male(d))(1-u), U: u}
    temperature | d ~ rounded Normal(mu_T(d), sd_T)  (0.1 °C steps, clipped to the contract range)
    heart, resp rate, systolic | d, age ~ rounded Normal(base(age) + shift(d), sd)
    SpO2 | d ~ rounded Normal(mu_S(d), sd_S)
    symptom_days | d ~ floor(LogNormal(mu_D(d), sigma_D(d)))
    comorbidity_count | d, age ~ Poisson(rate(d) * (0.3 + age / 40))
    sx_v | d ~ Bernoulli(p(d, v))     (recording sensitivity and the recipe's noise terms folded into p)
    vital j missing | site ~ Bernoulli(q(site, j)); symptom not recorded ~ Bernoulli(r)

Every factor is explicit, so `posterior` is the exact Bayes posterior P(class | observed features): a sum over the
diagnoses of each class of prior x likelihood, with missing values marginalised (a missing vital says something
about the site, hence about the diagnosis; that factor is kept exactly).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special, stats

from triage.simulation import portable
from triage.simulation.vocabulary import VITAL_NAMES, symptom_columns
from triage_shared.classes import CLASSES

AGES = np.arange(0, 101)
TEMP_SD, HR_SD, RR_SD, SPO2_SD, SBP_SD = 0.55, 12.0, 3.0, 1.6, 14.0


def heart_rate_base(age: np.ndarray) -> np.ndarray:
    return 78.0 + 52.0 * portable.exp(-age / 4.0)


def resp_rate_base(age: np.ndarray) -> np.ndarray:
    return 15.0 + 22.0 * portable.exp(-age / 3.0)


def systolic_base(age: np.ndarray) -> np.ndarray:
    return 92.0 + 0.45 * np.minimum(age, 80)


def comorbidity_rate(rate: np.ndarray, age: np.ndarray) -> np.ndarray:
    return rate * (0.3 + age / 40.0)


@dataclass
class GenerativeModel:
    codes: np.ndarray  # (D,) diagnosis codes
    names: np.ndarray  # (D,)
    class_index: np.ndarray  # (D,) index into CLASSES
    site_ids: np.ndarray  # (S,)
    site_weights: np.ndarray  # (S,)
    prior_given_site: np.ndarray  # (S, D)
    age_pmf: np.ndarray  # (D, 101)
    male_prob: np.ndarray  # (D,)
    sex_unknown: np.ndarray  # () share of visits with sex not recorded
    temp_mu: np.ndarray  # (D,)
    hr_shift: np.ndarray
    rr_shift: np.ndarray
    spo2_mu: np.ndarray
    sbp_shift: np.ndarray
    days_mu: np.ndarray  # log-median of symptom days
    days_sigma: np.ndarray
    comorbidity: np.ndarray
    symptom_p: np.ndarray  # (D, V)
    vital_missing: np.ndarray  # (S, 5)
    symptom_missing: np.ndarray  # ()
    unseen: np.ndarray  # codes held out of training

    # --- persistence ---------------------------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:
            np.savez_compressed(handle, **{f.name: np.asarray(getattr(self, f.name)) for f in fields(self)})

    @classmethod
    def load(cls, path: Path) -> GenerativeModel:
        with np.load(path, allow_pickle=False) as data:
            return cls(**{f.name: data[f.name] for f in fields(cls)})

    # --- derived quantities ---------------------------------------------------------------------------------------
    @property
    def prior(self) -> np.ndarray:
        """P(d), marginal over sites."""
        return self.site_weights @ self.prior_given_site

    def class_prior(self) -> np.ndarray:
        return np.bincount(self.class_index, weights=self.prior, minlength=len(CLASSES))

    # --- sampling -------------------------------------------------------------------------------------------------
    def sample_visit_features(self, diagnosis: np.ndarray, age: np.ndarray, rng: np.random.Generator
                              ) -> dict[str, np.ndarray]:
        """Per-visit features given diagnosis and age (vitals, history, symptoms), without missingness."""
        n = len(diagnosis)
        out: dict[str, np.ndarray] = {
            "temperature_c": _rounded(rng.normal(self.temp_mu[diagnosis], TEMP_SD), 0.1, 30, 45),
            "heart_rate_bpm": _rounded(rng.normal(heart_rate_base(age) + self.hr_shift[diagnosis], HR_SD), 1,
                                       20, 250),
            "resp_rate_bpm": _rounded(rng.normal(resp_rate_base(age) + self.rr_shift[diagnosis], RR_SD), 1, 4, 80),
            "spo2_pct": _rounded(rng.normal(self.spo2_mu[diagnosis], SPO2_SD), 1, 50, 100),
            "systolic_bp_mmhg": _rounded(rng.normal(systolic_base(age) + self.sbp_shift[diagnosis], SBP_SD), 1,
                                         50, 260),
            "symptom_days": np.minimum(np.floor(rng.lognormal(self.days_mu[diagnosis],
                                                              self.days_sigma[diagnosis])), 3650),
            "comorbidity_count": np.minimum(rng.poisson(comorbidity_rate(self.comorbidity[diagnosis], age)), 20),
        }
        columns = symptom_columns()
        present = rng.random((n, len(columns))) < self.symptom_p[diagnosis]
        for column, values in zip(columns, present.T, strict=True):
            out[column] = values.astype(float)
        return out

    def sample_sex(self, diagnosis: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        draw = rng.random(len(diagnosis))
        unknown = rng.random(len(diagnosis)) < float(self.sex_unknown)
        return np.where(unknown, "U", np.where(draw < self.male_prob[diagnosis], "M", "F"))

    def sample_age(self, diagnosis: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        cumulative = np.cumsum(self.age_pmf, axis=1)
        draws = rng.random(len(diagnosis))
        return np.minimum(inverse_cdf(cumulative, diagnosis, draws), AGES[-1])

    def apply_missingness(self, features: dict[str, np.ndarray], site: np.ndarray,
                          rng: np.random.Generator) -> None:
        for j, name in enumerate(VITAL_NAMES):
            missing = rng.random(len(site)) < self.vital_missing[site, j]
            features[name] = np.where(missing, np.nan, features[name])
        for column in symptom_columns():
            missing = rng.random(len(site)) < float(self.symptom_missing)
            features[column] = np.where(missing, np.nan, features[column])

    # --- exact posterior ------------------------------------------------------------------------------------------
    def diagnosis_log_likelihood(self, frame: pd.DataFrame) -> np.ndarray:
        """log P(observed features | d) for every row and diagnosis, missing values marginalised. (N, D)"""
        age = frame["age_years"].to_numpy(dtype=float)
        age_index = np.clip(age, 0, AGES[-1]).astype(int)
        loglik = np.log(self.age_pmf[:, age_index].T + 1e-300)
        loglik += self._sex_loglik(frame["sex"].to_numpy())
        loglik += _rounded_normal_loglik(frame["temperature_c"], self.temp_mu[None, :], TEMP_SD, 0.1, 30, 45)
        loglik += _rounded_normal_loglik(frame["heart_rate_bpm"], heart_rate_base(age)[:, None] +
                                         self.hr_shift[None, :], HR_SD, 1, 20, 250)
        loglik += _rounded_normal_loglik(frame["resp_rate_bpm"], resp_rate_base(age)[:, None] +
                                         self.rr_shift[None, :], RR_SD, 1, 4, 80)
        loglik += _rounded_normal_loglik(frame["spo2_pct"], self.spo2_mu[None, :], SPO2_SD, 1, 50, 100)
        loglik += _rounded_normal_loglik(frame["systolic_bp_mmhg"], systolic_base(age)[:, None] +
                                         self.sbp_shift[None, :], SBP_SD, 1, 50, 260)
        loglik += self._days_loglik(frame["symptom_days"].to_numpy(dtype=float))
        counts = frame["comorbidity_count"].to_numpy(dtype=float)
        rates = comorbidity_rate(self.comorbidity[None, :], age[:, None])
        loglik += np.where(counts[:, None] >= 20, stats.poisson.logsf(19, rates),
                           stats.poisson.logpmf(counts[:, None], rates))
        symptoms = frame[list(symptom_columns())].to_numpy(dtype=float)
        present, absent = (symptoms == 1).astype(float), (symptoms == 0).astype(float)
        loglik += present @ np.log(self.symptom_p).T + absent @ np.log1p(-self.symptom_p).T
        return loglik

    def posterior(self, frame: pd.DataFrame, use_site: bool = False) -> np.ndarray:
        """Exact P(class | observed features) for each row, shape (N, n_classes), classes in product order.

        Without the site (the model's view), the site is marginalised: the prior is P(d) and the missing-vital
        pattern contributes P(pattern | d) = sum_s P(s | d) P(pattern | s). With the site, the prior is P(d | s)
        and the pattern, which depends on the site only, cancels.
        """
        loglik = self.diagnosis_log_likelihood(frame)
        if use_site:
            site = self._site_index(frame["site_id"])
            loglik += np.log(self.prior_given_site[site] + 1e-300)
        else:
            loglik += np.log(self.prior + 1e-300)[None, :] + self._missing_pattern_loglik(frame)
        joint = loglik - special.logsumexp(loglik, axis=1, keepdims=True)
        probabilities = np.exp(joint)
        out = np.zeros((len(frame), len(CLASSES)))
        for k in range(len(CLASSES)):
            out[:, k] = probabilities[:, self.class_index == k].sum(axis=1)
        return out

    def _sex_loglik(self, sex: np.ndarray) -> np.ndarray:
        known = 1 - float(self.sex_unknown)
        male = np.log(self.male_prob * known)[None, :]
        female = np.log((1 - self.male_prob) * known)[None, :]
        unknown = np.full_like(male, np.log(float(self.sex_unknown)))
        sex = sex.astype(str)[:, None]
        return np.where(sex == "M", male, np.where(sex == "F", female, unknown))

    def _days_loglik(self, days: np.ndarray) -> np.ndarray:
        mu, sigma = self.days_mu[None, :], self.days_sigma[None, :]
        d = days[:, None]
        upper = np.where(d >= 3650, np.inf, np.log(d + 1))
        lower = np.where(d <= 0, -np.inf, np.log(np.maximum(d, 1e-12)))
        return _log_interval((lower - mu) / sigma, (upper - mu) / sigma)

    def _missing_pattern_loglik(self, frame: pd.DataFrame) -> np.ndarray:
        missing = frame[list(VITAL_NAMES)].isna().to_numpy(dtype=float)
        q = self.vital_missing
        per_site = np.exp(missing @ np.log(q).T + (1 - missing) @ np.log1p(-q).T)  # (N, S)
        joint = self.site_weights[:, None] * self.prior_given_site  # (S, D) = P(s, d)
        site_given_d = joint / joint.sum(axis=0, keepdims=True)
        return np.log(per_site @ site_given_d + 1e-300)

    def _site_index(self, sites: pd.Series) -> np.ndarray:
        lookup = {site: i for i, site in enumerate(self.site_ids.tolist())}
        return sites.map(lookup).to_numpy(dtype=int)


def inverse_cdf(cumulative: np.ndarray, rows: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """For each i, how many entries of cumulative[rows[i]] are below draws[i]: a categorical draw by inversion.

    The same counts as `(cumulative[rows] < draws[:, None]).sum(axis=1)` (each row is a non-decreasing cumsum, so
    the count is its left insertion point), without that (visits x categories) matrix: memory stays linear in the
    visits, which the batched cohort needs, and no arithmetic is involved, so the result is the same to the bit.
    """
    counts = np.empty(len(rows), dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    bounds = np.searchsorted(rows[order], np.arange(len(cumulative) + 1))
    for row in np.flatnonzero(np.diff(bounds)):
        members = order[bounds[row]:bounds[row + 1]]
        counts[members] = np.searchsorted(cumulative[row], draws[members], side="left")
    return counts


def _rounded(values: np.ndarray, step: float, low: float, high: float) -> np.ndarray:
    return np.clip(np.round(values / step) * step, low, high).round(3)


def _log_interval(z_low: np.ndarray, z_high: np.ndarray) -> np.ndarray:
    """log(Phi(z_high) - Phi(z_low)), numerically stable in both tails."""
    upper_tail = z_low > 0
    a = np.where(upper_tail, -z_high, z_low)
    b = np.where(upper_tail, -z_low, z_high)
    log_b, log_a = special.log_ndtr(b), special.log_ndtr(a)
    return log_b + np.log1p(-np.exp(np.minimum(log_a - log_b, -1e-300)))


def _rounded_normal_loglik(values: pd.Series, mu: np.ndarray, sd: float, step: float, low: float,
                           high: float) -> np.ndarray:
    """log P(rounded, clipped Normal = value); 0 where the value is missing (marginalised)."""
    x = values.to_numpy(dtype=float)[:, None]
    observed = ~np.isnan(x)
    x = np.where(observed, x, (low + high) / 2)
    half = step / 2
    lower = np.where(x <= low + 1e-9, -np.inf, x - half)
    upper = np.where(x >= high - 1e-9, np.inf, x + half)
    loglik = _log_interval((lower - mu) / sd, (upper - mu) / sd)
    return np.where(observed, loglik, 0.0)
