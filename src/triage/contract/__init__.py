"""The data contract: one versioned file per kind of extract, loaded and checked here, and nowhere else.

Everything downstream derives from a `Contract`: ingest parsing (spellings, unit conversions, identifiers to hash,
personal data to drop), the Pandera schema of the clean table, the feature matrix and ONNX input order (the order of
`features` in the file), the manifest's feature list (from which the service builds its request model, OpenAPI
document and form), the drift profile, the model card and the PR report. The simulated cohort's contract
(`data/contracts/simulated.yaml`) is only the default.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from triage.contract.load import ContractFileError, parse_spec, read_spec
from triage.contract.spec import (
    BinaryFeature,
    CategoryFeature,
    ContractSpec,
    Feature,
    NumericFeature,
    class_labels,
)
from triage_shared.classes import CLASSES, ORPHAN_CLASS

SIMULATED_CONTRACT = Path("data/contracts/simulated.yaml")


@dataclass(frozen=True)
class Contract:
    spec: ContractSpec
    path: Path
    sha256: str

    # --- identity ---------------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.spec.contract.name

    @property
    def version(self) -> str:
        return self.spec.contract.version

    def lineage(self) -> dict:
        """What the manifest records about the contract a model was trained under."""
        return {"name": self.name, "version": self.version, "sha256": self.sha256, "file": str(self.path),
                "description": self.spec.contract.description}

    # --- features ---------------------------------------------------------------------------------------------
    @property
    def features(self) -> dict[str, Feature]:
        return self.spec.features

    @cached_property
    def feature_names(self) -> tuple[str, ...]:
        """The model's input columns, in ONNX input order."""
        return tuple(self.spec.features)

    def names_of(self, kind: type) -> tuple[str, ...]:
        return tuple(name for name, feature in self.features.items() if isinstance(feature, kind))

    @property
    def numeric_names(self) -> tuple[str, ...]:
        return self.names_of(NumericFeature)

    @property
    def binary_names(self) -> tuple[str, ...]:
        return self.names_of(BinaryFeature)

    @property
    def category_names(self) -> tuple[str, ...]:
        return self.names_of(CategoryFeature)

    def source_column(self, name: str) -> str:
        return self.features[name].column or name

    def feature_specs(self) -> list[dict]:
        """The feature list of the manifest: what the service, form and monitor know of each input."""
        return [feature_spec(name, feature) for name, feature in self.features.items()]

    # --- classes ----------------------------------------------------------------------------------------------
    @cached_property
    def classes(self) -> tuple[str, ...]:
        """The product's triage classes this data has, in the product's order (the model's output order)."""
        return tuple(c for c in CLASSES if c in self.spec.outcome.classes)

    @property
    def has_orphan(self) -> bool:
        return ORPHAN_CLASS in self.classes

    @property
    def orphan_index(self) -> int | None:
        return self.classes.index(ORPHAN_CLASS) if self.has_orphan else None

    def class_entries(self) -> list[dict]:
        return class_labels(self.classes)

    def review_notes(self) -> list[str]:
        """The draft's unsure guesses still in the file (`review:` fields)."""
        return [*self.spec.review,
                *(f"features.{name}: {feature.review}" for name, feature in self.features.items() if feature.review)]


def feature_spec(name: str, feature: Feature) -> dict:
    """A feature as the manifest lists it. Spellings (a category's, a binary's true and false values) and missing
    codes travel with it, so the service accepts what ingest accepted, through the same normaliser
    (`triage_shared.spellings`, which ingest also builds from this spec)."""
    spec: dict = {"name": name, "type": feature.type, "nullable": feature.nullable, "label_es": feature.label_es,
                  "group": feature.group, "red_flag": feature.red_flag}
    codes = feature.codes.model_dump(exclude_none=True)
    if codes:
        spec["codes"] = codes
    if feature.missing_codes:
        spec["missing_codes"] = list(feature.missing_codes)
    if isinstance(feature, NumericFeature):
        spec.update(minimum=feature.min, maximum=feature.max, unit=feature.unit)
    elif isinstance(feature, BinaryFeature):
        spec.update(minimum=0, maximum=1, true_values=list(feature.true_values),
                    false_values=list(feature.false_values))
    else:
        spec.update(categories=list(feature.categories), encoding=feature.encoding(),
                    labels_es={code: c.label_es for code, c in feature.categories.items()},
                    spellings={code: list(c.spellings) for code, c in feature.categories.items() if c.spellings})
    return spec


def load_contract(path: Path | str) -> Contract:
    spec, digest = read_spec(Path(path))
    return Contract(spec=spec, path=Path(path), sha256=digest)


def contract_from_params(params: dict) -> Contract:
    return load_contract(params["data"]["contract"])


__all__ = ["SIMULATED_CONTRACT", "BinaryFeature", "CategoryFeature", "Contract", "ContractFileError",
           "NumericFeature", "contract_from_params", "feature_spec", "load_contract", "parse_spec"]
