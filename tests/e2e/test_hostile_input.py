"""Input real clients send that the fuzzer's defaults do not: lone surrogates in JSON strings
(`"\\ud800"`, valid JSON, not encodable text), tzdata's folder names and the host's `localtime`
as a schedule's time zone, and a Last-Event-ID beyond a bigint. Each is a 4xx naming the field,
never a 500 (over HTTP to `make dev`'s server)."""

from __future__ import annotations

from typing import Any

import requests

from tests.conftest import unique_name
from tests.e2e.test_faults import new_agent, signed_up
from tests.support.report import report

SURROGATE = '"\\ud800"'  # as JSON text: the six characters \ud800


def raw_json(http: Any, path: str, text: str, headers: dict[str, str] | None = None) -> Any:
    return http.post(
        path, data=text.encode(), headers={"Content-Type": "application/json", **(headers or {})}
    )


def test_hostile_requests_are_answered_4xx_naming_the_field(http: Any) -> None:
    headers = signed_up(http.url)
    agent = new_agent(http.url, headers)
    session = http.post("/sessions", json={"agent_id": agent}, headers=headers).json()
    run = http.post(f"/agents/{agent}/execute", json={"input": "hi"}, headers=headers).json()
    refresh_token = "x"
    cases: list[tuple[str, Any]] = [
        ("login", raw_json(http, "/auth/login", f'{{"username":{SURROGATE},"password":"x"}}')),
        (
            "register",
            raw_json(
                http,
                "/auth/register",
                f'{{"username":{SURROGATE},"email":"a@example.com","password":"12345678"}}',
            ),
        ),
        (
            "refresh",
            raw_json(http, "/auth/refresh", f'{{"refresh_token":"{refresh_token}\\ud800"}}'),
        ),
        (
            "session title",
            http.patch(
                f"/sessions/{session['id']}",
                data=f'{{"title":{SURROGATE}}}'.encode(),
                headers={**headers, "Content-Type": "application/json"},
            ),
        ),
        (
            "execute input",
            raw_json(http, f"/agents/{agent}/execute", f'{{"input":{SURROGATE}}}', headers),
        ),
        (
            "credential",
            raw_json(
                http,
                "/credentials",
                f'{{"name":"k","value":{SURROGATE},"allowed_hosts":["a.example"]}}',
                headers,
            ),
        ),
        (
            "agent name",
            raw_json(
                http,
                "/agents",
                f'{{"name":"a","display_name":{SURROGATE},"definition":{{}}}}',
                headers,
            ),
        ),
        (
            "AG-UI message",
            raw_json(
                http,
                f"/agents/{agent}/ag-ui",
                '{"threadId":"' + session["id"] + '","runId":"r","state":null,"tools":[],'
                '"context":[],"forwardedProps":null,'
                f'"messages":[{{"id":"m","role":"user","content":{SURROGATE}}}]}}',
                headers,
            ),
        ),
    ]
    for zone in ("America", "Europe", "Etc", "US", "localtime"):
        cases.append(
            (
                f"time zone {zone}",
                http.post(
                    f"/agents/{agent}/schedules",
                    json={"cron": "0 9 * * *", "timezone": zone, "input": "x"},
                    headers=headers,
                ),
            )
        )
    for path in (f"/executions/{run['id']}/events", f"/sessions/{session['id']}/events"):
        cases.append(
            (
                f"Last-Event-ID 2^63 on {path.split('/')[1]}",
                http.get(
                    path,
                    headers={
                        **headers,
                        "Accept": "text/event-stream",
                        "Last-Event-ID": "9223372036854775808",
                    },
                ),
            )
        )
    assert len(cases) == 15
    for name, answer in cases:
        error = answer.json()["error"]
        report(
            "hostile input",
            f"{name}: {answer.status_code} {error['code']} at "
            f"{[d['path'] or d['loc'] for d in error['details']]}",
        )
        assert 400 <= answer.status_code < 500, (name, answer.status_code, answer.text)
        assert answer.status_code == 422, (name, answer.text)
        assert error["details"], name


def test_a_valid_zone_and_a_surrogate_pair_are_fine(http: Any) -> None:
    headers = signed_up(http.url)
    agent = new_agent(http.url, headers)
    made = http.post(
        f"/agents/{agent}/schedules",
        json={"cron": "0 9 * * *", "timezone": "America/New_York", "input": "x"},
        headers=headers,
    )
    assert made.status_code == 201, made.text
    # a pair of surrogate escapes is one real character (an emoji): accepted
    named = raw_json(
        http,
        "/agents",
        '{"name":"' + unique_name("a") + '","display_name":"\\ud83d\\ude00","definition":{}}',
        headers,
    )
    assert named.status_code == 201, named.text
    assert named.json()["display_name"] == "\N{GRINNING FACE}"
    assert requests  # (the http fixture speaks requests)
