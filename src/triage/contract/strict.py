"""The base of every contract model: unknown keys refused, values frozen."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    # numbers in text fields read as text: codes such as `0`, spellings such as `1`
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)
