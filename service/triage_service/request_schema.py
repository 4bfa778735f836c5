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

from triage_shared.spellings import MissingCodes, missing_codes, spelling_key, spelling_lookup

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
    spellings: dict[str, str | float]  # the shared normaliser's key -> category code or binary 1.0/0.0
    listed: tuple[str, ...]  # the spellings as the contract writes them (for the JSON Schema)
    missing: MissingCodes  # values the contract reads as "not measured"

    @property
    def spelled(self) -> bool:
        """Whether a value may stand for another (a spelling or a missing code): only such rules are rewritten in
        the logged record."""
        return self.kind in ("category", "binary") or bool(self.missing)


def _rule(spec: dict) -> Rule:
    return Rule(spec["name"], spec["type"], spec.get("minimum"), spec.get("maximum"), bool(spec.get("nullable")),
                spec.get("encoding"), spec.get("label_es", spec["name"]), spelling_lookup(spec), _listed(spec),
                missing_codes(spec))


def _listed(spec: dict) -> tuple[str, ...]:
    if spec["type"] == "binary":
        return (*spec.get("true_values", ("1",)), *spec.get("false_values", ("0",)))
    return tuple(s for spellings in spec.get("spellings", {}).values() for s in spellings)


def _written(rule: Rule, value: Any) -> str | None:
    """A JSON value as the text an extract would hold: strings as they are, and for a binary true/false as `true` /
    `false` (so a binary whose contract spells its values so accepts JSON booleans); None for anything else."""
    if isinstance(value, bool) and rule.kind == "binary":
        return "true" if value else "false"
    return value if isinstance(value, str) else None


def _is_missing_code(rule: Rule, value: Any) -> bool:
    if not rule.missing:
        return False
    if type(value) in (int, float):
        return rule.missing.matches_number(value)
    return isinstance(value, str) and rule.missing.matches_text(value)


def _spelled_as(rule: Rule, value: Any) -> str | float | None:
    """What a written value means under the contract's spellings: a category code or a binary's 1.0/0.0."""
    text = _written(rule, value)
    return None if text is None else rule.spellings.get(spelling_key(rule.kind, text))


class RequestSchema:
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
        if _is_missing_code(rule, value):
            if rule.nullable:
                return NAN
            errors.add(field, "required (not nullable): the contract reads this value as 'not measured'",
                       _shown(value))
            return None
        if rule.kind == "category":
            return _category(rule, value, field, errors)
        if rule.kind == "binary":
            return _binary(rule, value, field, errors)
        # JSON numbers only: true/false is not a number, whatever Python's bool says
        if type(value) not in (int, float) or not math.isfinite(value):
            errors.add(field, "a number", _shown(value))
            return None
        # a whole number written 30.0 is accepted on purpose: JSON Schema's "integer" (2020-12, OpenAPI 3.1's) is
        # any number without a fractional part, so the published schema admits it too
        if rule.kind == "int" and value != int(value):
            errors.add(field, "a whole number", value)
            return None
        if not rule.minimum <= value <= rule.maximum:
            errors.add(field, f"between {_number(rule.minimum)} and {_number(rule.maximum)}", value)
            return None
        return float(value)

    def canonical(self, record: dict) -> dict:
        """The record as the prediction log keeps it: each spelling replaced by the code it stands for, each missing
        code by null, so the monitor tallies the model's categories whatever the caller wrote. Called on a valid
        record; the same dict when nothing was spelled (the common case costs one pass over its keys)."""
        out = record
        for name, value in record.items():
            rule = self.rules[self.index[name]]
            if value is None or not rule.spelled:
                continue
            code = _canonical(rule, value)
            if code is not value:
                out = dict(record) if out is record else out
                out[name] = code
        return out

    def matrix(self, records: list[Any], prefix_rows: bool) -> np.ndarray:
        errors = ErrorList()
        rows = [self.row(record, errors, f"[{i}]." if prefix_rows else "") for i, record in enumerate(records)]
        if errors:
            raise InvalidRequest(errors)
        return np.asarray(rows, dtype=np.float32)

    def json_schema(self) -> dict:
        """JSON Schema of one patient, for the OpenAPI document: the codes, and what else the contract accepts for
        them (its spellings, compared without case and surrounding spaces; JSON booleans where a binary is spelled
        true/false; missing codes)."""
        properties: dict[str, dict] = {}
        for rule in self.rules:
            options = _value_schemas(rule)
            if rule.missing:
                options.append({"enum": [*sorted(rule.missing.texts), *sorted(rule.missing.numbers)]})
            if rule.nullable:
                options.append({"type": "null"})
            schema = options[0] if len(options) == 1 else {"anyOf": options}
            properties[rule.name] = {**schema, "title": rule.label_es}
        return {"type": "object", "properties": properties, "required": self.required, "additionalProperties": False}


def _value_schemas(rule: Rule) -> list[dict]:
    if rule.kind == "category":
        return [{"type": "string", "enum": list(dict.fromkeys([*rule.encoding, *rule.listed]))}]
    if rule.kind == "binary":
        options: list[dict] = [{"type": "integer", "enum": [0, 1]}, {"type": "string", "enum": list(rule.listed)}]
        booleans = [flag for flag in (True, False) if ("true" if flag else "false") in rule.spellings]
        return options + ([{"type": "boolean", "enum": booleans}] if booleans else [])
    return [{"type": "integer" if rule.kind == "int" else "number", "minimum": rule.minimum,
             "maximum": rule.maximum}]


def _category(rule: Rule, value: Any, field: str, errors: ErrorList) -> float | None:
    code = value if isinstance(value, str) and value in rule.encoding else _spelled_as(rule, value)
    if code is None:
        listed = " or a spelling the contract lists" if len(rule.spellings) > len(rule.encoding) else ""
        errors.add(field, f"one of {', '.join(rule.encoding)}{listed}", _shown(value))
        return None
    encoded = rule.encoding[code]
    return NAN if encoded is None else encoded


def _binary(rule: Rule, value: Any, field: str, errors: ErrorList) -> float | None:
    if type(value) in (int, float) and value in (0, 1):
        return float(value)
    spelled = _spelled_as(rule, value)
    if spelled is None:
        spelled_too = sorted(key for key in rule.spellings if key not in ("0", "1"))
        errors.add(field, "0 or 1 (an integer; null when not recorded)"
                   + (f", or a spelling the contract lists: {', '.join(spelled_too)}" if spelled_too else ""),
                   _shown(value))
    return spelled


def _canonical(rule: Rule, value: Any) -> Any:
    """The code a valid value stands for (the value itself when it is one already)."""
    if _is_missing_code(rule, value):
        return None
    if rule.kind == "category":
        return value if isinstance(value, str) and value in rule.encoding else _spelled_as(rule, value)
    if rule.kind == "binary" and not (type(value) in (int, float) and value in (0, 1)):
        return int(_spelled_as(rule, value))
    return value


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _shown(value: Any) -> Any:
    """The offending value as it can be echoed back (long or nested values abbreviated)."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value[:80] if isinstance(value, str) else value
    return f"<{type(value).__name__}>"
