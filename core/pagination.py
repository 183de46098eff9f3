"""Keyset pagination: a page continues strictly after the last row of the previous one, so a
deep page costs what the first does. Cursors are opaque, URL-safe base64 of the sort key."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, literal, tuple_
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement

from core.errors import Invalid, field_error

Row = TypeVar("Row")
KeyValue = datetime | uuid.UUID | int | str | Decimal | float

_ENCODERS: dict[type, tuple[str, Callable[[Any], Any]]] = {
    datetime: ("dt", lambda v: v.isoformat()),
    uuid.UUID: ("uuid", str),
    Decimal: ("dec", str),
    int: ("int", lambda v: v),
    float: ("float", lambda v: v),
    str: ("str", lambda v: v),
}
_DECODERS: dict[str, Callable[[Any], KeyValue]] = {
    "dt": lambda v: datetime.fromisoformat(str(v)),
    "uuid": lambda v: uuid.UUID(str(v)),
    "dec": lambda v: Decimal(str(v)),
    "int": int,
    "float": float,
    "str": str,
}


def encode_cursor(values: Sequence[KeyValue]) -> str:
    tagged = []
    for value in values:
        tag, encode = _ENCODERS[type(value)]
        tagged.append([tag, encode(value)])
    raw = json.dumps(tagged, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, width: int) -> list[KeyValue]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        tagged = json.loads(raw)
        if not isinstance(tagged, list) or len(tagged) != width:
            raise ValueError("wrong width")
        return [_DECODERS[tag](value) for tag, value in tagged]
    except (ValueError, KeyError, TypeError, binascii.Error, json.JSONDecodeError):
        raise Invalid(
            "the cursor is not one this list handed out",
            details=[field_error(["query", "cursor"], "invalid cursor", "cursor")],
        ) from None


@dataclass(frozen=True)
class Page(Generic[Row]):
    items: list[Row]
    next_cursor: str | None


@dataclass(frozen=True)
class Keyset:
    """An ordering by columns that ends in a unique one, e.g. (created_at, id).

    `descending` applies to every column (mixed directions would need per-column
    comparisons; no list here needs them)."""

    columns: tuple[QueryableAttribute[Any] | ColumnElement[Any], ...]
    descending: bool = False

    def apply(self, stmt: Select[Any], cursor: str | None, limit: int) -> Select[Any]:
        if cursor:
            after = decode_cursor(cursor, len(self.columns))
            stmt = stmt.where(self._after(after))
        order = [c.desc() if self.descending else c.asc() for c in self.columns]
        return stmt.order_by(*order).limit(limit + 1)

    def page(
        self, rows: Sequence[Row], limit: int, key: Callable[[Row], Sequence[KeyValue]]
    ) -> Page[Row]:
        items = list(rows[:limit])
        more = len(rows) > limit
        return Page(items=items, next_cursor=encode_cursor(key(items[-1])) if more else None)

    def _after(self, values: Sequence[KeyValue]) -> ColumnElement[bool]:
        # a row comparison, (a, b) > (x, y): PostgreSQL turns it into one index range, so a
        # deep page costs what the first does (an OR of column comparisons may not)
        row = tuple_(*self.columns)
        bound = tuple_(
            *(
                literal(value, column.type)
                for value, column in zip(values, self.columns, strict=True)
            )
        )
        return row < bound if self.descending else row > bound


def escape_like(text: str) -> str:
    """Make user text literal inside a LIKE pattern (used with escape='\\')."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
