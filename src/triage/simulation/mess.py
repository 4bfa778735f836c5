"""Turn a clean cohort into what real EHR extracts look like: text, spellings, duplicates and broken rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from triage.simulation.vocabulary import VITAL_NAMES

SEX_VARIANTS = {"F": ("F", "f", "female", "Mujer", "2"), "M": ("M", "m", "male", "Hombre", "H", "1"),
                "U": ("U", "", "desconocido", "9")}
MISSING_MARKERS = ("", "NA", "n/a", "NULL")
BAD_TYPE_VALUES = ("alto", "38.5.1", "??", "ver nota", "12a")


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column as text, as CSV extracts deliver them (missing values as empty strings)."""
    text = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_float_dtype(values) and column != "temperature_c":
            rendered = values.map(lambda v: "" if pd.isna(v) else f"{v:.0f}")
        elif column == "temperature_c":
            rendered = values.map(lambda v: "" if pd.isna(v) else f"{v:.1f}")
        else:
            rendered = values.astype(str)
        text[column] = rendered.astype(object)
    return text


def make_messy(clean: pd.DataFrame, mess: dict[str, Any], rng: np.random.Generator) -> pd.DataFrame:
    text = as_text(clean)
    _respell_sex(text, rng)
    _missing_markers(text, rng)
    _decimal_commas(text)
    n = len(text)
    # broken rows are changed in place; validation must find and quarantine every one of them
    _out_of_range(text, _pick(n, mess["out_of_range"], rng), rng)
    _bad_types(text, _pick(n, mess["bad_types"], rng), rng)
    _unknown_codes(text, _pick(n, mess["unknown_codes"], rng))
    exact = text.iloc[_pick(n, mess["exact_duplicates"], rng)]
    near = _near_duplicates(text.iloc[_pick(n, mess["near_duplicates"], rng)].copy(), rng)
    combined = pd.concat([text, exact, near], ignore_index=True)
    return combined.iloc[rng.permutation(len(combined))].reset_index(drop=True)


def _pick(n: int, share: float, rng: np.random.Generator) -> np.ndarray:
    return rng.choice(n, size=int(round(n * share)), replace=False)


def _respell_sex(text: pd.DataFrame, rng: np.random.Generator) -> None:
    respelled = text["sex"].map(lambda code: SEX_VARIANTS[code][rng.integers(len(SEX_VARIANTS[code]))])
    keep = rng.random(len(text)) < 0.8
    text["sex"] = np.where(keep, text["sex"], respelled)


def _missing_markers(text: pd.DataFrame, rng: np.random.Generator) -> None:
    for name in VITAL_NAMES:
        column = text[name]
        markers = np.array(MISSING_MARKERS)[rng.integers(0, len(MISSING_MARKERS), len(text))]
        text[name] = np.where(column == "", markers, column)


def _decimal_commas(text: pd.DataFrame) -> None:
    """One site exports temperatures with a decimal comma (Spanish locale)."""
    site = text["site_id"] == text["site_id"].iloc[0]
    text.loc[site, "temperature_c"] = text.loc[site, "temperature_c"].str.replace(".", ",", regex=False)


def _out_of_range(text: pd.DataFrame, rows: np.ndarray, rng: np.random.Generator) -> None:
    faults = [("temperature_c", lambda: f"{rng.uniform(97, 104):.1f}"),  # Fahrenheit
              ("heart_rate_bpm", lambda: "0"), ("age_years", lambda: str(rng.integers(121, 200))),
              ("spo2_pct", lambda: str(rng.integers(101, 130))), ("symptom_days", lambda: "-1"),
              ("sx_fever", lambda: "2"), ("comorbidity_count", lambda: "35")]
    for row in rows:
        column, value = faults[rng.integers(len(faults))]
        text.iat[row, text.columns.get_loc(column)] = value()


def _bad_types(text: pd.DataFrame, rows: np.ndarray, rng: np.random.Generator) -> None:
    columns = ["heart_rate_bpm", "age_years", "resp_rate_bpm", "visit_date", "sx_cough", "symptom_days"]
    for row in rows:
        column = columns[rng.integers(len(columns))]
        value = "2024-13-45" if column == "visit_date" else BAD_TYPE_VALUES[rng.integers(len(BAD_TYPE_VALUES))]
        text.iat[row, text.columns.get_loc(column)] = value


def _unknown_codes(text: pd.DataFrame, rows: np.ndarray) -> None:
    text.iloc[rows, text.columns.get_loc("diagnosis_code")] = "XX9.9"


def _near_duplicates(rows: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The same visit re-sent by another export: other spellings and formatting, identical content."""
    rows["full_name"] = rows["full_name"].str.upper()
    rows["sex"] = rows["sex"].map(lambda s: {"F": "female", "M": "male"}.get(s, s))
    rows["temperature_c"] = rows["temperature_c"].map(lambda v: v + "0" if v and v[-1].isdigit() else v)
    rows["site_id"] = " " + rows["site_id"] + " "
    return rows
