"""A failed statement's error, as it reaches a log (an unexpected error is logged whole), names
the statement but never the values it was sent: a run's input, a key's hash or a sealed value
must not land in the logs because a statement failed."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from core.db.direct import DirectStatement

SECRET = "s3cret-never-logged"
# fails after binding, and PostgreSQL's own message does not quote the value
FAILING = sa.select(sa.literal_column("1 / 0")).where(
    sa.bindparam("secret", type_=sa.Text) != sa.literal("")
)


def test_the_services_engine_leaves_values_out_of_its_errors(engine: Any) -> None:
    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError) as failed:
        conn.execute(FAILING, {"secret": SECRET})
    assert "division by zero" in str(failed.value)
    assert SECRET not in str(failed.value)


def test_a_statement_sent_directly_leaves_values_out_of_its_errors(engine: Any) -> None:
    direct = DirectStatement(FAILING, engine.dialect)
    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError) as failed:
        direct.rows(conn, {"secret": SECRET})
    assert "division by zero" in str(failed.value)
    assert SECRET not in str(failed.value)
