"""Reading a contract file: YAML that refuses duplicate keys, then the spec's own rules, errors naming the file,
the field and the rule."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from triage.contract.spec import ContractSpec
from triage.errors import UserError


class ContractFileError(UserError, ValueError):
    """A contract file that cannot be read or breaks its own rules."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys silently; a contract must not (a code listed twice, a feature
    defined twice)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ContractFileError(f"line {key_node.start_mark.line + 1}: key {key!r} appears twice in one "
                                        f"mapping (first on line {seen[key]}) (rule: each key once)")
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


# YAML 1.2 booleans only: `yes`, `no`, `on`, `off` stay text (spellings such as `true_values: [yes, si]`).
_UniqueKeyLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_UniqueKeyLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                       list("tTfF"))


def _location(loc: tuple) -> str:
    # pydantic reports the union member tried (e.g. 'int', 'category') inside discriminated unions: keep it out
    parts = [str(part) for part in loc if part not in ("int", "float", "binary", "category", "function-after")]
    return ".".join(parts) or "(top level)"


def parse_spec(text: str, origin: str) -> ContractSpec:
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except ContractFileError as error:
        raise ContractFileError(f"{origin}: {error}") from None
    except yaml.YAMLError as error:
        raise ContractFileError(f"{origin}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ContractFileError(f"{origin}: a contract is a YAML mapping (contract, features, outcome, ...)")
    try:
        return ContractSpec.model_validate(data)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            message = item["msg"].removeprefix("Value error, ")
            if item["type"] == "union_tag_invalid":
                message = f"unknown type {item['ctx']['tag']!r} (rule: one of {item['ctx']['expected_tags']})"
            value = item.get("input")
            shown = f" (value: {value!r})" if isinstance(value, str | int | float | bool) else ""
            problems.append(f"{_location(item['loc'])}: {message}{shown}")
        raise ContractFileError(f"{origin}: {len(problems)} problem(s):\n  " + "\n  ".join(problems)) from None


def read_spec(path: Path) -> tuple[ContractSpec, str]:
    """The validated spec and the sha256 of the file's bytes."""
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise ContractFileError(f"{path}: cannot read the contract file ({error.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ContractFileError(f"{path}: not UTF-8 text") from None
    return parse_spec(text, str(path)), hashlib.sha256(raw).hexdigest()
