"""Knowledge features: with and without them, and the honesty ablation (the model's table differs from the generator's).

The simulator draws orphan phenotypes from the very table the knowledge features read, so the gain measured with the
table as it is overstates a real one. Here the model gets a degraded copy (triage.model.knowledge.mismatched): whole
diseases missing (an older or partial release), annotations dropped, frequencies jittered on the log-odds scale,
spurious annotations added — the ways a knowledge base differs from the patients a clinic sees. Each row is one model
fitted on the pipeline's own training part (data/processed, after `dvc repro`) with the params' `train` settings; the
orphan threshold is tuned on the validation part as `evaluate` does, and the test part is only reported on. "Precision
at recall 0.95" is the test precision-recall curve's point (the frontier: what the knowledge buys at the recall the
product needs); "gain kept" is its gain over no knowledge relative to the exact table's.

    python benchmarks/knowledge.py            # about 1 minute per row on 2 cores (default cohort)
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

from triage import config
from triage.contract import contract_from_params
from triage.data.columns import OUTCOME_CODE
from triage.data.resample import resample
from triage.data.split import read_holdout
from triage.evaluation.metrics import macro_f1
from triage.model.features import class_targets, feature_matrix
from triage.model.knowledge import KnowledgeTable, bind, mismatched, read_table
from triage.model.threshold import tune_orphan_threshold
from triage.model.training import fit_triage_model
from triage.search.cv import precision_at_recall
from triage_shared.decision import decide

REALISTIC = {"drop_diseases": 0.2, "drop_annotations": 0.3, "jitter": 1.0, "spurious_annotations": 0.3}
SEVERE = {"drop_diseases": 0.4, "drop_annotations": 0.5, "jitter": 1.5, "spurious_annotations": 0.6}
ROWS: tuple[tuple[str, dict[str, float] | None], ...] = (
    ("no knowledge features", None),
    ("the table as it is (the generator's)", {}),
    ("20 % of diseases missing (older / partial release)", {"drop_diseases": 0.2}),
    ("30 % of annotations dropped", {"drop_annotations": 0.3}),
    ("frequencies jittered (log-odds sd 1.0)", {"jitter": 1.0}),
    ("30 % spurious annotations added", {"spurious_annotations": 0.3}),
    ("all four (the ablation)", REALISTIC),
    ("all four, severe (40 %, 50 %, sd 1.5, 60 %)", SEVERE),
    ("the diseases never seen in training missing from the table", {"unseen_missing": 1.0}),
)
BOOTSTRAP = 200


def knowledge_table(table: KnowledgeTable, mismatch: dict[str, float], unseen_codes: set[str],
                    seed: int) -> KnowledgeTable:
    """The row's table: degraded as `mismatch` says; `unseen_missing` drops the held-out diseases themselves."""
    if mismatch.get("unseen_missing"):
        keep = [k for k, code in enumerate(table.diseases) if code not in unseen_codes]
        return KnowledgeTable(tuple(table.diseases[k] for k in keep), table.terms, table.frequency[keep])
    return mismatched(table, mismatch, seed)


def bootstrap_sd(positive: np.ndarray, scores: np.ndarray, target: float, seed: int) -> float:
    """Standard deviation of the test precision at the recall target over bootstrap resamples of the test rows."""
    rng = np.random.default_rng(seed)
    values = [precision_at_recall(positive[rows], scores[rows], target)
              for rows in (rng.integers(0, len(positive), len(positive)) for _ in range(BOOTSTRAP))]
    return float(np.std(values))


def scores(name: str, pipeline, valid: pd.DataFrame, test: pd.DataFrame, params: dict, contract,
           unseen: np.ndarray) -> dict[str, Any]:
    orphan = contract.orphan_index
    settings = params["evaluate"]
    y_valid, y = class_targets(valid, contract.classes), class_targets(test, contract.classes)
    p_valid = pipeline.predict_proba(feature_matrix(valid, contract))
    p_test = pipeline.predict_proba(feature_matrix(test, contract))
    threshold = tune_orphan_threshold(y_valid, p_valid, settings["orphan_recall_target"], settings["threshold_z"],
                                      orphan)
    decided = decide(p_test, threshold, orphan)
    positive = y == orphan
    target = settings["orphan_recall_target"]
    return {"knowledge": name,
            "precision_at_recall_target": precision_at_recall(positive, p_test[:, orphan], target),
            "bootstrap_sd": bootstrap_sd(positive, p_test[:, orphan], target, params["base"]["seed"]),
            "orphan_pr_auc": float(average_precision_score(positive, p_test[:, orphan])),
            "orphan_recall": float((decided[positive] == orphan).mean()),
            "orphan_precision": float((y[decided == orphan] == orphan).mean()),
            "unseen_recall": float((decided[positive & unseen] == orphan).mean()),
            "macro_f1": macro_f1(y, p_test.argmax(axis=1), len(contract.classes))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default=str(config.params_file()))
    parser.add_argument("--rows", type=int, default=len(ROWS), help="only the first N rows of the table")
    args = parser.parse_args()
    params = config.load_params(args.params)
    contract, seed, settings = contract_from_params(params), params["base"]["seed"], params["train"]
    # resampled here as the resample stage does, so the rows follow these params whatever the workspace holds
    train = resample(pd.read_parquet(config.TRAIN), contract, params["resample"], settings["class_weight_power"], seed)
    valid, test = pd.read_parquet(config.VALID), pd.read_parquet(config.TEST)
    unseen_codes = read_holdout(params["split"].get("holdout_file"))
    unseen = test[OUTCOME_CODE].isin(unseen_codes).to_numpy()
    table = read_table(params["knowledge"]["table"])
    sensitivity = params["knowledge"]["recording_sensitivity"]
    quiet = {**settings, "progress_every": False}
    results = []
    for name, mismatch in ROWS[: args.rows]:
        started = time.perf_counter()
        binding = None if mismatch is None else bind(knowledge_table(table, mismatch, unseen_codes, seed), contract,
                                                     sensitivity)
        pipeline = fit_triage_model(train, None, contract, quiet, seed, binding)
        results.append(scores(name, pipeline, valid, test, params, contract, unseen))
        print(f"{name}: {time.perf_counter() - started:.0f} s", flush=True)
    frame = pd.DataFrame(results).set_index("knowledge")
    none, exact = (frame["precision_at_recall_target"].iloc[k] for k in (0, 1))
    frame["gain_kept"] = (frame["precision_at_recall_target"] - none) / (exact - none) if exact != none else np.nan
    frame.loc[frame.index[0], "gain_kept"] = np.nan
    print(f"\n{len(test)} test visits, {int((class_targets(test, contract.classes) == contract.orphan_index).sum())} "
          f"orphan ({int(unseen.sum())} of diseases never seen in training); train: {settings['iterations']} trees, "
          f"depth {settings['depth']}, learning rate {settings['learning_rate']}; orphan threshold from validation "
          f"(recall target {params['evaluate']['orphan_recall_target']}, z {params['evaluate']['threshold_z']})\n")
    print(frame.rename(columns={"precision_at_recall_target": "precision at recall "
                                f"{params['evaluate']['orphan_recall_target']}"}).to_markdown(floatfmt=".3f"))


if __name__ == "__main__":
    main()
