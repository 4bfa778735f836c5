"""A draft data contract from an extract's own columns (`triage contract draft`, in triage.commands.contract).

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
`validate.max_bad_fraction`.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from triage.contract import Contract
from triage.contract.spec import DEFAULT_MISSING
from triage.data.draft_values import (
    DECIMAL_COMMA,
    DECIMAL_POINT,
    MAX_CATEGORIES,
    SHARE,
    ColumnProfile,
    boolean_spellings,
    date_format,
    flow,
    looks_like_site,
    numeric_ranges,
    plain_number,
    plausible_range,
    profile_columns,
    sex_categories,
    sex_review,
)
from triage.data.extracts import RECORD_ID, list_extracts, read_extract, shown_path
from triage.data.ingest import matching_entry, outcome_entries

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


def feature_key(column: str, taken: set[str]) -> str:
    key = re.sub(r"[^0-9a-zA-Z]+", "_", column).strip("_").lower() or "column"
    key = key if key[0].isalpha() else f"f_{key}"
    candidate, n = key[:60], 2
    while candidate in taken:
        candidate, n = f"{key[:56]}_{n}", n + 1
    taken.add(candidate)
    return candidate


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
        return {"type": "int" if whole else "float", **base, "min": plain_number(low), "max": plain_number(high),
                **({"review": note} if note else {})}
    counts = profile.distinct
    if 2 <= len(counts) <= MAX_CATEGORIES:
        return {"type": "category", **base, "review": "category guessed from the observed values: give each a "
                "Spanish label, merge spellings, mark one `missing: true` if it means 'not recorded'",
                "categories": {value: {"label_es": value} for value, _ in sorted(counts.items())}}
    raise ValueError("no feature type fits")


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
    """Classes with the reference's codes or prefixes that match observed codes (matched as ingest matches them),
    the codes nothing matched, and code counts."""
    counts = Counter(codes)
    classes: dict[str, list[str]] = {}
    unmapped = []
    entries = outcome_entries(reference.spec.outcome) if reference else []
    for code in sorted(counts):
        entry = matching_entry(code, entries, reference.spec.outcome.match) if reference else None
        if entry is None:
            unmapped.append(code)
        elif entry[0] not in classes.setdefault(entry[1], []):
            classes[entry[1]].append(entry[0])
    return classes, unmapped, counts


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
