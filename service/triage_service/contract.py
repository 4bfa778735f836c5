"""The request contract, compiled from the manifest's feature list (the model brings its own contract).

Validation is a tight loop over precompiled rules rather than a pydantic model: request parsing dominates the cost
of a prediction (ONNX Runtime takes ~9 µs), so this is where the service's speed is decided. The same rules are
published as JSON Schema in the OpenAPI document.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ErrorList, InvalidRequest

NAN = float("nan")


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str  # int | float | binary | category
    minimum: float | None
    maximum: float | None
    nullable: bool
    encoding: dict[str, float | None] | None
    label_es: str


def _rule(spec: dict) -> Rule:
    return Rule(spec["name"], spec["type"], spec.get("minimum"), spec.get("maximum"), bool(spec.get("nullable")),
                spec.get("encoding"), spec.get("label_es", spec["name"]))


class RequestContract:
    def __init__(self, features: list[dict]):
        self.rules = [_rule(spec) for spec in features]
        self.index = {rule.name: i for i, rule in enumerate(self.rules)}
        self.required = [rule.name for rule in self.rules if not rule.nullable]

    def row(self, record: Any, errors: ErrorList, prefix: str = "") -> list[float]:
        """One record as model input (NaN = missing); problems are added to `errors`."""
        values = [NAN] * len(self.rules)
        if not isinstance(record, dict):
            errors.add(prefix.rstrip(".") or "body", "must be a JSON object of features", _shown(record))
            return values
        for name in self.required:
            if record.get(name) is None:
                errors.add(prefix + name, "required (not nullable)")
        for name, value in record.items():
            position = self.index.get(name)
            if position is None:
                errors.add(prefix + str(name), "unknown field: not in the model's feature contract", _shown(value))
                continue
            if value is None:
                continue
            parsed = self._value(self.rules[position], value, prefix, errors)
            if parsed is not None:
                values[position] = parsed
        return values

    def _value(self, rule: Rule, value: Any, prefix: str, errors: ErrorList) -> float | None:
        field = prefix + rule.name
        if rule.kind == "category":
            if isinstance(value, str) and value in rule.encoding:
                encoded = rule.encoding[value]
                return NAN if encoded is None else encoded
            errors.add(field, f"one of {', '.join(rule.encoding)}", _shown(value))
            return None
        # JSON numbers only: true/false is not an integer, whatever Python's bool says
        if type(value) not in (int, float) or not math.isfinite(value):
            errors.add(field, "0 or 1 (an integer; null when not recorded)" if rule.kind == "binary" else "a number",
                       _shown(value))
            return None
        if rule.kind == "binary":
            if value in (0, 1):
                return float(value)
            errors.add(field, "0 or 1 (an integer; null when not recorded)", value)
            return None
        if rule.kind == "int" and value != int(value):
            errors.add(field, "a whole number", value)
            return None
        if not rule.minimum <= value <= rule.maximum:
            errors.add(field, f"between {_number(rule.minimum)} and {_number(rule.maximum)}", value)
            return None
        return float(value)

    def matrix(self, records: list[Any], prefix_rows: bool) -> np.ndarray:
        errors = ErrorList()
        rows = [self.row(record, errors, f"[{i}]." if prefix_rows else "") for i, record in enumerate(records)]
        if errors:
            raise InvalidRequest(errors)
        return np.asarray(rows, dtype=np.float32)

    def json_schema(self) -> dict:
        """JSON Schema of one patient, for the OpenAPI document."""
        properties: dict[str, dict] = {}
        for rule in self.rules:
            if rule.kind == "category":
                schema: dict = {"type": "string", "enum": list(rule.encoding)}
            elif rule.kind == "binary":
                schema = {"type": "integer", "enum": [0, 1]}
            else:
                schema = {"type": "integer" if rule.kind == "int" else "number", "minimum": rule.minimum,
                          "maximum": rule.maximum}
            if rule.nullable:
                schema = {"anyOf": [schema, {"type": "null"}]}
            properties[rule.name] = {**schema, "title": rule.label_es}
        return {"type": "object", "properties": properties, "required": self.required, "additionalProperties": False}


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _shown(value: Any) -> Any:
    """The offending value as it can be echoed back (long or nested values abbreviated)."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value[:80] if isinstance(value, str) else value
    return f"<{type(value).__name__}>"
