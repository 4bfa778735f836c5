"""The hyperparameter search: patient-grouped, class-stratified folds over train + valid, the product's objective under
a macro-F1 floor, and every trial saved as a DVC experiment through dvclive's Optuna integration."""

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest

from triage.commands import pipeline
from triage.data.columns import LABEL_COLUMN, PATIENT_ID
from triage.evaluation.metrics import precision_at_recall
from triage.model.crossfit import patient_folds
from triage.search import cv, study
from triage.search.cv import cross_validate


@pytest.fixture(scope="module")
def cohort(labelled_cohort):
    return labelled_cohort.reset_index(drop=True)


@pytest.fixture(scope="module")
def search_params(params):
    return {**params, "train": {**params["train"], "iterations": 70, "depth": 4, "threads": 2},
            "search": {**params["search"], "space": {"iterations": [20, 120], "depth": [3, 5],
                                                     "learning_rate": [0.05, 0.2]}}}


def test_folds_keep_each_patient_on_one_side_and_every_class_in_every_fold(cohort):
    frame = cohort.assign(**{PATIENT_ID: (np.arange(len(cohort)) // 3).astype(str)})  # three visits per patient
    folds = patient_folds(frame, 3, seed=1)
    held = np.concatenate([h for _, h in folds])
    assert sorted(held) == list(range(len(frame)))  # each row held out exactly once
    for train_rows, held_rows in folds:
        assert not set(frame[PATIENT_ID].iloc[train_rows]) & set(frame[PATIENT_ID].iloc[held_rows])
        assert set(frame[LABEL_COLUMN].iloc[held_rows]) == set(frame[LABEL_COLUMN])


def test_precision_at_recall_is_the_curve_point():
    """The search scores folds with evaluate's own curve point (a boolean target, True the positive class)."""
    positive = np.array([1, 1, 1, 1, 0, 0, 1, 0, 0, 0], dtype=bool)
    scores = np.linspace(1, 0, 10)
    assert precision_at_recall(positive, scores, 0.8, True) == pytest.approx(4 / 4)
    assert precision_at_recall(positive, scores, 1.0, True) == pytest.approx(5 / 7)


def test_cross_validation_scores_the_orphan_objective(cohort, search_params, contract):
    folds = patient_folds(cohort, 2, seed=1)
    result = cross_validate(cohort, contract, search_params, search_params["train"], folds, knowledge=None)
    assert set(result) == {"macro_f1", "orphan_precision_at_target", "orphan_pr_auc", "objective", "objective_folds"}
    assert result["objective"] == result["orphan_precision_at_target"] == pytest.approx(
        np.mean(result["objective_folds"]), abs=1e-6)
    assert 0 < result["orphan_precision_at_target"] <= 1 and 0.3 < result["macro_f1"] < 1


def test_search_starts_from_the_current_params_and_picks_the_best_feasible_trial(cohort, search_params,
                                                                                 monkeypatch):
    monkeypatch.setattr(study, "development_rows", lambda: cohort)
    result, seconds = study.search(search_params, trials=3, folds=2, name="t", save=False)
    first = result.trials[0]
    assert first.params == {"iterations": 70, "depth": 4,
                            "learning_rate": search_params["train"]["learning_rate"]}
    assert study.feasible(first) and seconds > 0
    best = study.best_trial(result)
    assert all(best.value >= t.value for t in result.trials if study.feasible(t))
    floor = first.user_attrs["cv"]["macro_f1_floor"]
    assert all(study.feasible(t) == (t.user_attrs["cv"]["macro_f1"] >= floor) for t in result.trials)


def test_the_winner_runs_as_a_pipeline_experiment():
    command = study.run_best_command("s", {"iterations": 350, "learning_rate": 0.0712345678, "depth": 7})
    assert command == ["dvc", "exp", "run", "--name", "s-best", "-S", "train.iterations=350", "-S",
                       "train.learning_rate=0.0712346", "-S", "train.depth=7"]


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                   capture_output=True)


def test_each_trial_is_saved_as_a_dvc_experiment(tmp_path, monkeypatch):
    git("init", "-q", cwd=tmp_path)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "params.yaml").write_text("train:\n  depth: 6\n")
    git("add", "-A", cwd=tmp_path)
    git("commit", "-qm", "init", cwd=tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "t")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "t@t")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "t")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "t@t")

    def objective(trial: optuna.Trial) -> float:
        depth = trial.suggest_int("depth", 4, 8)
        trial.set_user_attr("cv", {"macro_f1": 0.8, "objective": depth / 10})
        trial.set_constraint(study.FLOOR, -1.0)
        return depth / 10

    trials = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    trials.optimize(objective, n_trials=2, callbacks=[study.TrialExperiments("t", save=True)])
    listed = subprocess.run([sys.executable, "-m", "dvc", "exp", "list", "--name-only"], capture_output=True,
                            text=True, check=True).stdout.split()
    assert sorted(listed) == ["t-000", "t-001"]
    shown = subprocess.run([sys.executable, "-m", "dvc", "exp", "show", "--csv"], capture_output=True, text=True,
                           check=True).stdout
    assert "objective" in shown and "cv.macro_f1" in shown and "reports/search/params.yaml:train.depth" in shown
    assert (tmp_path / "params.yaml").read_text() == "train:\n  depth: 6\n"  # trials never touch params.yaml


def test_command_refuses_a_stale_workspace(monkeypatch, capsys):
    monkeypatch.setattr(study, "workspace_is_current", lambda: False)
    args = argparse.Namespace(params="params.yaml", no_save=False, trials=1, folds=2, name="s", timeout=None,
                              run_best=False)
    assert pipeline.search(args) == 2
    assert "dvc status" in capsys.readouterr().err


def test_cv_reads_train_and_valid_only():
    assert "TEST" not in Path(cv.__file__).read_text()


def fake_study(fold_scores: list[list[float]]) -> optuna.Study:
    def objective(trial: optuna.Trial) -> float:
        folds = fold_scores[trial.number]
        trial.suggest_int("depth", 4, 8)
        trial.set_user_attr("cv", {"macro_f1": 0.85, "macro_f1_floor": 0.845, "objective": float(np.mean(folds)),
                                   "objective_folds": folds})
        trial.set_constraint(study.FLOOR, -0.005)
        return float(np.mean(folds))

    trials = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    trials.optimize(objective, n_trials=len(fold_scores))
    return trials


def test_a_winner_within_the_folds_noise_is_not_taken_for_a_gain():
    noisy = study.study_summary(fake_study([[0.70, 0.72, 0.71], [0.78, 0.62, 0.80]]), "s", 3, 1.0)
    assert noisy["best"]["experiment"] == "s-001" and not noisy["gain_over_default"]["beyond_noise"]
    steady = study.study_summary(fake_study([[0.70, 0.72, 0.71], [0.76, 0.79, 0.77]]), "s", 3, 1.0)
    assert steady["gain_over_default"]["beyond_noise"]
    assert steady["gain_over_default"]["mean"] == pytest.approx(0.0633, abs=1e-4)
