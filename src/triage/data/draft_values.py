"""What a draft data contract guesses from a column's values: numeric ranges kept to clinically plausible values,
binary spellings, sex categories, date formats, a site-like column, the decimal separator (triage.data.draft)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa
import yaml

from triage.contract.spec import DEFAULT_MISSING
from triage.data.extracts import RECORD_ID
from triage.data.ingest import parse_numbers
from triage_shared.spellings import integral_text

MAX_CATEGORIES = 20
SHARE = 0.95  # values that must fit a type for the guess
BOOLEAN_PAIRS = [({"1"}, {"0"}), ({"t", "true"}, {"f", "false"}), ({"y", "yes"}, {"n", "no"}),
                 ({"s", "si", "sí"}, {"n", "no"}), ({"positive", "pos", "+"}, {"negative", "neg", "-"}),
                 ({"present", "presente"}, {"absent", "ausente"})]
SEX_SPELLINGS = {"F": ("f", "female", "fem", "mujer", "w", "woman", "2"),
                 "M": ("m", "male", "masc", "hombre", "h", "varon", "varón", "man", "1"),
                 "U": ("u", "unknown", "desconocido", "x", "0", "9", "")}
SEX_LABELS = {"F": "Mujer", "M": "Hombre", "U": "No consta"}
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%Y%m%d", "%d-%m-%Y", "%Y/%m/%d")
# Well-known clinical ranges (adult and child, in the units extracts usually carry), matched against the lower-cased
# column name, first match wins: an observed value outside is an entry error or a code ("not measured" written as
# 0, 999, 65535), not a range to train on.
PLAUSIBLE: tuple[tuple[re.Pattern, float, float, str], ...] = (
    (re.compile(r"(^|_)(age|edad)(_|$)|^age"), 0, 120, "age (years)"),
    (re.compile(r"resp|(^|_)(rr|fr)(_|$)"), 4, 80, "respiratory rate (breaths/min)"),
    (re.compile(r"heart_?rate|pulse|pulso|frecuencia_card|thalach|(^|_)(hr|fc|bpm)(_|$)"), 20, 300,
     "heart rate (beats/min)"),
    (re.compile(r"temp"), 25, 45, "body temperature (°C)"),
    (re.compile(r"diast|(^|_)(dbp|tad|pad)(_|$)"), 20, 200, "diastolic blood pressure (mmHg)"),
    (re.compile(r"syst|sist|trestbps|blood_?press|presi[oó]n|(^|_)(sbp|tas|pas|bp)(_|$)"), 40, 300,
     "blood pressure (mmHg)"),
    (re.compile(r"chol|colest"), 50, 1000, "cholesterol (mg/dL)"),
    (re.compile(r"gluc|(^|_)(glu|fbg)(_|$)"), 10, 2000, "glucose (mg/dL)"),
    (re.compile(r"spo2|sat_?o2|satur"), 50, 100, "oxygen saturation (%)"),
    (re.compile(r"weight|peso"), 0.3, 400, "weight (kg)"),
    (re.compile(r"height|talla|altura|estatura"), 20, 250, "height (cm)"),
)
OUTLIER_QUANTILES = (0.005, 0.995)
OUTLIER_MARGIN = 3.0  # a value beyond the 0.5/99.5 percentiles by 3 times their distance is no measurement
OUTLIER_MIN_VALUES = 50
SITE_NAME_HINT = re.compile(r"(^|_)(dataset|source|origin|origen|procedencia|fuente|cohort|cohorte|study|estudio|"
                            r"location|localidad|ubicaci[oó]n|region|regi[oó]n|city|ciudad|provincia)(_|$)")
SITE_VALUE = re.compile(r"(?:hospital|\bhosp\b|centre|center|centro|cl[ií]nica|clinic|\bsite\b|\bsede\b|"
                        r"\bcs\b|\bcap\b|\bh\.)", re.IGNORECASE)
DECIMAL_COMMA = re.compile(r"^[-+]?\d+,\d+$")
DECIMAL_POINT = re.compile(r"^[-+]?\d*\.\d+$")


@dataclass
class ColumnProfile:
    column: str
    values: pd.Series  # stripped text, missing markers removed
    rows: int

    @property
    def missing(self) -> int:
        return self.rows - len(self.values)

    @property
    def distinct(self) -> Counter:
        return Counter(self.values)

    def numbers(self) -> pd.Series:
        """As ingest reads them, either decimal separator accepted (the draft decides which the extract uses)."""
        return parse_numbers(self.values, decimal_comma=True)

    def share(self, mask: pd.Series) -> float:
        return float(mask.mean()) if len(mask) else 0.0


def profile_columns(frame: pd.DataFrame) -> list[ColumnProfile]:
    missing = set(DEFAULT_MISSING)
    profiles = []
    for column in frame.columns:
        if column == RECORD_ID:
            continue
        text = frame[column].astype(str).str.strip()
        profiles.append(ColumnProfile(column, text[~text.str.casefold().isin(missing)].reset_index(drop=True),
                                      len(text)))
    return profiles


def boolean_spellings(profile: ColumnProfile) -> tuple[list[str], list[str]] | None:
    folded = profile.values.str.casefold().map(integral_text)
    for true_set, false_set in BOOLEAN_PAIRS:
        if profile.share(folded.isin(true_set | false_set)) >= SHARE and folded.nunique() >= 1:
            seen = {v for v in profile.values if v.casefold() in true_set | false_set}
            trues = sorted(v for v in seen if integral_text(v.casefold()) in true_set) or sorted(true_set)[:1]
            falses = sorted(v for v in seen if integral_text(v.casefold()) in false_set) or sorted(false_set)[:1]
            return trues, falses
    return None


def date_format(profile: ColumnProfile) -> str | None:
    for candidate in DATE_FORMATS:
        if profile.share(pd.to_datetime(profile.values, format=candidate, errors="coerce").notna()) >= SHARE:
            return candidate
    return None


def numeric_ranges(profiles: list[ColumnProfile]) -> dict[str, tuple[float, float, bool]]:
    """Observed (min, max, nullable) of numeric columns, from pandera's schema inference."""
    if not profiles:
        return {}
    frame = pd.DataFrame({p.column: p.numbers().reindex(range(p.rows)) for p in profiles})
    inferred = pa.infer_schema(frame)
    out = {}
    for name, column in inferred.columns.items():
        stats = {check.name: check.statistics for check in column.checks}
        low = stats.get("greater_than_or_equal_to", {}).get("min_value", frame[name].min())
        high = stats.get("less_than_or_equal_to", {}).get("max_value", frame[name].max())
        if "in_range" in stats:
            low, high = stats["in_range"]["min_value"], stats["in_range"]["max_value"]
        out[name] = (float(low), float(high), bool(column.nullable))
    return out


def clinical_bounds(column: str) -> tuple[float, float, str] | None:
    """The well-known plausible range of a column whose name says what it measures."""
    name = column.lower()
    return next(((low, high, what) for pattern, low, high, what in PLAUSIBLE if pattern.search(name)), None)


def outlier_bounds(numbers: pd.Series) -> tuple[float, float, str] | None:
    """For a column the table does not know: beyond the 0.5/99.5 percentiles by a wide margin (a typo, an overflow,
    a code), which a robust rule flags where a plain observed range would swallow it."""
    if len(numbers) < OUTLIER_MIN_VALUES:
        return None
    # the inner observed values (no interpolation towards the very outlier being judged)
    low = float(numbers.quantile(OUTLIER_QUANTILES[0], interpolation="higher"))
    high = float(numbers.quantile(OUTLIER_QUANTILES[1], interpolation="lower"))
    margin = OUTLIER_MARGIN * max(high - low, abs(high) * 1e-3, 1e-9)
    return low - margin, high + margin, "the bulk of its values (0.5–99.5 percentiles widened 3 times their span)"


def plausible_range(column: str, numbers: pd.Series, observed: tuple[float, float]) -> tuple[float, float, str | None]:
    """(min, max, review note): the observed range of the plausible values, and a note naming the implausible ones
    instead of copying them into the range (an age of 65526 makes no range; its rows are quarantined until the
    user decides, e.g. that 0 means 'not measured': `missing_codes`)."""
    bounds = clinical_bounds(column) or outlier_bounds(numbers)
    if bounds is None:
        return *observed, None
    low, high, what = bounds
    inside = (numbers >= low) & (numbers <= high)
    if inside.all():
        return *observed, None
    if not inside.any():
        return *observed, (f"no value is within {what} {plain_number(low)}–{plain_number(high)}: another unit? (then a "
                           "`convert`) — the range is the observed one, check it")
    outside = numbers[~inside]
    shown = ", ".join(str(plain_number(v)) for v in sorted(set(outside))[:6])
    return float(numbers[inside].min()), float(numbers[inside].max()), (
        f"{len(outside)} value(s) outside {what} {plain_number(low)}–{plain_number(high)} ({shown}) are kept out of "
        f"the range (their rows are quarantined); if such a value means 'not measured', declare it: missing_codes: "
        f"{flow([str(plain_number(v)) for v in sorted(set(outside))[:3]])}")


def sex_categories(profile: ColumnProfile) -> dict:
    seen = {v.casefold() for v in profile.values} | {""}
    categories = {}
    for code, spellings in SEX_SPELLINGS.items():
        observed = sorted(s for s in spellings if s in seen)
        entry: dict = {"label_es": SEX_LABELS[code], "spellings": observed}
        if code == "U":
            entry["missing"] = True
        categories[code] = entry
    return categories


def sex_review(profile: ColumnProfile) -> str | None:
    """A note for sex spellings the draft does not know (a feature's note: a category has no `review` field)."""
    known = {s for spellings in SEX_SPELLINGS.values() for s in spellings} | {c.casefold() for c in SEX_SPELLINGS}
    unknown = sorted({v for v in profile.values if v.casefold() not in known})
    return f"spellings not recognised (their rows will be quarantined): {unknown[:10]}" if unknown else None


def plain_number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(float(value), 6)


def looks_like_site(profile: ColumnProfile) -> bool:
    """A few distinct values, under a name such as `dataset` or `source`, or values such as 'Hospital X': the site
    of a multi-site extract, which must be context (splits, subgroups, drift), never a feature the model learns."""
    if not 2 <= profile.values.nunique() <= MAX_CATEGORIES:
        return False
    if SITE_NAME_HINT.search(profile.column.lower()):
        return True
    text = profile.share(profile.numbers().isna()) >= SHARE
    return text and profile.share(profile.values.str.contains(SITE_VALUE)) >= 0.5


def flow(value: object) -> str:
    """One YAML value on one line (quoted where YAML would misread it)."""
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10**6, sort_keys=False).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()
