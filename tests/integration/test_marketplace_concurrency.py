"""Counts stay exact when many users rate and install at once.

These tests need real commits from concurrent transactions, which the rolled-back `db` fixture
cannot give: they run on a throwaway database of their own (tests.support.concurrency)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.support.agents import create_agent
from tests.support.concurrency import at_once, committing_app, own_database, users  # noqa: F401

RATERS = 20


@pytest.fixture(scope="module")
def scratch_engine(engine: Engine, database_url: str) -> Iterator[Engine]:
    yield from own_database(engine, database_url, pool_size=RATERS + 5)


def published(app: Any, headers: dict[str, str]) -> dict[str, Any]:
    client = app.test_client()
    agent = create_agent(client, headers)
    response = client.post(
        "/marketplace", headers=headers, json={"agent_id": agent["id"], "category": "load"}
    )
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def listing_row(listing_id: str) -> Any:
    from core.db import transaction
    from core.models.marketplace import Listing, ListingInstall, Rating

    with transaction() as db:
        listing = db.get(Listing, uuid.UUID(listing_id))
        assert listing is not None
        installs = db.scalar(
            sa.select(sa.func.count()).where(ListingInstall.listing_id == listing.id)
        )
        ratings = db.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(Rating.score), 0)).where(
                Rating.listing_id == listing.id
            )
        ).one()
        return listing, installs, tuple(ratings)


def test_concurrent_installs_count_each_user_once(app):
    (_, owner), *installers = users(RATERS + 1)
    listing = published(app, owner)
    path = f"/marketplace/{listing['id']}/install"
    # 20 users at once, and one of them 4 more times in the same burst
    calls = [lambda c, h=headers: c.post(path, headers=h) for _, headers in installers]
    calls += [lambda c, h=installers[0][1]: c.post(path, headers=h) for _ in range(4)]
    responses = at_once(app, calls)

    assert [r.status_code for r in responses] == [201] * len(calls)
    names = {r.get_json()["name"] for r in responses[-5:] + responses[:1]}
    assert len(names) == 5  # the repeated installs got distinct names
    row, installs, _ = listing_row(listing["id"])
    assert (row.install_count, installs) == (RATERS, RATERS)


def test_twenty_concurrent_raters_leave_exact_totals(app):
    (_, owner), *raters = users(RATERS + 1)
    listing = published(app, owner)
    base = f"/marketplace/{listing['id']}"
    for _, headers in raters:
        assert app.test_client().post(f"{base}/install", headers=headers).status_code == 201

    def rating(headers: dict[str, str], score: int) -> Callable[[Any], Any]:
        return lambda client: client.post(f"{base}/ratings", headers=headers, json={"score": score})

    first = [1 + i % 5 for i in range(RATERS)]
    responses = at_once(app, [rating(h, s) for (_, h), s in zip(raters, first, strict=True)])
    assert [r.status_code for r in responses] == [201] * RATERS
    row, _, (count, total) = listing_row(listing["id"])
    assert (row.rating_count, row.rating_sum, count, total) == (RATERS, sum(first), RATERS, 60)
    assert row.rating_average == Decimal("3.00")

    # everyone changes their mind at once, and one of them sends two ratings in the same burst
    second = [5 if i % 2 else 4 for i in range(RATERS)]
    calls = [rating(h, s) for (_, h), s in zip(raters, second, strict=True)]
    calls.append(rating(raters[1][1], second[1]))
    responses = at_once(app, calls)
    assert {r.status_code for r in responses} == {200}
    row, _, (count, total) = listing_row(listing["id"])
    assert (row.rating_count, row.rating_sum, count, total) == (RATERS, 90, RATERS, 90)
    assert row.rating_average == Decimal("4.50")
