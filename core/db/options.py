"""Execution options our dialect (core.db.dialect) reads from a statement: kept apart from the
engine, which loads that dialect by name, so neither needs the other."""

from __future__ import annotations

from typing import Any

THEN_COMMIT = "core_then_commit"


def then_commit(*, relaxed: bool = False) -> dict[str, Any]:
    """Execution options for the last statement of a transaction: the COMMIT travels with it
    (one round trip for both; the session's commit afterwards sends nothing). `relaxed` does
    not wait for the WAL to reach disk: for rows whose loss in a database crash nobody could
    notice. Inside a savepoint (the tests' sessions) the statement runs as usual."""
    return {THEN_COMMIT: "relaxed" if relaxed else "durable"}


CUSTOM_PLAN = "core_custom_plan"


def custom_plan() -> dict[str, Any]:
    """Execution options for a statement whose best plan depends on its values (a search over
    skewed data): the server plans it for its own parameters every time, where a prepared
    statement would settle on one generic plan after five executions."""
    return {CUSTOM_PLAN: True}


COMMITS = {
    "durable": "commit",
    # for rows whose loss in a database crash nobody could notice
    "relaxed": "SET LOCAL synchronous_commit = off; commit",
}
