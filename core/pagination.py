"""Keyset pagination: a page continues strictly after the last row of the previous one, so a
deep page costs what the first does.

A cursor is that row's sort key, written out: its parts joined by `_`, each a number (a time is
microseconds since 1970 UTC) or a UUID as 32 hex digits. Any cursor of a list's shape is a
position in it (a page after that key, maybe empty), so the document can state the whole rule
as a pattern (core.schemas.common) and nothing a client may send is refused past it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    Integer,
    Numeric,
    Select,
    Uuid,
    literal,
    tuple_,
)
from sqlalchemy.orm import QueryableAttribute, Session
from sqlalchemy.sql.elements import ColumnElement

from core.errors import Invalid, field_error
from core.schemas.common import CURSOR_NUMBER, CURSOR_UUID

Row = TypeVar("Row")
KeyValue = datetime | uuid.UUID | int | str | Decimal | float

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_EARLIEST = datetime.min.replace(tzinfo=UTC) + timedelta(days=1)
_LATEST = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)
_INT_RANGES = {Integer: 2**31 - 1, BigInteger: 2**63 - 1}
_FLOAT_MAX = 1.7976931348623157e308


def encode_cursor(values: Sequence[KeyValue]) -> str:
    return "_".join(_encode(value) for value in values)


def _encode(value: KeyValue) -> str:
    if isinstance(value, datetime):
        return str((value - _EPOCH) // _MICROSECOND)
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bool | str):
        raise TypeError(f"no cursor part for {value!r}")
    return repr(value)  # int, float (repr is the shortest text that reads back the same)


def decode_cursor(cursor: str, columns: Sequence[Any]) -> list[KeyValue]:
    """The key a cursor names, one value per column (of the column's type); a cursor of
    another list's shape is a 422."""
    parts = cursor.split("_")
    if len(parts) != len(columns):
        raise _not_this_list()
    return [_decode(part, column.type) for part, column in zip(parts, columns, strict=True)]


def _decode(part: str, kind: Any) -> KeyValue:
    import re

    if isinstance(kind, Uuid):
        if not re.fullmatch(CURSOR_UUID, part):
            raise _not_this_list()
        return uuid.UUID(hex=part)
    if not re.fullmatch(CURSOR_NUMBER, part):
        raise _not_this_list()
    try:
        number = Decimal(part)
    except InvalidOperation:
        raise _not_this_list() from None
    if isinstance(kind, DateTime):
        micros = int(number)
        try:
            return max(_EARLIEST, min(_LATEST, _EPOCH + micros * _MICROSECOND))
        except OverflowError:
            return _LATEST if micros > 0 else _EARLIEST
    if isinstance(kind, Integer):
        bound = next((b for t, b in _INT_RANGES.items() if type(kind) is t), 2**31 - 1)
        return max(-bound - 1, min(bound, int(number)))
    if isinstance(kind, Float):
        return max(-_FLOAT_MAX, min(_FLOAT_MAX, float(number)))
    return number


def _not_this_list() -> Invalid:
    return Invalid(
        "the cursor is not one of this list's positions",
        details=[field_error(["query", "cursor"], "not a cursor of this list", "cursor")],
    )


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
            after = decode_cursor(cursor, self.columns)
            stmt = stmt.where(self._after(after))
        order = [c.desc() if self.descending else c.asc() for c in self.columns]
        return stmt.order_by(*order).limit(limit + 1)

    def fetch(
        self,
        db: Session,
        stmt: Select[Any],
        cursor: str | None,
        limit: int,
        *,
        where: Mapping[Any, Any] | None = None,
    ) -> Page[Any]:
        """One page of the statement's rows (ORM objects) in this order, after `cursor`. `where`
        maps a column to the value it must equal, for each filter the caller gave (None: not
        given, not applied)."""
        for column, value in (where or {}).items():
            if value is not None:
                stmt = stmt.where(column == value)
        rows = db.scalars(self.apply(stmt, cursor, limit)).all()
        names = [str(column.key) for column in self.columns]
        return self.page(rows, limit, key=lambda row: [getattr(row, name) for name in names])

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
                literal(value, _unbounded(column.type))
                for value, column in zip(values, self.columns, strict=True)
            )
        )
        return row < bound if self.descending else row > bound


def _unbounded(kind: Any) -> Any:
    """A key's type without the column's precision: a position past any stored value (a made-up
    cursor's 1e20 against a rating's numeric(3,2)) compares, where casting it would overflow."""
    if isinstance(kind, Numeric) and not isinstance(kind, Float):
        return Numeric()
    return kind


def escape_like(text: str) -> str:
    """Make user text literal inside a LIKE pattern (used with escape='\\')."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
