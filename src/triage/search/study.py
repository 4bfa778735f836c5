"""`triage search`: a guided hyperparameter search (Optuna TPE) whose every trial is a DVC experiment.

Each trial draws `train` values from `search.space` and is scored by cross-validation on the training and validation
parts (triage.search.cv; the test part is never read). The objective is the product's: orphan precision at
`evaluate.orphan_recall_target`, under a macro-F1 floor (the first trial's CV macro-F1 less `search.macro_f1_drop`;
the first trial is the current params, so the search reports best against default on one footing). dvclive's Optuna
integration saves each trial as a DVC experiment `<name>-NNN` (its params and CV metrics under reports/search/), so
`dvc exp show` lists them. The trials never touch params.yaml; the winner becomes a pipeline experiment
`<name>-best` (`dvc exp run -S train.<key>=<value>`: `--run-best` runs it, else the command is printed), which is
applied with `dvc exp apply` and committed like any change — when its gain over the first trial, paired fold by fold,
exceeds twice its standard error; otherwise the search says the current params are as good (picking the maximum of
noisy scores flatters the winner).

Saving experiments commits the workspace's DVC state, so the search asks for an up-to-date pipeline first
(`dvc status` clean; `--no-save` runs without experiments).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import optuna
from dvclive import Live
from dvclive.optuna import DVCLiveCallback

from triage import config
from triage.contract import contract_from_params
from triage.model.crossfit import patient_folds
from triage.model.knowledge import knowledge_from_params
from triage.search.cv import cross_validate, development_rows, paired_gain

TRIALS_DIR = Path("reports/search")
INTEGER = ("iterations", "depth")
LOG_SCALE = ("learning_rate", "l2_leaf_reg")
ITERATION_STEP = 50
NOISE_MULTIPLE = 2.0  # the winner must beat the first trial by this many standard errors of the fold-paired gain
OBJECTIVE = "objective"
FLOOR = "macro_f1_floor"

log = config.stage_logger("search")


def suggest(trial: optuna.Trial, space: dict[str, list[float]]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, (low, high) in space.items():
        if key in INTEGER:
            values[key] = trial.suggest_int(key, int(low), int(high), step=ITERATION_STEP if key == "iterations" else 1)
        else:
            values[key] = trial.suggest_float(key, float(low), float(high), log=key in LOG_SCALE)
    return values


def current_values(params: dict[str, Any]) -> dict[str, Any]:
    """The params' own values of the searched keys: the first trial."""
    return {key: params["train"][key] for key in params["search"]["space"]}


class Search:
    """The objective: cross-validated scores of a trial's train settings, with the macro-F1 constraint."""

    def __init__(self, params: dict[str, Any], folds: int):
        self.params = params
        self.contract = contract_from_params(params)
        self.knowledge = knowledge_from_params(params, self.contract)
        self.frame = development_rows()
        self.folds = patient_folds(self.frame, folds, params["base"]["seed"])
        self.floor: float | None = None

    def __call__(self, trial: optuna.Trial) -> float:
        started = time.perf_counter()
        values = suggest(trial, self.params["search"]["space"])
        result = cross_validate(self.frame, self.contract, self.params, {**self.params["train"], **values}, self.folds,
                                self.knowledge)
        if self.floor is None:  # the first trial: the current params
            self.floor = result["macro_f1"] - self.params["search"]["macro_f1_drop"]
        result["macro_f1_floor"] = self.floor
        result["seconds"] = round(time.perf_counter() - started, 1)
        trial.set_user_attr("cv", result)
        trial.set_constraint(FLOOR, self.floor - result["macro_f1"])  # feasible when <= 0
        log.info("trial %d: %s -> objective %.4f, macro-F1 %.4f (floor %.4f), %.0f s", trial.number, values,
                 result["objective"], result["macro_f1"], self.floor, result["seconds"])
        return result["objective"]


def feasible(trial: optuna.trial.FrozenTrial) -> bool:
    return trial.constraints.get(FLOOR, 1.0) <= 0


class TrialExperiments(DVCLiveCallback):
    """dvclive's Optuna callback, naming each trial's DVC experiment after the study and logging the CV metrics."""

    def __init__(self, name: str, save: bool):
        super().__init__(metric_name=OBJECTIVE, dir=str(TRIALS_DIR), dvcyaml=str(TRIALS_DIR / "dvc.yaml"))
        self.name, self.save = name, save

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        with Live(**self.live_kwargs, save_dvc_exp=self.save, exp_name=experiment_name(self.name, trial.number),
                  exp_message=f"triage search {self.name}: trial {trial.number}") as live:
            self._log_metrics(trial.values, live)
            live.log_params({"train": trial.params})
            live.summary["cv"] = {k: v for k, v in trial.user_attrs.get("cv", {}).items()
                                  if k not in (OBJECTIVE, "objective_folds")}
            live.summary["feasible"] = feasible(trial)


def experiment_name(name: str, number: int) -> str:
    return f"{name}-{number:03d}"


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial:
    """The highest objective among the trials that meet the macro-F1 floor (the first one always does)."""
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    candidates = [t for t in done if feasible(t)] or done
    return max(candidates, key=lambda t: (t.value, -t.number))


def run_best_command(name: str, values: dict[str, Any]) -> list[str]:
    settings = [f"train.{key}={value:.6g}" if isinstance(value, float) else f"train.{key}={value}"
                for key, value in values.items()]
    return ["dvc", "exp", "run", "--name", f"{name}-best", *(arg for s in settings for arg in ("-S", s))]


def trial_rows(study: optuna.Study, name: str) -> list[dict[str, Any]]:
    return [{"experiment": experiment_name(name, t.number), "params": t.params, **t.user_attrs.get("cv", {}),
             "feasible": feasible(t)}
            for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]


def workspace_is_current() -> bool:
    from dvc.repo import Repo

    with Repo() as repo:
        return not repo.status()


def search(params: dict[str, Any], trials: int, folds: int, name: str, save: bool,
           timeout: float | None = None) -> tuple[optuna.Study, float]:
    objective = Search(params, folds)
    sampler = optuna.samplers.TPESampler(seed=params["base"]["seed"])  # reads the trials' constraints
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=name, direction="maximize", sampler=sampler)
    study.enqueue_trial(current_values(params))
    started = time.perf_counter()
    study.optimize(objective, n_trials=trials, timeout=timeout, callbacks=[TrialExperiments(name, save)])
    return study, time.perf_counter() - started


def study_summary(study: optuna.Study, name: str, folds: int, seconds: float) -> dict[str, Any]:
    """Every trial, the default (the first) and the best, and whether the best's gain is beyond the folds' noise."""
    best, default = best_trial(study), study.trials[0]
    rows = trial_rows(study, name)
    by_name = {row["experiment"]: row for row in rows}
    gain, error = paired_gain(best.user_attrs["cv"]["objective_folds"], default.user_attrs["cv"]["objective_folds"])
    return {"name": name, "trials": len(rows), "folds": folds, "seconds": round(seconds, 1),
            "default": by_name[experiment_name(name, default.number)],
            "best": by_name[experiment_name(name, best.number)],
            "gain_over_default": {"mean": gain, "standard_error": error,
                                  "beyond_noise": best.number != default.number and gain > NOISE_MULTIPLE * error},
            "all": rows}


def print_summary(summary: dict[str, Any], recall_target: float) -> None:
    gain = summary["gain_over_default"]
    print(f"{summary['trials']} trials ({summary['folds']}-fold CV on train + valid) in {summary['seconds'] / 60:.1f} "
          f"min; objective = orphan precision at recall {recall_target} under macro-F1 >= "
          f"{summary['default']['macro_f1_floor']:.4f}")
    for label in ("default", "best"):
        row = summary[label]
        print(f"  {label:8s} {row['experiment']}: objective {row['objective']:.4f}, macro-F1 {row['macro_f1']:.4f}, "
              f"{row['params']}")
    print(f"  gain over the default {gain['mean']:+.4f} (fold-paired standard error {gain['standard_error']:.4f}): "
          f"{'beyond' if gain['beyond_noise'] else 'within'} the folds' noise ({NOISE_MULTIPLE:g} standard errors)")
