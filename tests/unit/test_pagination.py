from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import BigInteger, Column, DateTime, Float, Integer, Numeric, Uuid

from core.errors import Invalid
from core.pagination import decode_cursor, encode_cursor, escape_like
from core.schemas.common import cursor_field

TIME, ID = Column("t", DateTime(timezone=True)), Column("id", Uuid())
MIXED = [TIME, ID, Column("n", Numeric()), Column("i", Integer()), Column("f", Float())]


def pattern(*shape: str) -> str:
    return str(cursor_field(*shape).metadata[-1].pattern)


def test_a_cursor_is_the_sort_key_written_out_and_reads_back_the_same():
    values = [
        datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        uuid.uuid4(),
        Decimal("4.25"),
        7,
        1.5e-07,
    ]
    cursor = encode_cursor(values)
    assert cursor.split("_")[:2] == ["1767323045000006", values[1].hex]
    assert decode_cursor(cursor, MIXED) == values
    assert re.fullmatch(pattern("number", "uuid", "number", "number", "number"), cursor)


@pytest.mark.parametrize(
    "cursor",
    ["", "1", "1_2", f"{uuid.uuid4().hex}_1", "1_" + "g" * 32],
)
def test_a_cursor_of_another_shape_is_a_validation_error(cursor):
    with pytest.raises(Invalid) as caught:
        decode_cursor(cursor, [TIME, ID])
    assert caught.value.details[0]["loc"] == ["query", "cursor"]


@settings(max_examples=300, deadline=None)
@given(
    st.from_regex(pattern("number", "uuid"), fullmatch=True), st.sampled_from(MIXED[:1] + MIXED[2:])
)
def test_any_cursor_the_document_allows_is_a_position(cursor, first):
    """What a client (or a fuzzer) makes up from the pattern reads as a key of the column's
    type, clamped into its range: a page after it, maybe empty, never a 422 or a 500."""
    number, _ = decode_cursor(cursor, [first, ID])
    kind = first.type
    if isinstance(kind, DateTime):
        assert isinstance(number, datetime)
        assert number.tzinfo is not None
    elif isinstance(kind, Integer):
        assert -(2**31) <= number < 2**31
    elif isinstance(kind, Float):
        assert isinstance(number, float)
        assert abs(number) < float("inf")


def test_wide_integers_keep_their_range():
    assert decode_cursor("99999999999999999999", [Column("n", BigInteger())]) == [2**63 - 1]


def test_like_wildcards_are_escaped():
    assert escape_like("50%_off\\") == "50\\%\\_off\\\\"
