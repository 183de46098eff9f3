from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from core.errors import Invalid
from core.pagination import decode_cursor, encode_cursor, escape_like


def test_cursor_round_trips_typed_values_and_is_url_safe():
    values = [datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), uuid.uuid4(), Decimal("4.25"), 7, "x"]
    cursor = encode_cursor(values)
    assert all(c.isalnum() or c in "-_" for c in cursor)
    assert decode_cursor(cursor, len(values)) == values


@pytest.mark.parametrize("cursor", ["", "!!!", "bm90IGpzb24", encode_cursor([1])])
def test_foreign_cursors_are_a_validation_error(cursor):
    with pytest.raises(Invalid) as caught:
        decode_cursor(cursor, 2)
    assert caught.value.details[0]["loc"] == ["query", "cursor"]


def test_like_wildcards_are_escaped():
    assert escape_like("50%_off\\") == "50\\%\\_off\\\\"
