"""PostgreSQL stopped and started under load, with `make dev`'s server on a PostgreSQL of its
own (tests.support.outage): every answer meanwhile is a 503 with Retry-After (never a 500), a
sync caller whose run was under way hears that run's id and a Location, every run ends
succeeded once the database is back, and the tool ran once per run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.outage import run_outage
from tests.support.report import report


@pytest.mark.slow
def test_a_database_outage_answers_503_and_every_run_goes_on(tmp_path: Path) -> None:
    outcome = run_outage(tmp_path, outage_s=4, clients=4, async_runs=8, in_flight=3, tool_s=2)
    for line in outcome.lines():
        report("database outage", line)
    assert outcome.during, "the load got no answer while the database was down"
    assert {status for _, status in outcome.during} == {503}
    assert outcome.ready == (503, "5")
    for told in outcome.in_flight:
        assert told["status"] == 503, told
        assert told["code"] == "unavailable"
        assert told["execution_id"]
        assert told["location"] == f"/executions/{told['execution_id']}"
        assert told["retry_after"] == "5"
    assert dict(outcome.finals) == {"succeeded": outcome.runs}
    assert outcome.tool_calls == outcome.runs
