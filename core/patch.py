"""A PATCH body applied to a row: each field the body gives (not null) replaces the row's. Fields
whose change has a rule of its own (a password, a definition) are set by their service."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def patch(row: Any, data: BaseModel, *fields: str, **renamed: str) -> set[str]:
    """Copy the given fields of `data` onto `row`; `renamed` maps a field to the row's attribute
    where the names differ (metadata -> metadata_). Returns the fields that were given."""
    given: set[str] = set()
    for field, attribute in [*((f, f) for f in fields), *renamed.items()]:
        value = getattr(data, field)
        if value is not None:
            setattr(row, attribute, value)
            given.add(field)
    return given
