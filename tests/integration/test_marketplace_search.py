"""GET /marketplace: full-text ranking, each filter and sort, and keyset pages that neither skip
nor repeat a listing."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from tests.integration.test_marketplace import published_agent
from tests.support.api import assert_error, bearer, signed_up, signed_up_with_role


def word() -> str:
    """A word no other listing contains."""
    return "w" + uuid.uuid4().hex[:10]


def search(client: Any, **params: Any) -> dict[str, Any]:
    response = client.get("/marketplace", query_string=params)
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def ids(client: Any, **params: Any) -> list[str]:
    return [item["id"] for item in search(client, **params)["items"]]


def every_page(client: Any, limit: int, **params: Any) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        page = search(client, limit=limit, **params, **({"cursor": cursor} if cursor else {}))
        assert len(page["items"]) <= limit
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


def set_counts(db: Any, listing_id: str, *, rating: str = "0", installs: int = 0) -> None:
    from core.models.marketplace import Listing

    row = db.get(Listing, uuid.UUID(listing_id))
    row.rating_average = Decimal(rating)
    row.install_count = installs
    db.flush()


def test_a_title_match_outranks_a_summary_match_which_outranks_a_description_match(client):
    _, headers = signed_up(client)
    term = word()
    _, in_description = published_agent(
        client, headers, agent={"description": f"Mentions {term} once, deep in the text"}
    )
    _, in_title = published_agent(client, headers, agent={"display_name": f"The {term} agent"})
    _, in_summary = published_agent(client, headers, summary=f"Good at {term}")
    published_agent(client, headers, agent={"display_name": "Unrelated"})
    assert ids(client, q=term) == [in_title["id"], in_summary["id"], in_description["id"]]


def test_search_uses_stemming_tags_and_web_search_syntax(client):
    _, headers = signed_up(client)
    term = word()
    _, reviewer = published_agent(
        client,
        headers,
        agent={"display_name": f"{term} reviewer", "description": "Reviews pull requests"},
    )
    _, tagged = published_agent(client, headers, tags=[term, "translation"])
    assert ids(client, q=f"{term} reviewing") == [reviewer["id"]]
    assert set(ids(client, q=term)) == {reviewer["id"], tagged["id"]}
    assert ids(client, q=f"{term} -translation") == [reviewer["id"]]
    assert ids(client, q=f'"{term} reviewer"') == [reviewer["id"]]
    assert ids(client, q=f"{term} or nothingmatcheshere") != []
    assert ids(client, q="the") == []  # only a stop word: no lexeme, no match


def test_category_tag_and_text_filters_combine(client):
    _, headers = signed_up(client)
    term = word()
    category = f"c-{term}"
    _, both = published_agent(client, headers, category=category, tags=["git", "review"])
    _, git_only = published_agent(client, headers, category=category, tags=["git"])
    _, elsewhere = published_agent(
        client, headers, category=f"{category}-x", tags=["git", "review"]
    )
    assert set(ids(client, category=category)) == {both["id"], git_only["id"]}
    assert set(ids(client, category=category.upper(), tag="git")) == {both["id"], git_only["id"]}
    assert ids(client, category=category, tag=["git", "review"]) == [both["id"]]
    assert ids(client, category=category, tag="missing") == []
    assert elsewhere["id"] in ids(client, category=f"{category}-x")


def test_sorts_by_rating_installs_and_newest(client, db):
    _, headers = signed_up(client)
    category = f"c-{word()}"
    listings = [published_agent(client, headers, category=category)[1] for _ in range(4)]
    a, b, c, d = (listing["id"] for listing in listings)
    set_counts(db, a, rating="4.50", installs=3)
    set_counts(db, b, rating="2.00", installs=10)
    set_counts(db, c, rating="5.00", installs=0)
    set_counts(db, d, rating="4.50", installs=3)
    tie = sorted([a, d], reverse=True)  # equal keys: the id decides, descending

    assert ids(client, category=category, sort="rating") == [c, *tie, b]
    assert ids(client, category=category, sort="installs") == [b, *tie, c]
    assert ids(client, category=category, sort="newest") == [d, c, b, a]
    assert ids(client, category=category) == [d, c, b, a]  # newest is the default without q
    assert ids(client, category=category, sort="relevance") == [d, c, b, a]


@pytest.mark.parametrize("sort", ["relevance", "rating", "installs", "newest"])
def test_pages_neither_skip_nor_repeat(client, db, sort):
    _, headers = signed_up(client)
    term = word()
    category = f"c-{term}"
    created = []
    for index in range(7):
        # identical texts give equal ranks, repeated counts give equal keys: ties everywhere
        name = f"{term} helper" if index % 2 else f"{term} {term} helper"
        _, listing = published_agent(
            client, headers, category=category, agent={"display_name": name}
        )
        set_counts(db, listing["id"], rating=str(index % 3), installs=index % 2)
        created.append(listing["id"])
    params = {"category": category, "sort": sort, "q": term}
    whole = ids(client, limit=100, **params)
    assert sorted(whole) == sorted(created)
    for limit in (1, 2, 3):
        assert every_page(client, limit, **params) == whole
    # a made-up position beyond any key of its type pages from where it would sort
    big, small = "99999999999999999999", "-99999999999999999999"
    for number, expected in ((big, whole), (small, [])):
        assert ids(client, limit=100, cursor=f"{number}_{'f' * 32}", **params) == expected


def test_relevance_pages_follow_rank_then_id(client):
    _, headers = signed_up(client)
    term = word()
    strong = [
        published_agent(client, headers, agent={"display_name": f"{term} tool"})[1]["id"]
        for _ in range(3)
    ]
    weak = [
        published_agent(client, headers, agent={"description": f"about {term}"})[1]["id"]
        for _ in range(3)
    ]
    expected = sorted(strong, reverse=True) + sorted(weak, reverse=True)
    assert every_page(client, 2, q=term) == expected


def test_search_needs_no_token_but_refuses_a_bad_one(client):
    assert search(client)["items"] is not None
    assert_error(client.get("/marketplace", headers=bearer("not-a-token")), 401)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"sort": "popular"}, "sort"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"featured": "maybe"}, "featured"),
        ({"category": "a b"}, "category"),
        ({"q": "x" * 201}, "q"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_search_parameters_are_422(client, params, field):
    error = assert_error(client.get("/marketplace", query_string=params), 422)
    assert error["details"][0]["loc"][:2] == ["query", field]


def test_a_blank_q_is_no_q(client):
    _, headers = signed_up(client)
    category = f"c-{word()}"
    _, listing = published_agent(client, headers, category=category)
    assert ids(client, category=category, q="  ") == [listing["id"]]


def test_search_follows_every_change_to_a_listing(client, db):
    _, headers = signed_up(client)
    _, moderator = signed_up_with_role(client, db, "moderator")
    old, new, renamed = word(), word(), word()
    agent, listing = published_agent(client, headers, summary=f"about {old}")
    assert ids(client, q=old) == [listing["id"]]

    client.patch(f"/marketplace/{listing['id']}", headers=headers, json={"summary": f"now {new}"})
    assert ids(client, q=old) == []
    assert ids(client, q=new) == [listing["id"]]

    client.patch(f"/marketplace/{listing['id']}", headers=headers, json={"tags": [renamed]})
    assert ids(client, q=renamed) == [listing["id"]]

    client.patch(f"/agents/{agent['id']}", headers=headers, json={"display_name": "Fresh name"})
    client.patch(f"/marketplace/{listing['id']}", headers=headers, json={"republish": True})
    assert listing["id"] in ids(client, q="fresh", limit=100)

    client.patch(f"/marketplace/{listing['id']}", headers=moderator, json={"status": "hidden"})
    assert ids(client, q=new) == []
    own = client.get("/marketplace", query_string={"q": new, "owned": "true"}, headers=headers)
    assert [item["id"] for item in own.get_json()["items"]] == [listing["id"]]
    client.patch(f"/marketplace/{listing['id']}", headers=moderator, json={"status": "featured"})
    assert ids(client, q=new, featured="true") == [listing["id"]]

    client.delete(f"/marketplace/{listing['id']}", headers=headers)
    assert ids(client, q=new) == []
