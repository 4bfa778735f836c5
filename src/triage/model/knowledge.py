"""Knowledge features: each visit scored against public disease knowledge, inside the exported graph.

The reference phenotype table (`knowledge.table`, by default data/reference/orphan_profiles.csv: ORPHA diseases, the
HPO terms annotated to each and their frequency, from the HPO/Orphanet annotations) is what phenotype-matching tools
such as Phenomizer and Exomiser score patients against. The contract's HPO codes tie binary features to the table's
terms; a contract without them, or a table sharing no term with it, gets no knowledge features.

Per visit and disease d of the table, a naive-Bayes log likelihood ratio of the recorded signs against the population
the model is trained on:

    log LR_d = sum over signs t recorded present of log(r_dt / q_t) + sum over signs recorded absent of
               log((1 - r_dt) / (1 - q_t)),      r_dt = 1 - (1 - s p_dt) (1 - q_t)

q_t is the sign's rate in the training rows (fitted), p_dt its annotated frequency in d, s an assumed recording
sensitivity (`knowledge.recording_sensitivity`); a missing sign counts for nothing. The features: the best log LR, the
log of the mean LR over the table's diseases ("some disease of the table"), and for the best-matching disease the
recorded signs it explains, the red flags among them and the signs it does not explain.

The weights are rounded to multiples of 2^-20, so every sum is exact in double precision: ONNX Runtime and numpy give
the same bits whatever their summation order, and the parity check holds at CatBoost's split borders.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from sklearn.base import BaseEstimator, TransformerMixin

from triage.contract import BinaryFeature, Contract

FEATURE_NAMES = ("knowledge_best_log_lr", "knowledge_mean_log_lr", "knowledge_top_matched",
                 "knowledge_top_red_flags", "knowledge_top_unexplained")
WEIGHT_QUANTUM = 2.0 ** -20
MIN_RATE = 1e-3  # a sign's background rate is kept in [MIN_RATE, 1 - MIN_RATE]
SPURIOUS_BAND = (0.05, 0.29)  # an added (wrong) annotation gets an "Occasional" frequency
TABLE_COLUMNS = ("orpha_code", "hpo_id", "probability")


@dataclass(frozen=True)
class KnowledgeTable:
    diseases: tuple[str, ...]  # ORPHA codes
    terms: tuple[str, ...]  # HPO ids
    frequency: np.ndarray  # (diseases, terms): annotated frequency, 0 = not annotated

    @property
    def annotations(self) -> int:
        return int((self.frequency > 0).sum())


@dataclass(frozen=True)
class KnowledgeBinding:
    """The table re-indexed to the contract's HPO-coded binary features (the transformer's input columns)."""

    positions: tuple[int, ...]  # input columns (contract feature positions)
    features: tuple[str, ...]
    frequency: np.ndarray  # (diseases, features)
    red_flag: tuple[bool, ...]
    recording_sensitivity: float

    def describe(self) -> dict[str, Any]:
        return {"diseases": int(self.frequency.shape[0]), "features_bound": len(self.features),
                "annotations": int((self.frequency > 0).sum()), "recording_sensitivity": self.recording_sensitivity,
                "outputs": list(FEATURE_NAMES)}


def read_table(path: Path | str) -> KnowledgeTable:
    frame = pd.read_csv(path, dtype={"orpha_code": str, "hpo_id": str})
    missing = [c for c in TABLE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: a knowledge table needs the columns {list(TABLE_COLUMNS)}; missing {missing}")
    pivot = frame.pivot_table(index="orpha_code", columns="hpo_id", values="probability", aggfunc="max",
                              fill_value=0.0)
    return KnowledgeTable(tuple(pivot.index), tuple(pivot.columns), np.clip(pivot.to_numpy(float), 0.0, 1.0))


def mismatched(table: KnowledgeTable, settings: dict[str, float], seed: int) -> KnowledgeTable:
    """The table as a real knowledge base differs from real patients (the honesty ablation; all zero: unchanged).

    drop_diseases: share of diseases missing (an older or partial release); drop_annotations: share of annotations
    missing; jitter: standard deviation of noise on each annotated frequency's log-odds; spurious_annotations: wrong
    annotations added, as a share of the true ones, with an 'Occasional' frequency. Every draw is made whatever the
    settings, so changing one leaves the others' draws alone.
    """
    rng = np.random.default_rng(seed)
    frequency = table.frequency.copy()
    keep_disease = rng.random(len(table.diseases)) >= settings.get("drop_diseases", 0.0)
    annotated = frequency > 0
    dropped = annotated & (rng.random(frequency.shape) < settings.get("drop_annotations", 0.0))
    noise = rng.normal(0.0, 1.0, frequency.shape) * settings.get("jitter", 0.0)
    jittered = np.where(noise == 0, frequency, expit(logit(np.clip(frequency, 0.01, 0.99)) + noise))
    frequency = np.where(annotated, jittered, 0.0)
    frequency[dropped] = 0.0
    spurious_share = settings.get("spurious_annotations", 0.0) * annotated.sum() / max((~annotated).sum(), 1)
    spurious = ~annotated & (rng.random(frequency.shape) < spurious_share)
    frequency[spurious] = rng.uniform(*SPURIOUS_BAND, frequency.shape)[spurious]
    if not keep_disease.any():
        raise ValueError("knowledge.mismatch.drop_diseases removed every disease of the table")
    return replace(table, diseases=tuple(d for d, keep in zip(table.diseases, keep_disease, strict=True) if keep),
                   frequency=frequency[keep_disease])


def bind(table: KnowledgeTable, contract: Contract, recording_sensitivity: float) -> KnowledgeBinding | None:
    """None when no binary feature of the contract carries an HPO code that the table annotates."""
    index = {term: k for k, term in enumerate(table.terms)}
    coded = [(position, name, feature) for position, (name, feature) in enumerate(contract.features.items())
             if isinstance(feature, BinaryFeature) and feature.codes.hpo]
    if not any(feature.codes.hpo in index for _, _, feature in coded):
        return None
    columns = [table.frequency[:, index[f.codes.hpo]] if f.codes.hpo in index else np.zeros(len(table.diseases))
               for _, _, f in coded]
    return KnowledgeBinding(positions=tuple(p for p, _, _ in coded), features=tuple(n for _, n, _ in coded),
                            frequency=np.column_stack(columns), red_flag=tuple(f.red_flag for _, _, f in coded),
                            recording_sensitivity=recording_sensitivity)


def knowledge_from_params(params: dict[str, Any], contract: Contract) -> KnowledgeBinding | None:
    """The binding the `knowledge` params ask for: None when switched off or when the contract has no HPO codes."""
    settings = params.get("knowledge") or {}
    if not settings.get("enabled", False):
        return None
    table = read_table(settings["table"])
    mismatch = settings.get("mismatch") or {}
    if any(mismatch.values()):
        table = mismatched(table, mismatch, params["base"]["seed"])
    return bind(table, contract, settings["recording_sensitivity"])


def _quantized(weights: np.ndarray) -> np.ndarray:
    return np.round(weights / WEIGHT_QUANTUM) * WEIGHT_QUANTUM


class KnowledgeFeatures(TransformerMixin, BaseEstimator):
    """[N, features] binary signs (0/1/NaN, in the binding's order) -> [N, 5] float32 knowledge features."""

    def __init__(self, frequency: np.ndarray | None = None, red_flag: tuple[bool, ...] = (),
                 recording_sensitivity: float = 0.7):
        self.frequency = frequency
        self.red_flag = red_flag
        self.recording_sensitivity = recording_sensitivity

    def fit(self, x: np.ndarray, y: np.ndarray | None = None) -> KnowledgeFeatures:
        x = np.asarray(x, dtype=np.float64)
        frequency = np.asarray(self.frequency, dtype=np.float64)
        if frequency.ndim != 2 or frequency.shape[1] != x.shape[1] or len(self.red_flag) != x.shape[1]:
            raise ValueError(f"knowledge table of shape {frequency.shape} and {len(self.red_flag)} red-flag marks "
                             f"do not fit {x.shape[1]} input columns")
        recorded = (~np.isnan(x)).sum(axis=0)
        background = np.clip((x > 0.5).sum(axis=0) / np.maximum(recorded, 1), MIN_RATE, 1 - MIN_RATE)
        rate = 1 - (1 - self.recording_sensitivity * frequency) * (1 - background)
        self.background_ = background
        self.present_weight_ = _quantized(np.log(rate / background)).T  # (features, diseases)
        self.absent_weight_ = _quantized(np.log((1 - rate) / (1 - background))).T
        self.annotated_ = (frequency > 0).astype(np.float64)  # (diseases, features)
        self.red_annotated_ = self.annotated_ * np.asarray(self.red_flag, dtype=np.float64)
        self.n_features_in_ = x.shape[1]
        return self

    def scores(self, x: np.ndarray) -> np.ndarray:
        """log LR of every row against every disease, (N, diseases), exact in float64."""
        x = np.asarray(x, dtype=np.float32)
        return (x > 0.5).astype(np.float64) @ self.present_weight_ + \
            (x < 0.5).astype(np.float64) @ self.absent_weight_

    def transform(self, x: np.ndarray) -> np.ndarray:
        present = (np.asarray(x, dtype=np.float32) > 0.5).astype(np.float64)
        scores = self.scores(x)
        best = scores.max(axis=1, keepdims=True)
        mean = np.log(np.exp(scores - best).sum(axis=1, keepdims=True)) + best - np.log(scores.shape[1])
        top = scores.argmax(axis=1)
        matched = (present * self.annotated_[top]).sum(axis=1, keepdims=True)
        red = (present * self.red_annotated_[top]).sum(axis=1, keepdims=True)
        unexplained = present.sum(axis=1, keepdims=True) - matched
        return np.concatenate([best, mean, matched, red, unexplained], axis=1).astype(np.float32)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.array(FEATURE_NAMES, dtype=object)


def knowledge_transformer(binding: KnowledgeBinding) -> KnowledgeFeatures:
    return KnowledgeFeatures(binding.frequency, binding.red_flag, binding.recording_sensitivity)
