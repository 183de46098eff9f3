"""Schedules: made, listed, changed, paused and deleted by their owner only; fired by the sweep
on a clock moved by hand: each due slot one async execution (`trigger: "schedule"`), slots
missed in a downtime run once, a refused slot is skipped and recorded, and a schedule whose
owner can no longer run the agent stops with its reason."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from core.models.executions import AgentExecution, ExecutionMode, ExecutionStatus
from core.models.schedules import Schedule
from tests.support.agents import create_agent
from tests.support.api import assert_error, signed_up, signed_up_with_role


class Clock:
    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


@pytest.fixture(autouse=True)
def _only_this_tests_schedules(db: Any) -> None:
    """Schedules other tests committed (servers of the e2e tests share the database) are not
    due here: the sweeps below count this test's own (undone with its transaction)."""
    from sqlalchemy import update

    db.execute(update(Schedule).values(enabled=False, next_run_at=None))
    db.flush()


def sweep_at(now: datetime, queue: Any) -> dict[str, int]:
    from core.config import get_settings
    from core.runs.backends import Backends
    from core.services.schedules import fire_due

    return fire_due(Backends(get_settings(), queue=queue, clock=Clock(now)))


def runs_of(db: Any, schedule_id: str) -> list[AgentExecution]:
    db.expire_all()
    return list(
        db.scalars(
            select(AgentExecution)
            .where(AgentExecution.schedule_id == uuid.UUID(schedule_id))
            .order_by(AgentExecution.created_at)
        )
    )


def schedule_row(db: Any, schedule_id: str) -> Schedule:
    db.expire_all()
    row = db.get(Schedule, uuid.UUID(schedule_id))
    assert row is not None
    return row


def make(client: Any, headers: dict[str, str], agent_id: str, **body: Any) -> dict[str, Any]:
    response = client.post(
        f"/agents/{agent_id}/schedules",
        headers=headers,
        json={"cron": "* * * * *", "input": "tick"} | body,
    )
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_schedule_is_made_listed_changed_and_deleted_by_its_owner(client):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    made = make(client, headers, agent["id"], cron="0 9 * * 1-5", timezone="Europe/Paris")
    assert made["enabled"] is True
    assert made["last_run_at"] is None
    next_run = at(made["next_run_at"])
    assert next_run > datetime.now(UTC)
    assert next_run.astimezone(ZoneInfo("Europe/Paris")).hour == 9
    listed = client.get(f"/agents/{agent['id']}/schedules", headers=headers).get_json()
    assert [s["id"] for s in listed["items"]] == [made["id"]]
    assert client.get(f"/schedules/{made['id']}", headers=headers).get_json() == made

    paused = client.patch(f"/schedules/{made['id']}", headers=headers, json={"enabled": False})
    assert paused.status_code == 200
    assert paused.get_json()["enabled"] is False
    assert paused.get_json()["next_run_at"] is None
    changed = client.patch(
        f"/schedules/{made['id']}", headers=headers, json={"enabled": True, "cron": "30 * * * *"}
    ).get_json()
    assert at(changed["next_run_at"]).minute == 30
    assert changed["cron"] == "30 * * * *"

    assert client.delete(f"/schedules/{made['id']}", headers=headers).status_code == 204
    assert_error(client.get(f"/schedules/{made['id']}", headers=headers), 404)


def test_someone_elses_schedule_or_private_agent_is_not_found(client):
    _, owner = signed_up(client)
    _, stranger = signed_up(client)
    agent = create_agent(client, owner)
    made = make(client, owner, agent["id"])
    assert_error(client.get(f"/schedules/{made['id']}", headers=stranger), 404)
    assert_error(
        client.patch(f"/schedules/{made['id']}", headers=stranger, json={"enabled": False}), 404
    )
    assert_error(client.delete(f"/schedules/{made['id']}", headers=stranger), 404)
    assert_error(
        client.post(
            f"/agents/{agent['id']}/schedules",
            headers=stranger,
            json={"cron": "* * * * *", "input": "x"},
        ),
        404,
    )
    assert_error(client.get(f"/agents/{agent['id']}/schedules", headers=stranger), 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cron": "* * * * * *"}, "cron"),  # six fields: seconds are not offered
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "0 0 30 2 *"}, "cron"),  # never fires
        ({"cron": "@daily    "}, "cron"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"session_id": None}, "session_id"),
        ({"input": []}, "input"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_a_bad_schedule_is_a_422_naming_its_field(client, body, field):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    response = client.post(
        f"/agents/{agent['id']}/schedules",
        headers=headers,
        json={"cron": "* * * * *", "input": "tick"} | body,
    )
    error = assert_error(response, 422)
    assert any(field in str(d["loc"]) + d["msg"] for d in error["details"]), error


def test_each_due_slot_starts_one_async_run_with_its_trigger(client, db, queue):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    made = make(client, headers, agent["id"], input="what is new?")
    slot = at(made["next_run_at"])
    assert sweep_at(slot - timedelta(seconds=1), queue)["fired"] == 0  # not yet
    assert sweep_at(slot + timedelta(seconds=5), queue)["fired"] == 1
    assert sweep_at(slot + timedelta(seconds=20), queue)["fired"] == 0  # that slot is done
    assert sweep_at(slot + timedelta(seconds=61), queue)["fired"] == 1  # the next one
    runs = runs_of(db, made["id"])
    assert len(runs) == 2
    assert all(r.mode == ExecutionMode.async_ and r.input == "what is new?" for r in runs)
    assert {t.path for t in queue.tasks} >= {f"/tasks/executions/{r.id}" for r in runs}
    read = client.get(f"/executions/{runs[0].id}", headers=headers).get_json()
    assert read["trigger"] == "schedule"
    assert read["schedule_id"] == made["id"]
    row = schedule_row(db, made["id"])
    assert row.last_execution_id == runs[1].id
    assert row.last_run_at == slot + timedelta(minutes=1)
    assert row.next_run_at == slot + timedelta(minutes=2)


def test_slots_missed_in_a_downtime_run_once_not_once_each(client, db, queue):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    made = make(client, headers, agent["id"])
    slot = at(made["next_run_at"])
    back = slot + timedelta(minutes=10, seconds=30)  # ten slots went by unseen
    assert sweep_at(back, queue)["fired"] == 1
    assert sweep_at(back + timedelta(seconds=1), queue)["fired"] == 0
    assert len(runs_of(db, made["id"])) == 1
    row = schedule_row(db, made["id"])
    assert row.last_run_at == slot + timedelta(minutes=10)  # the latest of them
    assert row.next_run_at == slot + timedelta(minutes=11)


def test_a_slot_fired_twice_still_makes_one_run(client, db, queue):
    """The (schedule, slot) key: a sweeper that took the schedule as it was before another's
    commit (here: next_run_at put back) finds the slot's run and starts no second one."""
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    made = make(client, headers, agent["id"])
    slot = at(made["next_run_at"])
    sweep_at(slot + timedelta(seconds=1), queue)
    schedule_row(db, made["id"]).next_run_at = slot
    db.flush()
    assert sweep_at(slot + timedelta(seconds=2), queue)["fired"] == 1  # answered by the key
    assert len(runs_of(db, made["id"])) == 1


def test_a_paused_schedule_does_not_run_and_resumes_from_now(client, db, queue):
    _, headers = signed_up(client)
    agent = create_agent(client, headers)
    made = make(client, headers, agent["id"], enabled=False)
    assert made["next_run_at"] is None
    assert sweep_at(datetime.now(UTC) + timedelta(hours=1), queue)["fired"] == 0
    resumed = client.patch(f"/schedules/{made['id']}", headers=headers, json={"enabled": True})
    assert at(resumed.get_json()["next_run_at"]) <= datetime.now(UTC) + timedelta(minutes=1)


def test_a_schedule_of_an_agent_its_owner_can_no_longer_run_stops_with_the_reason(
    client, db, queue
):
    _, owner = signed_up(client)
    grantee, user = signed_up(client)
    agent = create_agent(client, owner)
    shared = f"/agents/{agent['id']}/permissions/{grantee['id']}"
    grant = client.put(shared, headers=owner, json={"level": "execute"})
    assert grant.status_code == 200, grant.get_json()
    made = make(client, user, agent["id"])
    assert client.delete(shared, headers=owner).status_code == 204
    counts = sweep_at(at(made["next_run_at"]) + timedelta(seconds=1), queue)
    assert counts == {"fired": 0, "skipped": 0, "stopped": 1}
    stopped = client.get(f"/schedules/{made['id']}", headers=user).get_json()
    assert stopped["enabled"] is False
    assert stopped["next_run_at"] is None
    assert stopped["stopped_reason"]["code"] == "agent_not_found"
    assert runs_of(db, made["id"]) == []
    # enabling it again asks whether the owner may run the agent now
    assert_error(
        client.patch(f"/schedules/{made['id']}", headers=user, json={"enabled": True}), 404
    )


def test_a_deleted_session_stops_its_schedule_and_a_spent_quota_skips_a_slot(client, db, queue):
    user, headers = signed_up(client)
    _, admin = signed_up_with_role(client, db, "admin")
    agent = create_agent(client, headers)
    session = client.post("/sessions", headers=headers, json={"agent_id": agent["id"]})
    assert session.status_code == 201, session.get_json()
    in_session = make(client, headers, agent["id"], session_id=session.get_json()["id"])
    slot = at(in_session["next_run_at"])
    assert sweep_at(slot + timedelta(seconds=1), queue)["fired"] == 1
    [turn] = runs_of(db, in_session["id"])
    assert str(turn.session_id) == session.get_json()["id"]

    # the turn is still queued: the session is busy, so the next slot is skipped, not stopped
    counts = sweep_at(slot + timedelta(minutes=1, seconds=1), queue)
    assert counts == {"fired": 0, "skipped": 1, "stopped": 0}
    row = schedule_row(db, in_session["id"])
    assert row.enabled
    assert row.last_error is not None
    assert row.last_error["code"] == "session_busy"

    # the one run the quota allows is the queued turn: another schedule's slot is skipped
    plain = make(client, headers, agent["id"])
    limits = {"max_concurrent_runs": 1}
    answer = client.patch(f"/users/{user['id']}", headers=admin, json={"limits": limits})
    assert answer.status_code == 200
    counts = sweep_at(slot + timedelta(minutes=2, seconds=1), queue)
    assert counts["skipped"] == 2  # the busy session again, and the quota
    assert schedule_row(db, plain["id"]).last_error["code"] == "quota_exceeded"  # type: ignore[index]

    db.execute(
        AgentExecution.__table__.update()
        .where(AgentExecution.id == turn.id)
        .values(status=ExecutionStatus.cancelled)
    )
    assert (
        client.delete(f"/sessions/{session.get_json()['id']}", headers=headers).status_code == 204
    )
    counts = sweep_at(slot + timedelta(minutes=3, seconds=1), queue)
    assert counts["stopped"] == 1
    assert schedule_row(db, in_session["id"]).stopped_reason["code"] == "session_not_found"  # type: ignore[index]


def test_a_schedule_naming_a_session_that_is_not_yours_is_a_409_at_that_field(client) -> None:
    """The schedule's URL was found (a 404 would say the agent was not, as a fuzzer following
    the agent's link reads it); the session the body names is a conflict, as one of another
    agent or archived is."""
    _, owner = signed_up(client)
    _, stranger = signed_up(client)
    agent = create_agent(client, owner, scope="public")
    theirs = client.post("/sessions", headers=stranger, json={"agent_id": agent["id"]}).get_json()
    for session_id in (theirs["id"], str(uuid.uuid4())):
        error = assert_error(
            client.post(
                f"/agents/{agent['id']}/schedules",
                headers=owner,
                json={"cron": "* * * * *", "input": "x", "session_id": session_id},
            ),
            409,
            "session_not_found",
        )
        assert error["details"][0]["path"] == "session_id"
    made = client.post(
        f"/agents/{agent['id']}/schedules",
        headers=owner,
        json={"cron": "* * * * *", "input": "x", "enabled": False},
    ).get_json()
    # checked when given, though the schedule is off
    for body, field in (
        ({"timezone": "AAA"}, "timezone"),
        ({"session_id": theirs["id"]}, "session_id"),
        ({"cron": "0 0 30 2 *"}, "cron"),
    ):
        answer = client.patch(f"/schedules/{made['id']}", headers=owner, json=body)
        assert answer.status_code in (409, 422), answer.get_json()
        assert answer.get_json()["error"]["details"][0]["path"] == field
