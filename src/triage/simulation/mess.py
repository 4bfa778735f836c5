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
        if pd.api.types.is_float_dtype(values):
            rendered = _formatted(values.to_numpy(), "{:.1f}" if column == "temperature_c" else "{:.0f}")
        else:
            rendered = values.astype(str).to_numpy(dtype=object)
        text[column] = pd.Series(rendered, index=frame.index, dtype=object)
    return text


def _formatted(values: np.ndarray, pattern: str) -> np.ndarray:
    """Each float through `pattern` ("" for NaN), formatted once per distinct value (a column holds a few hundred
    of them) instead of once per cell: the same text as a per-cell format, a hundred times faster on a big batch.
    Distinct by bit pattern, so that -0.0 and 0.0 keep their own text."""
    rendered = np.full(len(values), "", dtype=object)
    present = ~np.isnan(values)
    if present.any():
        bits = np.ascontiguousarray(values[present], dtype=np.float64).view(np.int64)
        distinct, inverse = np.unique(bits, return_inverse=True)
        texts = np.array([pattern.format(value) for value in distinct.view(np.float64).tolist()], dtype=object)
        rendered[present] = texts[inverse.ravel()]
    return rendered


def make_messy(clean: pd.DataFrame, mess: dict[str, Any], rng: np.random.Generator, comma_site: str | None = None,
               before: int = 0) -> pd.DataFrame:
    """The clean visits as a messy extract: text, respellings, missing markers, broken rows and duplicates.

    A batch of a larger cohort passes the site that writes decimal commas (one site for the whole cohort, not the
    first site of each batch) and the visits made messy before it (`before`): each fault then hits this batch's part
    of the cohort's rounded count, so the batches add up to exactly the rows of the cohort made messy at once.
    """
    text = as_text(clean)
    _respell_sex(text, rng)
    _missing_markers(text, rng)
    _decimal_commas(text, text["site_id"].iloc[0] if comma_site is None else comma_site)
    n = len(text)
    # broken rows are changed in place; validation must find and quarantine every one of them
    _out_of_range(text, _pick(n, mess["out_of_range"], rng, before), rng)
    _bad_types(text, _pick(n, mess["bad_types"], rng, before), rng)
    _unknown_codes(text, _pick(n, mess["unknown_codes"], rng, before))
    exact = text.iloc[_pick(n, mess["exact_duplicates"], rng, before)]
    near = _near_duplicates(text.iloc[_pick(n, mess["near_duplicates"], rng, before)].copy(), rng)
    combined = pd.concat([text, exact, near], ignore_index=True)
    return combined.iloc[rng.permutation(len(combined))].reset_index(drop=True)


def injected_rows(n_visits: int, mess: dict[str, Any]) -> int:
    """Rows that duplicates add to a cohort of `n_visits` (exact and near), however it is batched."""
    return sum(share_count(n_visits, mess[kind], 0) for kind in ("exact_duplicates", "near_duplicates"))


def share_count(n: int, share: float, before: int) -> int:
    """Rows of a batch of n (after `before` visits) that a fault of this share hits: the batch's part of the
    cohort's rounded count, round((before + n) * share) - round(before * share)."""
    return int(round((before + n) * share)) - int(round(before * share))


def _pick(n: int, share: float, rng: np.random.Generator, before: int = 0) -> np.ndarray:
    return rng.choice(n, size=share_count(n, share, before), replace=False)


def _respell_sex(text: pd.DataFrame, rng: np.random.Generator) -> None:
    respelled = text["sex"].map(lambda code: SEX_VARIANTS[code][rng.integers(len(SEX_VARIANTS[code]))])
    keep = rng.random(len(text)) < 0.8
    text["sex"] = np.where(keep, text["sex"], respelled)


def _missing_markers(text: pd.DataFrame, rng: np.random.Generator) -> None:
    for name in VITAL_NAMES:
        column = text[name]
        markers = np.array(MISSING_MARKERS)[rng.integers(0, len(MISSING_MARKERS), len(text))]
        text[name] = np.where(column == "", markers, column)


def _decimal_commas(text: pd.DataFrame, comma_site: str) -> None:
    """One site exports temperatures with a decimal comma (Spanish locale)."""
    site = text["site_id"] == comma_site
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
