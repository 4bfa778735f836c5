"""Spellings: how a value as an extract or a caller writes it maps to what the model sees. One normaliser for ingest
and the service, so a spelling ingest accepted for training (`Male`, `TRUE`) is accepted when the model is served,
and a value the contract declares "not measured" (a cholesterol of `0`) is missing on both sides, never a value.

Everything is built from a feature spec as the manifest carries it (`triage.contract.feature_spec`): `type`, for a
category `spellings` (code -> its other spellings), for a binary `true_values` / `false_values`, and for any kind
`missing_codes`. Spellings are compared stripped and casefolded; a binary's also as whole numbers (`1.0` is `1`,
as a float column exports it); a missing code that is a number also matches numerically (`0`, `0.0`, `0,0`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


def fold(text: str) -> str:
    """The form spellings are compared in: no surrounding spaces, no case."""
    return text.strip().casefold()


def as_number(text: str, decimal_comma: bool = False) -> float | None:
    """The text as a finite number ('0,5' too under a decimal comma), None when it is not one."""
    try:
        value = float(text.replace(",", ".") if decimal_comma else text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def integral_text(folded: str) -> str:
    """'1.0' and '0.0' (numbers exported from a float column) read as '1' and '0'; other text unchanged."""
    number = as_number(folded)
    return str(int(number)) if number is not None and number.is_integer() else folded


def spelling_key(kind: str, text: str) -> str:
    """The lookup key of a written value: folded, and for a binary also read as a whole number."""
    folded = fold(text)
    return integral_text(folded) if kind == "binary" else folded


def spelling_lookup(spec: dict) -> dict[str, str | float]:
    """Key -> meaning for a category (its code, for the code itself and each listed spelling) or a binary (1.0 for
    each true value, 0.0 for each false one); empty for a number, whose text is parsed, not looked up."""
    kind = spec["type"]
    lookup: dict[str, str | float] = {}
    if kind == "category":
        for code in spec.get("categories", []):
            for spelling in (code, *spec.get("spellings", {}).get(code, ())):
                lookup[spelling_key(kind, spelling)] = code
    elif kind == "binary":
        lookup.update({spelling_key(kind, v): 1.0 for v in spec.get("true_values", ("1",))})
        lookup.update({spelling_key(kind, v): 0.0 for v in spec.get("false_values", ("0",))})
    return lookup


@dataclass(frozen=True)
class MissingCodes:
    """A feature's codes for "not measured": matched as folded text, and those that are numbers also by value."""

    texts: frozenset[str]
    numbers: frozenset[float]

    @classmethod
    def of(cls, codes: Iterable[str]) -> MissingCodes:
        codes = list(codes)
        numbers = (as_number(fold(code), decimal_comma=True) for code in codes)
        return cls(frozenset(fold(code) for code in codes), frozenset(n for n in numbers if n is not None))

    def __bool__(self) -> bool:
        return bool(self.texts)

    def matches_text(self, text: str, decimal_comma: bool = False) -> bool:
        folded = fold(text)
        if folded in self.texts:
            return True
        number = as_number(folded, decimal_comma) if self.numbers else None
        return number is not None and number in self.numbers

    def matches_number(self, value: float) -> bool:
        return value in self.numbers


def missing_codes(spec: dict) -> MissingCodes:
    return MissingCodes.of(spec.get("missing_codes", ()))


__all__ = ["MissingCodes", "as_number", "fold", "integral_text", "missing_codes", "spelling_key", "spelling_lookup"]
