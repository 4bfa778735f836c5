"""The data contract as typed, validated objects (pydantic): what a contract file may say, and its own rules.

A contract describes one kind of raw extract: its identifiers (hashed at ingest), personal data (dropped), context
(visit date, site: kept, never features), the features with types, ranges, units, spellings and Spanish labels, and
the outcome column with the map from its codes to the product's triage classes. Unknown keys, wrong types and broken
rules (min above max, a class outside the product's set, a code under two classes, one spelling for two categories)
are refused with the field and the rule; `load.py` adds the file name.

Missing values: `missing_values` lists the cell texts that mean "not recorded" in every column; a feature's own
`missing_codes` (any kind, e.g. `missing_codes: ["0"]` for a cholesterol one site writes as 0 when it did not measure
it, or `["-9", "?"]`) are read as missing in that feature only, never as values. They are compared on the stripped,
casefolded text and, when the code is a number, also numerically: `0`, `0.0` and (under `decimal_comma`) `0,0` all
match a code `0`. A missing code may not also be one of the feature's spellings.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from triage.contract.omop import ConceptSet, PersonAttribute, Source, check_feature_sources, with_flat_parts
from triage.contract.strict import Strict
from triage_shared.classes import CLASS_LABELS_ES, CLASSES, ORPHAN_CLASS
from triage_shared.spellings import MissingCodes

DEFAULT_MISSING = ("", "na", "n/a", "nan", "null", "none", "-")
FEATURE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
CODE_PATTERNS = {"hpo": re.compile(r"^HP:\d{7}$"), "loinc": re.compile(r"^\d{1,7}-\d$"),
                 "snomed": re.compile(r"^\d{6,18}$")}


class Meta(Strict):
    name: str = Field(min_length=1)
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$", description="semantic version of this contract")
    description: str = ""


class ClinicalCodes(Strict):
    hpo: str | None = None
    loinc: str | None = None
    snomed: str | None = None

    @model_validator(mode="after")
    def _formats(self) -> ClinicalCodes:
        for system, pattern in CODE_PATTERNS.items():
            value = getattr(self, system)
            if value is not None and not pattern.match(value):
                raise ValueError(f"{system} code {value!r} does not look like one (expected {pattern.pattern})")
        return self


class FeatureBase(Strict):
    column: str | None = Field(None, description="the extract's column, when it is not the feature's name")
    label_es: str = Field(min_length=1)
    group: str = "Datos clínicos"
    nullable: bool = True
    codes: ClinicalCodes = ClinicalCodes()
    red_flag: bool = False
    description: str = ""
    review: str | None = Field(None, description="a draft's note for the user to confirm (shown by contract check)")
    missing_codes: tuple[str, ...] = Field((), description="this feature's values meaning 'not measured' (read as "
                                           "missing, not as values), e.g. ['0'] or ['-9', '?']")
    omop: ConceptSet | PersonAttribute | None = Field(None, description="where a CDM source reads the feature")

    def _no_spelling_is_a_missing_code(self, spellings: list[str]) -> None:
        """A value cannot both mean something and mean 'not measured'."""
        codes = MissingCodes.of(self.missing_codes)
        both = sorted({s for s in spellings if codes.matches_text(s)})
        if both:
            raise ValueError(f"value(s) {both} listed both as a spelling and under missing_codes")


class UnitConversion(Strict):
    """The extract records another unit: model value = raw value x factor + offset."""

    from_unit: str = Field(min_length=1)
    factor: float
    offset: float = 0.0

    @field_validator("factor")
    @classmethod
    def _nonzero(cls, value: float) -> float:
        if value == 0:
            raise ValueError("factor must not be 0")
        return value


class NumericFeature(FeatureBase):
    type: Literal["int", "float"]
    min: float
    max: float
    unit: str = ""
    convert: UnitConversion | None = None
    impute: Literal["median", "zero"] = "median"

    @model_validator(mode="after")
    def _range(self) -> NumericFeature:
        if self.min > self.max:
            raise ValueError(f"min {self.min:g} is greater than max {self.max:g} (rule: min <= max)")
        return self


class BinaryFeature(FeatureBase):
    type: Literal["binary"]
    true_values: tuple[str, ...] = ("1",)
    false_values: tuple[str, ...] = ("0",)
    impute: Literal["zero", "most_frequent"] = "zero"  # zero: a sign not recorded counts as absent

    @model_validator(mode="after")
    def _disjoint(self) -> BinaryFeature:
        both = {v.strip().casefold() for v in self.true_values} & {v.strip().casefold() for v in self.false_values}
        if both:
            raise ValueError(f"spelling(s) {sorted(both)} listed as both true and false")
        self._no_spelling_is_a_missing_code([*self.true_values, *self.false_values])
        return self


class Category(Strict):
    label_es: str = Field(min_length=1)
    spellings: tuple[str, ...] = ()
    missing: bool = False  # this category means "not recorded": the model sees a missing value


class CategoryFeature(FeatureBase):
    type: Literal["category"]
    categories: dict[str, Category]
    impute: Literal["most_frequent"] = "most_frequent"

    @model_validator(mode="after")
    def _categories(self) -> CategoryFeature:
        if sum(not c.missing for c in self.categories.values()) < 2:
            raise ValueError("a category feature needs at least two categories that are not `missing`")
        owner: dict[str, str] = {}
        for code, category in self.categories.items():
            for spelling in (code, *category.spellings):
                key = spelling.strip().casefold()
                if owner.setdefault(key, code) != code:
                    raise ValueError(f"spelling {spelling!r} belongs to both {owner[key]!r} and {code!r}")
        self._no_spelling_is_a_missing_code([s for code, c in self.categories.items() for s in (code, *c.spellings)])
        return self

    def encoding(self) -> dict[str, float | None]:
        """Model input value of each category code: its position among the non-missing ones; None if missing."""
        encoded: dict[str, float | None] = {}
        position = 0
        for code, category in self.categories.items():
            encoded[code] = None if category.missing else float(position)
            position += 0 if category.missing else 1
        return encoded


Feature = Annotated[NumericFeature | BinaryFeature | CategoryFeature, Field(discriminator="type")]


class Identifiers(Strict):
    patient: str | None = None  # without one, every row is its own patient
    visit: str | None = None  # without one, the row's source (file and line) identifies the visit
    other: tuple[str, ...] = ()


class DateColumn(Strict):
    column: str
    format: str = "%Y-%m-%d"


class Context(Strict):
    visit_date: DateColumn | None = None
    site: str | None = None


class Outcome(Strict):
    column: str
    match: Literal["prefix", "exact"] = "prefix"
    case: Literal["upper", "keep"] = "upper"
    classes: dict[str, tuple[str, ...]]
    unmapped: tuple[str, ...] = ()  # codes seen and deliberately left without a class: their rows are quarantined
    min_train_cases: int = Field(10, ge=1)

    @model_validator(mode="after")
    def _classes(self) -> Outcome:
        unknown = [name for name in self.classes if name not in CLASSES]
        if unknown:
            raise ValueError(f"class(es) {unknown} not among the product's triage classes {list(CLASSES)}")
        empty = [name for name, codes in self.classes.items() if not codes]
        if empty:
            raise ValueError(f"class(es) {empty} list no outcome code")
        if len(self.classes) < 2:
            raise ValueError("the data must have at least two triage classes")
        seen: dict[str, str] = {}
        for name, codes in self.classes.items():
            for code in codes:
                key = self.normalise(code)
                if seen.setdefault(key, name) != name:
                    raise ValueError(f"code {code!r} is mapped to two classes: {seen[key]!r} and {name!r}")
        for code in self.unmapped:
            if self.normalise(code) in seen:
                raise ValueError(f"code {code!r} is listed as unmapped and under class {seen[self.normalise(code)]!r}")
        return self

    def normalise(self, code: str) -> str:
        code = code.strip()
        return code.upper() if self.case == "upper" else code


class Subgroup(Strict):
    bands: tuple[float, ...] | None = None  # numeric features: lower edges of the bands

    @field_validator("bands")
    @classmethod
    def _increasing(cls, bands: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if bands is not None and (len(bands) < 2 or any(b <= a for a, b in zip(bands, bands[1:], strict=False))):
            raise ValueError("bands must be at least two strictly increasing lower edges")
        return bands


class Checks(Strict):
    constant_feature: Literal["warn", "fail"] = "warn"  # an all-empty feature always fails (mark it ignored)


class ContractSpec(Strict):
    """The whole contract file."""

    contract: Meta
    source: Source | None = None  # an OMOP CDM; without it, flat extract files (params: data.raw_dir)
    missing_values: tuple[str, ...] = DEFAULT_MISSING
    decimal_comma: bool = True
    identifiers: Identifiers = Identifiers()
    personal_data: tuple[str, ...] = ()
    context: Context = Context()
    ignored: tuple[str, ...] = ()  # columns present and deliberately not used (counted in the ingest report)
    features: dict[str, Feature]
    outcome: Outcome
    subgroups: dict[str, Subgroup] = {}
    checks: Checks = Checks()
    review: tuple[str, ...] = ()  # a draft's notes for the user (confirm, then delete); shown by `contract check`

    @model_validator(mode="before")
    @classmethod
    def _source_parts(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("source"), dict) and "omop" in data["source"]:
            return with_flat_parts(data)
        return data

    @model_validator(mode="after")
    def _source_reads_every_feature(self) -> ContractSpec:
        check_feature_sources(self.source, {name: f.omop is not None for name, f in self.features.items()})
        return self

    @model_validator(mode="after")
    def _columns(self) -> ContractSpec:
        if not self.features:
            raise ValueError("features: at least one feature is needed")
        for name in self.features:
            if not FEATURE_NAME.match(name):
                raise ValueError(f"feature name {name!r} must start with a letter and hold only letters, digits "
                                 "and '_' (at most 64); keep the extract's spelling in `column:`")
        owners: dict[str, str] = {}
        for role, column in self.source_columns():
            if owners.setdefault(column, role) != role:
                raise ValueError(f"column {column!r} has two roles: {owners[column]} and {role}")
        for name, subgroup in self.subgroups.items():
            feature = self.features.get(name)
            if feature is None:
                raise ValueError(f"subgroups: {name!r} is not a feature")
            if isinstance(feature, NumericFeature) != (subgroup.bands is not None):
                raise ValueError(f"subgroups.{name}: numeric features need `bands`, others take none")
        return self

    def source_columns(self) -> list[tuple[str, str]]:
        """(role, extract column) for every column the contract names."""
        ids = self.identifiers
        columns = [("identifier", c) for c in (ids.patient, ids.visit, *ids.other) if c]
        columns += [("personal data", c) for c in self.personal_data]
        if self.context.visit_date:
            columns.append(("visit date", self.context.visit_date.column))
        if self.context.site:
            columns.append(("site", self.context.site))
        columns += [("ignored", c) for c in self.ignored]
        columns += [(f"feature {name}", feature.column or name) for name, feature in self.features.items()]
        columns.append(("outcome", self.outcome.column))
        return columns


def class_labels(classes: tuple[str, ...]) -> list[dict]:
    return [{"code": c, "label_es": CLASS_LABELS_ES[c]} for c in classes]


__all__ = ["ORPHAN_CLASS", "BinaryFeature", "Category", "CategoryFeature", "ContractSpec", "Feature",
           "NumericFeature", "Outcome", "class_labels"]
