"""`triage contract draft --extract FILE [--outcome COLUMN]`: a draft contract from an extract's own columns.

Each column gets a guessed role — identifier, personal data, visit date, site, numeric feature (observed range,
from pandera's schema inference), binary feature (observed spellings such as t/f, yes/no, 1/0), category (observed
values), outcome (observed codes) or ignored — and every guess made from values rather than a telling name is marked
with a `review:` note. Outcome codes are pre-mapped to triage classes where a reference contract's map (the default
contract's ICD-10 and ORPHA prefixes) knows them; the rest are listed under `outcome.unmapped` for the user to map.
The draft is YAML in the same style as data/contracts/simulated.yaml; `triage contract check` shows what is left.
"""

from __future__ import annotations

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
        return {"type": "category", **base, "categories": sex_categories(profile)}
    spellings = boolean_spellings(profile)
    if spellings is not None:
        trues, falses = spellings
        return {"type": "binary", **base, **({} if (trues, falses) == (["1"], ["0"]) else
                                              {"true_values": trues, "false_values": falses})}
    if numeric is not None:
        low, high, _ = numeric
        whole = profile.share(profile.numbers().dropna() % 1 == 0) == 1.0
        return {"type": "int" if whole else "float", **base, "min": _number(low), "max": _number(high)}
    counts = profile.distinct
    if 2 <= len(counts) <= MAX_CATEGORIES:
        return {"type": "category", **base, "review": "category guessed from the observed values: give each a "
                "Spanish label, merge spellings, mark one `missing: true` if it means 'not recorded'",
                "categories": {value: {"label_es": value} for value, _ in sorted(counts.items())}}
    raise ValueError("no feature type fits")


def sex_categories(profile: ColumnProfile) -> dict:
    seen = {v.casefold() for v in profile.values} | {""}
    categories = {}
    for code, spellings in SEX_SPELLINGS.items():
        observed = sorted(s for s in spellings if s in seen)
        entry: dict = {"label_es": SEX_LABELS[code], "spellings": observed}
        if code == "U":
            entry["missing"] = True
        categories[code] = entry
    known = {s for spellings in SEX_SPELLINGS.values() for s in spellings} | {c.casefold() for c in SEX_SPELLINGS}
    unknown = sorted({v for v in profile.values if v.casefold() not in known})
    if unknown:
        categories["U"]["review"] = f"spellings not recognised (their rows will be quarantined): {unknown[:10]}"
    return categories


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(float(value), 6)


def assign_roles(profiles: list[ColumnProfile], outcome: str | None) -> Draft:
    draft = Draft()
    numeric = numeric_ranges([p for p in profiles if p.share(p.numbers().notna()) >= SHARE and len(p.values)])
    taken: set[str] = set()
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
             f"missing_values: {flow(list(DEFAULT_MISSING))}", "decimal_comma: true", ""]
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


def draft_contract(paths: list[Path], outcome: str | None, reference: Contract | None) -> tuple[str, Draft]:
    frames = [read_extract(path).frame for path in paths]
    frame = pd.concat(frames, ignore_index=True)
    if outcome is not None and outcome not in frame.columns:
        raise ValueError(f"--outcome {outcome!r} is not a column of the extract (columns: {', '.join(frame.columns)})")
    profiles = profile_columns(frame)
    draft = assign_roles(profiles, outcome)
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
          f"{len(draft.review)} guess(es) to review")
    return 0


def check_command(args) -> int:
    """`triage contract check FILE`: the file's own rules, then what the draft left to review."""
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
        return check_extract(contract, Path(args.extract))
    return 0


def check_extract(contract: Contract, target: Path) -> int:
    """Ingest and validate an extract under the contract in memory: the row accounting and the top reasons."""
    from triage.data.extracts import ExtractError
    from triage.data.ingest import ingest
    from triage.data.validation import ValidationFailed, validate

    try:
        result = ingest(extract_paths(target), contract, progress=lambda message: print(f"  {message}"))
        _, _, accounting = validate(result.table, result.errors, result.stats, contract, 1.0)
    except (ExtractError, ValidationFailed) as error:
        print(f"contract check: {error}", file=sys.stderr)
        return 1
    print(f"  rows in {accounting['rows_in']}: clean {accounting['rows_clean']}, quarantined "
          f"{accounting['rows_quarantined']} ({accounting['quarantine_share']:.2%}), duplicates "
          f"{accounting['rows_duplicate']}")
    for reason, count in list(accounting["reasons"].items())[:8]:
        print(f"    {count:6d}  {reason}")
    return 0


__all__ = ["check_command", "command", "draft_contract"]
