"""Marketplace search over 100,000 listings: through the HTTP API beside the same SQL run
directly, in one run.

* seed: one owner, 100,000 agents, their listings and listing versions (snapshots with system
  prompts of ~200 to ~2,000 characters), COPYed into a scratch database; the search rows are
  written by the listings' trigger, as in service. Titles have 2-4 words, summaries 6-14,
  descriptions 20-60; two words in five are stop words, the others come
  from ~190 common domain words (each in ~5% of listings; the 50 that are also tags in ~10%) and
  a tail of 10,000 rarer ones (each in ~0.2%). 20 categories, ratings and install counts spread
  out, 1% featured, 1% hidden, 0.5% unpublished.
* api: `functions/marketplace/main.py` under functions-framework (gunicorn, 1 worker x 8
  threads), anonymous `GET /?q=...` and `GET /?sort=rating` (also with a category), sequential
  on one keep-alive connection, after a warm-up. The q mix is 15 common words, 10 rare words and
  5 two-word queries; each kind is also reported on its own.
* sql: the statement the service sends for each of those requests (captured from SQLAlchemy),
  executed directly with pg8000 on one connection.

    .venv/bin/python bench/marketplace.py [--listings 100000] [--requests 300] [--database-url URL]
        [--explain]

Needs PostgreSQL (default postgresql://postgres@127.0.0.1:5432/postgres, trust auth); the
benchmark creates a scratch database there and drops it at the end.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import random
import secrets
import statistics
import sys
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from common import (  # type: ignore[import-not-found]
    DEFAULT_DATABASE_URL,
    HOST,
    ROOT,
    function_process,
    scratch_database,
)

MARKETPLACE = ROOT / "functions" / "marketplace" / "main.py"
COMMON_WORDS = """
agent assistant code review python javascript typescript rust golang sql database query schema
migration test testing unit integration deploy docker kubernetes cloud terraform infrastructure
monitor alert incident log logs metrics trace debug bug fix refactor lint format style document
documentation readme summary summarize translate translation english french german spanish
writer writing blog email reply support customer ticket triage sales lead marketing campaign
seo content social tweet post image chart report analytics data analysis spreadsheet csv excel
finance invoice budget tax legal contract compliance privacy security audit vulnerability scan
password policy access review hiring interview resume recruiting onboarding meeting notes agenda
calendar schedule planning roadmap product feature spec design ux research survey feedback
education tutor lesson quiz math physics chemistry biology history science paper citation
research arxiv news digest newsletter podcast video transcript caption subtitle audio music
recipe cooking travel trip itinerary weather health fitness workout nutrition journal habit
shopping price compare deal inventory order shipping warehouse logistics supplier procurement
api rest graphql webhook json yaml xml parser scraper crawler search index ranking recommend
chat bot conversation voice assistant workflow pipeline automation scheduler cron batch stream
"""
COMMON = sorted(set(COMMON_WORDS.split()))
CATEGORIES = [
    "productivity", "dev-tools", "writing", "data", "marketing", "sales", "support", "finance",
    "legal", "security", "education", "research", "media", "health", "travel", "shopping",
    "operations", "design", "hr", "fun",
]  # fmt: skip
TAGS = COMMON[:50]
# prose is about two fifths stop words, which to_tsvector drops
STOP_TEXT = (
    "the a an and or for with your to of in on that this it is are from by as at be you will "
    "can all any into each when its our their more than also then so which"
)
STOP = STOP_TEXT.split()
SYLLABLE_TEXT = "ka lo mi ra ven tor sel dun pa qui bre stam lix nor fel gro the wa zu cen"
SYLLABLES = SYLLABLE_TEXT.split()


def vocabulary(rng: random.Random) -> list[str]:
    rare: set[str] = set()
    while len(rare) < 10_000:
        rare.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(rare)


class Words:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.rare = vocabulary(rng)

    def pick(self, stop: float) -> str:
        roll = self.rng.random()
        if roll < stop:
            return self.rng.choice(STOP)
        # of the other words, three in ten are common ones, the rest from the long tail
        if roll < stop + (1 - stop) * 0.3:
            return self.rng.choice(COMMON)
        return self.rng.choice(self.rare)

    def text(self, low: int, high: int, *, stop: float = 0.4) -> str:
        return " ".join(self.pick(stop) for _ in range(self.rng.randint(low, high)))


def copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def copy_rows(rows: Iterator[tuple[Any, ...]]) -> io.BytesIO:
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(copy_text(v) for v in row) + "\n")
    return io.BytesIO(buffer.getvalue().encode())


def connect(database_url: str) -> Any:
    import pg8000.dbapi

    url = urllib.parse.urlsplit(database_url.replace("postgresql+pg8000://", "postgresql://"))
    return pg8000.dbapi.connect(
        user=url.username or "postgres",
        password=url.password,
        host=url.hostname or HOST,
        port=url.port or 5432,
        database=url.path.lstrip("/"),
    )


def seed(database_url: str, count: int, rng: random.Random) -> dict[str, Any]:
    words = Words(rng)
    owner = uuid.uuid4()
    definition = json.dumps({"model": {"provider": "test", "name": "test"}, "tools": []})
    now = datetime.now(UTC)
    agents: list[tuple[Any, ...]] = []
    listings: list[tuple[Any, ...]] = []
    versions: list[tuple[Any, ...]] = []
    for index in range(count):
        agent_id, listing_id = uuid.uuid4(), uuid.uuid4()
        display = words.text(2, 4, stop=0.1).title()
        name = f"{display.lower().replace(' ', '-')[:90]}-{index}"
        description = words.text(20, 60)
        tags = sorted(set(rng.sample(TAGS, rng.randint(1, 4))))
        ratings = rng.choice([0, 0, 0, rng.randint(1, 500)])
        rating_sum = sum(rng.randint(1, 5) for _ in range(min(ratings, 20)))
        average = round(rating_sum / min(ratings, 20), 2) if ratings else 0
        roll = rng.random()
        status = "featured" if roll < 0.01 else "hidden" if roll < 0.02 else "active"
        unpublished = now if rng.random() < 0.005 else None
        prompt = words.text(30, 300)  # system prompts of ~200 to ~2,000 characters
        snapshot = json.dumps(
            {
                "name": name,
                "display_name": display,
                "description": description,
                "version": "1.0.0",
                "agent_type": "single",
                "definition": {
                    "model": {"provider": "test", "name": "test"},
                    "system_prompt": prompt,
                },
            }
        )
        published = now - timedelta(seconds=rng.randint(0, 365 * 86400))
        agents.append(
            (agent_id, name, display, description, owner, definition, "private", "single", "1.0.0")
        )
        listings.append(
            (
                listing_id, agent_id, "1.0.0", owner, name, display, words.text(6, 12),
                description, rng.choice(CATEGORIES), "{" + ",".join(tags) + "}", "{}", status,
                int(average * ratings), ratings, average,
                rng.choice([0, 0, rng.randint(1, 50), rng.randint(1, 5000)]),
                published, unpublished,
            )
        )  # fmt: skip
        versions.append((listing_id, "1.0.0", "{}", snapshot, owner, published))
    conn = connect(database_url)
    cursor = conn.cursor()
    cursor.execute(
        "INSERT INTO users (id, username, email, password_hash, role) "
        "VALUES (%s, %s, %s, %s, 'user')",
        (str(owner), "bench-owner", "bench-owner@example.com", "-"),
    )
    cursor.execute(
        "COPY agents (id, name, display_name, description, owner_id, definition, scope, "
        "agent_type, version) FROM STDIN",
        stream=copy_rows(iter(agents)),
    )
    cursor.execute(
        "COPY agent_marketplace (id, agent_id, agent_version, owner_id, name, display_name, "
        "summary, description, category, tags, tools, status, rating_sum, "
        "rating_count, rating_average, install_count, published_at, unpublished_at) FROM STDIN",
        stream=copy_rows(iter(listings)),
    )
    cursor.execute(
        "COPY listing_versions (listing_id, agent_version, tools, snapshot, published_by, "
        "published_at) FROM STDIN",
        stream=copy_rows(iter(versions)),
    )
    conn.commit()
    conn.autocommit = True
    cursor.execute("VACUUM ANALYZE agent_marketplace")
    cursor.execute("VACUUM ANALYZE listing_search")
    cursor.execute("VACUUM ANALYZE agents")
    cursor.execute("VACUUM ANALYZE listing_versions")
    cursor.execute("CHECKPOINT")  # the seed's writes are not flushed during the measurements
    conn.close()
    return {"words": words}


def query_classes(words: Words, rng: random.Random) -> dict[str, list[dict[str, str]]]:
    """q searches by kind; the mix the target is about is half common words, a third rare words
    and the rest two common words."""
    return {
        "common word": [{"q": rng.choice(COMMON)} for _ in range(15)],
        "rare word": [{"q": rng.choice(words.rare)} for _ in range(10)],
        "two words": [{"q": f"{rng.choice(COMMON)} {rng.choice(COMMON)}"} for _ in range(5)],
    }


def matches(database_url: str, cases: list[dict[str, str]]) -> float:
    """How many listings the searches match, on average."""
    conn = connect(database_url)
    cursor = conn.cursor()
    counts = []
    for case in cases:
        cursor.execute(
            "SELECT count(*) FROM listing_search "
            "WHERE search_vector @@ websearch_to_tsquery('english', %s)",
            (case["q"],),
        )
        counts.append(cursor.fetchone()[0])
    conn.close()
    return statistics.mean(counts)


def capture_sql(params: dict[str, str]) -> tuple[str, Any]:
    """The statement (and parameters) the service sends for these search parameters."""
    from sqlalchemy import event

    from core.db import get_engine, transaction
    from core.schemas.marketplace import ListingsQuery
    from core.services.marketplace import search_listings

    seen: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", grab)
    try:
        with transaction() as db:
            seen.clear()
            search_listings(db, user=None, query=ListingsQuery.model_validate(params))
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    selects = [s for s in seen if s[0].lstrip().upper().startswith("SELECT")]
    return selects[-1]


def timed(call: Callable[[int], None], n: int, warmup: int) -> list[float]:
    for i in range(warmup):
        call(i)
    samples = []
    for i in range(n):
        started = time.perf_counter()
        call(i)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def api_latency(port: int, cases: list[dict[str, str]], n: int, warmup: int) -> list[float]:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)

    def call(i: int) -> None:
        conn.request("GET", "/?" + urllib.parse.urlencode(cases[i % len(cases)]))
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{cases[i % len(cases)]} answered {response.status}: {body!r}")

    return timed(call, n, warmup)


def sql_latency(
    database_url: str, statements: list[tuple[str, Any]], n: int, warmup: int
) -> list[float]:
    conn = connect(database_url)
    cursor = conn.cursor()

    def call(i: int) -> None:
        statement, parameters = statements[i % len(statements)]
        cursor.execute(statement, parameters)
        cursor.fetchall()
        conn.rollback()

    try:
        return timed(call, n, warmup)
    finally:
        conn.close()


def explain(database_url: str, label: str, statement: tuple[str, Any]) -> None:
    conn = connect(database_url)
    cursor = conn.cursor()
    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement[0], statement[1])
    print(f"-- {label}")
    for (line,) in cursor.fetchall():
        print("   ", line)
    conn.close()


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--listings", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--explain", action="store_true", help="print the query plans too")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    with scratch_database(args.database_url) as database_url:
        started = time.perf_counter()
        seeded = seed(database_url, args.listings, rng)
        seed_s = time.perf_counter() - started
        env = {
            "APP_ENV": "local",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "DATABASE_URL": database_url,
            "LOG_LEVEL": "WARNING",
            "DATA_DIR": str(ROOT / ".data" / "bench"),
        }
        os.environ.update(env)
        classes = query_classes(seeded["words"], rng)
        mix = [case for cases in classes.values() for case in cases]
        rng.shuffle(mix)
        workloads = {
            "q (mix)": mix,
            **{f"  q: {kind}": cases for kind, cases in classes.items()},
            "sort=rating": [{"sort": "rating"}],
            "sort=rating&category": [{"sort": "rating", "category": c} for c in CATEGORIES],
        }
        matched = {f"  q: {kind}": matches(database_url, cases) for kind, cases in classes.items()}
        statements = {
            name: [capture_sql(params) for params in cases] for name, cases in workloads.items()
        }
        if args.explain:
            for name, captured in statements.items():
                explain(database_url, name, captured[0])
        results = {}
        with function_process(MARKETPLACE, "entry", env, ready_path="/openapi.json") as port:
            for name, cases in workloads.items():
                results[name] = (
                    api_latency(port, cases, args.requests, args.warmup),
                    sql_latency(database_url, statements[name], args.requests, args.warmup),
                )
        from core.db import reset_engine

        reset_engine()

    print(
        f"marketplace search, {args.listings:,} listings (seeded in {seed_s:.1f} s), "
        f"{args.requests} sequential requests per workload after {args.warmup} of warm-up; "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    print(
        f"{'workload':<22} {'api p50':>8} {'api p95':>8} {'sql p50':>8} {'sql p95':>8}"
        f"  {'matches':>8}  (ms; matches: listings a search matches, mean)"
    )
    for name, (api, sql) in results.items():
        found = f"{matched[name]:>8,.0f}" if name in matched else ""
        print(
            f"{name:<22} {pct(api, 50):>8.2f} {pct(api, 95):>8.2f} "
            f"{pct(sql, 50):>8.2f} {pct(sql, 95):>8.2f}  {found}"
        )
    for name in ("q (mix)", "sort=rating"):
        p95 = pct(results[name][0], 95)
        verdict = "met" if p95 <= 25 else "NOT met"
        print(f"{name}: api p95 {p95:.2f} ms, target ≤ 25 ms {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
