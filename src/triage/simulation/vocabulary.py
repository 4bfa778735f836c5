"""The simulator's vocabulary, read from the contract of its own output (data/contracts/simulated.yaml).

The simulated cohort is the default source with the default contract: its symptoms (the binary features with an HPO
code, red flags marked) and vital signs are what that contract declares, so the simulator and the contract cannot
disagree. The generative model's formulas are written for the vital signs named here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from triage.contract import SIMULATED_CONTRACT, BinaryFeature, Contract, load_contract

VITAL_NAMES: tuple[str, ...] = ("temperature_c", "heart_rate_bpm", "resp_rate_bpm", "spo2_pct", "systolic_bp_mmhg")
SYMPTOM_PREFIX = "sx_"


@dataclass(frozen=True)
class Symptom:
    name: str  # without the sx_ prefix (as the disease profiles name it)
    column: str
    hpo_id: str
    label_es: str
    red_flag: bool


@cache
def simulated_contract() -> Contract:
    return load_contract(SIMULATED_CONTRACT)


@cache
def symptoms() -> tuple[Symptom, ...]:
    contract = simulated_contract()
    found = tuple(Symptom(name.removeprefix(SYMPTOM_PREFIX), name, feature.codes.hpo, feature.label_es,
                          feature.red_flag)
                  for name, feature in contract.features.items()
                  if isinstance(feature, BinaryFeature) and feature.codes.hpo and name.startswith(SYMPTOM_PREFIX))
    missing = [v for v in VITAL_NAMES if v not in contract.features]
    if not found or missing:
        raise ValueError(f"{contract.path}: the simulator needs its symptom vocabulary (binary sx_* features with HPO "
                         f"codes) and the vital signs {list(VITAL_NAMES)}; missing: {missing or 'symptoms'}")
    return found


def symptom_columns() -> tuple[str, ...]:
    return tuple(s.column for s in symptoms())


def red_flag_columns() -> tuple[str, ...]:
    return tuple(s.column for s in symptoms() if s.red_flag)
