"""`triage contract draft --extract FILE [--outcome COLUMN]`: a draft contract from an extract's own columns.

Each column gets a guessed role — identifier, personal data, visit date, site, numeric feature (observed range,
from pandera's schema inference), binary feature (observed spellings such as t/f, yes/no, 1/0), category (observed
values), outcome (observed codes) or ignored — and every guess made from values rather than a telling name is marked
with a `review:` note. Numeric ranges keep the observed values that are clinically plausible (a table of well-known
ranges by column name — age, heart and respiratory rate, temperature, blood pressure, cholesterol, glucose… — and for
other columns a robust outlier rule): the rest are named in a note, never copied into the range. `decimal_comma` is
detected from the numbers, and a column that looks like the site (`dataset`, `source`, values such as 'Hospital X')
is proposed as `context.site`, with a note. Outcome codes are pre-mapped to triage classes where a reference
contract's map (the default contract's ICD-10 and ORPHA prefixes) knows them; the rest are listed under
`outcome.unmapped` for the user to map. The draft is YAML in the same style as data/contracts/simulated.yaml;
`triage contract check` shows what is left, and with `--extract` the row accounting under the pipeline's limit
`validate.max_bad_fraction` (params.yaml, or $TRIAGE_PARAMS, or `--params`).
"""

from __future__ import annotations

import os
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import yaml

from triage.contract import SIMULATED_CONTRACT, Contract, load_contract
from triage.contract.spec import DEFAULT_MISSING
from triage.data.extracts import RECORD_ID, list_extracts, read_extract, shown_path

MAX_CATEGORIES = 20
SHARE = 0.95  # values that must fit a type for the guess
MAX_LISTED_CODES = 60
NAME_PATTERNS: dict[str, re.Pattern] = {  # matched against the lower-cased column name
    "personal": re.compile(r"(^|_)(name|nombre|apellido|surname|first_?name|last_?name|dni|nif|nie|ssn|passport|"
                           r"pasaporte|national|phone|telefono|tel[eé]fono|email|e_?mail|address|direcci[oó]n|"
                           r"domicilio|postal|zip|birth|nacimiento|dob|fecha_nac)"),
    "patient": re.compile(r"(patient|paciente|mrn|nhc|cip|historia|subject|person)(_?id|_?num|$)|^(mrn|nhc|cip)"),
    "visit": re.compile(r"(visit|visita|encounter|episode|episodio|admission|ingreso|consulta)(_?id|_?num|$)"),
    "identifier": re.compile(r"(^|_)(id|ident|identifier|code_id|uuid)$|^id_"),
    "date": re.compile(r"(date|fecha|_at$|_on$|timestamp)"),
    "site": re.compile(r"(^|_)(site|centro|center|centre|hospital|clinic|cl[ií]nica|sede|facility)(_?id|_?code|$)"),
    "outcome": re.compile(r"(diagnos|diagn[oó]stico|^dx|icd|cie_?10|outcome|label|class|target)"),
    "sex": re.compile(r"^(sex|sexo|gender|g[eé]nero)$"),
}
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
        return pd.to_numeric(self.values.str.replace(",", ".", regex=False), errors="coerce")

    def share(self, mask: pd.Series) -> float:
        return float(mask.mean()) if len(mask) else 0.0


@dataclass
class Draft:
    identifiers: dict[str, str] = field(default_factory=dict)
    other_ids: list[str] = field(default_factory=list)
    personal: list[str] = field(default_factory=list)
    visit_date: tuple[str, str] | None = None
    site: str | None = None
    ignored: list[str] = field(default_factory=list)
    features: dict[str, dict] = field(default_factory=dict)
    outcome: str | None = None
    review: list[str] = field(default_factory=list)
    decimal_comma: bool = False
    decimal_note: str = ""

    def review_count(self) -> int:
        """Every `review:` note the draft writes: the file's own and each feature's."""
        return len(self.review) + sum("review" in feature for feature in self.features.values())


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


def feature_key(column: str, taken: set[str]) -> str:
    key = re.sub(r"[^0-9a-zA-Z]+", "_", column).strip("_").lower() or "column"
    key = key if key[0].isalpha() else f"f_{key}"
    candidate, n = key[:60], 2
    while candidate in taken:
        candidate, n = f"{key[:56]}_{n}", n + 1
    taken.add(candidate)
    return candidate


def boolean_spellings(profile: ColumnProfile) -> tuple[list[str], list[str]] | None:
    folded = profile.values.str.casefold().map(_integral)
    for true_set, false_set in BOOLEAN_PAIRS:
        if profile.share(folded.isin(true_set | false_set)) >= SHARE and folded.nunique() >= 1:
            seen = {v for v in profile.values if v.casefold() in true_set | false_set}
            trues = sorted(v for v in seen if _integral(v.casefold()) in true_set) or sorted(true_set)[:1]
            falses = sorted(v for v in seen if _integral(v.casefold()) in false_set) or sorted(false_set)[:1]
            return trues, falses
    return None


def _integral(value: str) -> str:
    try:
        number = float(value.replace(",", "."))
    except ValueError:
        return value
    return str(int(number)) if number.is_integer() else value


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


def guess_feature(profile: ColumnProfile, numeric: tuple[float, float, bool] | None) -> dict:
    """A feature entry for the column (type, range or spellings or categories), with a review note when unsure."""
    base = {"label_es": profile.column, "nullable": profile.missing > 0}
    if NAME_PATTERNS["sex"].search(profile.column.lower()):
        note = sex_review(profile)
        return {"type": "category", **base, **({"review": note} if note else {}),
                "categories": sex_categories(profile)}
    spellings = boolean_spellings(profile)
    if spellings is not None:
        trues, falses = spellings
        return {"type": "binary", **base, **({} if (trues, falses) == (["1"], ["0"]) else
                                              {"true_values": trues, "false_values": falses})}
    if numeric is not None:
        numbers = profile.numbers().dropna()
        whole = profile.share(numbers % 1 == 0) == 1.0
        low, high, note = plausible_range(profile.column, numbers, numeric[:2])
        return {"type": "int" if whole else "float", **base, "min": _number(low), "max": _number(high),
                **({"review": note} if note else {})}
    counts = profile.distinct
    if 2 <= len(counts) <= MAX_CATEGORIES:
        return {"type": "category", **base, "review": "category guessed from the observed values: give each a "
                "Spanish label, merge spellings, mark one `missing: true` if it means 'not recorded'",
                "categories": {value: {"label_es": value} for value, _ in sorted(counts.items())}}
    raise ValueError("no feature type fits")


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
        return *observed, (f"no value is within {what} {_number(low)}–{_number(high)}: another unit? (then a "
                           "`convert`) — the range is the observed one, check it")
    outside = numbers[~inside]
    shown = ", ".join(str(_number(v)) for v in sorted(set(outside))[:6])
    return float(numbers[inside].min()), float(numbers[inside].max()), (
        f"{len(outside)} value(s) outside {what} {_number(low)}–{_number(high)} ({shown}) are kept out of the range "
        f"(their rows are quarantined); if such a value means 'not measured', declare it: missing_codes: "
        f"{flow([str(_number(v)) for v in sorted(set(outside))[:3]])}")


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


def _number(value: float) -> float | int:
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


def propose_site(draft: Draft, profile: ColumnProfile) -> None:
    draft.site = profile.column
    shown = ", ".join(sorted(profile.distinct)[:6])
    draft.review.append(f"column {profile.column!r} looks like the site ({profile.values.nunique()} values: {shown}):"
                        " proposed as context.site (kept for splits, subgroups and drift, never a feature); if it "
                        "describes the patient, make it a category feature instead")


def assign_roles(profiles: list[ColumnProfile], outcome: str | None) -> Draft:
    draft = Draft()
    numeric = numeric_ranges([p for p in profiles if p.share(p.numbers().notna()) >= SHARE and len(p.values)])
    taken: set[str] = set()
    site_named = any(NAME_PATTERNS["site"].search(p.column.lower()) for p in profiles if p.column != outcome)
    for profile in profiles:
        name = profile.column.lower()
        if profile.column == outcome or (outcome is None and draft.outcome is None
                                          and NAME_PATTERNS["outcome"].search(name)):
            draft.outcome = profile.column
        elif NAME_PATTERNS["personal"].search(name):
            draft.personal.append(profile.column)
        elif NAME_PATTERNS["patient"].search(name) and "patient" not in draft.identifiers:
            draft.identifiers["patient"] = profile.column
        elif NAME_PATTERNS["visit"].search(name) and "visit" not in draft.identifiers:
            draft.identifiers["visit"] = profile.column
        elif NAME_PATTERNS["site"].search(name) and draft.site is None:
            draft.site = profile.column
        elif NAME_PATTERNS["identifier"].search(name):
            draft.other_ids.append(profile.column)
        elif NAME_PATTERNS["date"].search(name) and draft.visit_date is None and date_format(profile):
            draft.visit_date = (profile.column, date_format(profile))
        elif not site_named and draft.site is None and looks_like_site(profile):
            propose_site(draft, profile)
        else:
            by_values(draft, profile, numeric.get(profile.column), taken)
    return draft


def by_values(draft: Draft, profile: ColumnProfile, numeric: tuple[float, float, bool] | None,
              taken: set[str]) -> None:
    """A column whose name says nothing: its values decide, and the guess is marked for review."""
    if not len(profile.values):
        draft.ignored.append(profile.column)
        draft.review.append(f"column {profile.column!r} is empty in the extract: ignored")
        return
    unique_share = profile.values.nunique() / len(profile.values)
    if unique_share > 0.98 and len(profile.values) > MAX_CATEGORIES and (numeric is None or _looks_like_ids(profile)):
        draft.ignored.append(profile.column)
        draft.review.append(f"column {profile.column!r} has a different value in almost every row (an identifier? "
                            "free text?): ignored; make it an identifier (hashed) if it is one")
        return
    if date_format(profile):
        draft.ignored.append(profile.column)
        draft.review.append(f"column {profile.column!r} holds dates ({date_format(profile)}): ignored; make it "
                            "context.visit_date if it is the visit's date")
        return
    try:
        feature = guess_feature(profile, numeric)
    except ValueError:
        draft.ignored.append(profile.column)
        draft.review.append(f"column {profile.column!r}: no type fits its values (text with "
                            f"{profile.values.nunique()} distinct values): ignored")
        return
    key = feature_key(profile.column, taken)
    if key != profile.column:
        feature = {"column": profile.column, **feature}
    draft.features[key] = feature


def _looks_like_ids(profile: ColumnProfile) -> bool:
    numbers = profile.numbers().dropna()
    return len(numbers) == len(profile.values) and (numbers % 1 == 0).all() and numbers.is_monotonic_increasing


def outcome_map(codes: pd.Series, reference: Contract | None) -> tuple[dict[str, list[str]], list[str], Counter]:
    """Classes with the reference prefixes that match observed codes, the codes nothing matched, and code counts."""
    counts = Counter(codes)
    classes: dict[str, list[str]] = {}
    unmapped = []
    prefixes = sorted(((reference.spec.outcome.normalise(p), k) for k, listed in
                       reference.spec.outcome.classes.items() for p in listed), key=lambda pk: -len(pk[0])) \
        if reference else []
    for code in sorted(counts):
        match = next(((prefix, klass) for prefix, klass in prefixes if code.startswith(prefix)), None)
        if match is None:
            unmapped.append(code)
        elif match[0] not in classes.setdefault(match[1], []):
            classes[match[1]].append(match[0])
    return classes, unmapped, counts


def flow(value: object) -> str:
    """One YAML value on one line (quoted where YAML would misread it)."""
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10**6, sort_keys=False).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def render(draft: Draft, source: str, outcome_codes: pd.Series, reference: Contract | None, rows: int) -> str:
    lines = [f"# Draft data contract of {source} ({rows} rows), written by `triage contract draft`.",
             "# Check every guess, above all those with a `review:` note; write the Spanish labels (label_es) and",
             "# units clinicians read; map every outcome code to a triage class. Then `triage contract check FILE`.",
             "contract:", f"  name: {flow(Path(source).stem.replace('_', '-') or 'extract')}", "  version: 0.1.0",
             f"  description: {flow(f'Drafted from {source}; describe the extract here.')}", "",
             f"missing_values: {flow(list(DEFAULT_MISSING))}",
             f"decimal_comma: {flow(draft.decimal_comma)}".ljust(33) + f"# {draft.decimal_note}", ""]
    ids = draft.identifiers
    lines.append("identifiers:                      # replaced by a keyed hash (TRIAGE_PSEUDONYM_KEY)")
    lines += [f"  {role}: {flow(column)}" for role, column in ids.items()]
    if draft.other_ids:
        lines.append(f"  other: {flow(draft.other_ids)}")
    if not ids and not draft.other_ids:
        lines[-1] = "identifiers: {}                   # none found: every row is its own patient and visit"
    lines.append(f"personal_data: {flow(draft.personal)}   # dropped at ingest")
    context = {}
    if draft.visit_date:
        context["visit_date"] = {"column": draft.visit_date[0], "format": draft.visit_date[1]}
    if draft.site:
        context["site"] = draft.site
    lines.append(f"context: {flow(context)}" if context else "context: {}")
    lines.append(f"ignored: {flow(draft.ignored)}")
    lines += ["", "features:"]
    for key, feature in draft.features.items():
        lines.append(f"  {flow(key)}: {flow(feature)}")
    lines += outcome_lines(outcome_codes, reference, draft.outcome)
    if draft.review:
        lines += ["", "review:                           # the draft's unsure guesses: confirm, then delete"]
        lines += [f"  - {flow(note)}" for note in draft.review]
    return "\n".join(lines) + "\n"


def outcome_lines(codes: pd.Series, reference: Contract | None, column: str) -> list[str]:
    classes, unmapped, counts = outcome_map(codes, reference)
    lines = ["", "outcome:", f"  column: {flow(column)}", "  match: prefix                   # the longest "
             "matching code prefix decides; `exact` for whole codes", "  min_train_cases: 10",
             "  classes:" + ("" if classes else " {}   # map the codes below to none / mild / acute / chronic / "
                                                  "orphan")]
    for klass, prefixes in classes.items():
        lines.append(f"    {klass}:")
        lines += [f"      - {flow(prefix)}".ljust(30) + f"# {sum(n for c, n in counts.items() if c.startswith(prefix))}"
                  " row(s)" for prefix in prefixes]
    shown = unmapped[:MAX_LISTED_CODES]
    lines.append(f"  unmapped: {flow(shown)}" + (f"   # and {len(unmapped) - len(shown)} more codes" if
                                                  len(unmapped) > len(shown) else ""))
    if unmapped:
        lines.append("  # codes above match no class: their rows are quarantined until you map them; counts: "
                     + ", ".join(f"{c}={counts[c]}" for c in shown[:20]))
    return lines


def decimal_separator(draft: Draft, profiles: list[ColumnProfile]) -> None:
    """decimal_comma from the numbers themselves: on when any number is written with a decimal comma (ingest then
    reads '37,5' and '37.5' alike), off for a file written with dots only, where a comma would be a thousands
    separator ('1,250' is not 1.25)."""
    commas = sum(int(p.values.str.match(DECIMAL_COMMA).sum()) for p in profiles)
    points = sum(int(p.values.str.match(DECIMAL_POINT).sum()) for p in profiles)
    draft.decimal_comma = commas > 0
    draft.decimal_note = f"detected: {commas} number(s) with a decimal comma, {points} with a decimal point"


def draft_contract(paths: list[Path], outcome: str | None, reference: Contract | None) -> tuple[str, Draft]:
    frames = [read_extract(path).frame for path in paths]
    frame = pd.concat(frames, ignore_index=True)
    if outcome is not None and outcome not in frame.columns:
        raise ValueError(f"--outcome {outcome!r} is not a column of the extract (columns: {', '.join(frame.columns)})")
    profiles = profile_columns(frame)
    draft = assign_roles(profiles, outcome)
    decimal_separator(draft, profiles)
    if draft.outcome is None:
        raise ValueError("no outcome column recognised: name it with --outcome (columns: "
                         + ", ".join(c for c in frame.columns if c != RECORD_ID) + ")")
    codes = frame[draft.outcome].astype(str).str.strip().str.upper()
    source = shown_path(paths[0]) if len(paths) == 1 else f"{shown_path(paths[0].parent)} ({len(paths)} extracts)"
    return render(draft, source, codes, reference, len(frame)), draft


def extract_paths(target: Path) -> list[Path]:
    return list_extracts(target) if target.is_dir() else [target]


def command(args) -> int:
    from triage.contract import ContractFileError
    from triage.data.extracts import ExtractError

    reference_file = None if args.no_reference_codes else Path(args.reference_codes or SIMULATED_CONTRACT)
    try:
        reference = load_contract(reference_file) if reference_file else None
        text, draft = draft_contract(extract_paths(Path(args.extract)), args.outcome, reference)
    except (ValueError, ExtractError, ContractFileError, OSError) as error:
        print(f"contract draft: {error}", file=sys.stderr)
        return 2
    out = Path(args.out)
    if out.exists() and not args.force:
        print(f"contract draft: {out} exists; choose another --out or pass --force", file=sys.stderr)
        return 2
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"draft contract written to {out}: {len(draft.features)} features, outcome {draft.outcome!r}, "
          f"{draft.review_count()} guess(es) to review")
    return 0


def check_command(args) -> int:
    """`triage contract check FILE [--extract FILE]`: the file's own rules, what the draft left to review, and the
    extract's row accounting under the pipeline's limit (refused as `dvc repro` would refuse it)."""
    from triage.contract import ContractFileError

    try:
        contract = load_contract(args.contract)
    except ContractFileError as error:
        print(f"contract check: {error}", file=sys.stderr)
        return 1
    print(f"{contract.path}: contract {contract.name} {contract.version} is valid: {len(contract.feature_names)} "
          f"features, classes {', '.join(contract.classes)}"
          + ("" if contract.has_orphan else " (no orphan class: the model will make no orphan decision)"))
    notes = contract.review_notes()
    for note in notes:
        print(f"  review: {note}")
    if args.extract:
        return check_extract(contract, Path(args.extract), params_file(getattr(args, "params", None)))
    return 0


def params_file(option: str | None) -> Path:
    """The params file whose limits `dvc repro` will apply: --params, else $TRIAGE_PARAMS, else params.yaml."""
    return Path(option or os.environ.get("TRIAGE_PARAMS") or "params.yaml")


def bad_fraction_limit(path: Path) -> float:
    """`validate.max_bad_fraction` of the params file, so the check refuses what `dvc repro` would refuse."""
    from triage.errors import UserError

    try:
        params = yaml.safe_load(path.read_text(encoding="utf-8"))
        return float(params["validate"]["max_bad_fraction"])
    except OSError as error:
        raise UserError(f"cannot read {path} for validate.max_bad_fraction ({error.strerror}); name the params file "
                        "with --params FILE or TRIAGE_PARAMS") from error
    except (yaml.YAMLError, TypeError, KeyError, ValueError) as error:
        raise UserError(f"{path} gives no number at validate.max_bad_fraction ({type(error).__name__}: {error}); "
                        "name another params file with --params FILE") from error


def check_extract(contract: Contract, target: Path, params: Path) -> int:
    """Ingest and validate an extract under the contract in memory: the row accounting, the top reasons, and the
    pipeline's limit on the quarantined share, enforced as `dvc repro` will (a `ValidationFailed`: one line and
    exit 2 through the CLI)."""
    from triage.data.ingest import extract_key
    from triage.data.validation import check_bad_fraction
    from triage.executors.local import run_in_memory

    limit = bad_fraction_limit(params)
    paths = extract_paths(target)
    key, simulated = extract_key(paths)
    _, _, accounting = run_in_memory(paths, contract, key, simulated, limit, lambda message: print(f"  {message}"))
    print(f"  rows in {accounting['rows_in']}: clean {accounting['rows_clean']}, quarantined "
          f"{accounting['rows_quarantined']} ({accounting['quarantine_share']:.2%}), duplicates "
          f"{accounting['rows_duplicate']}")
    for reason, count in list(accounting["reasons"].items())[:8]:
        print(f"    {count:6d}  {reason}")
    verdict = "above" if accounting["quarantine_share"] > limit else "within"
    print(f"  quarantined share {accounting['quarantine_share']:.2%}: {verdict} the limit "
          f"validate.max_bad_fraction = {limit:g} ({limit:.2%}) of {params}")
    check_bad_fraction(accounting, limit)
    return 0


__all__ = ["check_command", "command", "draft_contract"]
