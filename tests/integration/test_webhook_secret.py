"""Webhooks a receiver can verify: the caller reads (and rotates) the secret, and a run's
delivery verifies with the Standard Webhooks reference library; after a rotation, with either
secret for a day."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from standardwebhooks import Webhook

from tests.integration.test_artifacts_api import settings_env
from tests.support.agents import create_agent
from tests.support.api import signed_up
from tests.support.tasks_emulator import Receiver


def secret_of(client: Any, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get("/users/me/webhook-secret", headers=headers)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    return dict(response.get_json())


def delivered(client: Any, headers: dict[str, str], queue: Any, worker_headers: Any) -> Any:
    """A run with a webhook to a local receiver, its webhook task delivered: the request."""
    agent = create_agent(client, headers)
    with Receiver() as receiver, settings_env(WEBHOOK_ALLOWED_HOSTS="127.0.0.1"):
        run = client.post(
            f"/agents/{agent['id']}/execute",
            headers=headers,
            json={"input": "hi", "webhook_url": receiver.url + "/hook"},
        ).get_json()
        [task] = [t for t in queue.tasks if t.path == f"/tasks/webhooks/{run['id']}"]
        assert client.post(task.path, headers=worker_headers).status_code == 200
        [request] = receiver.wait_for(1)
    return run, request


def test_a_delivery_verifies_with_the_secret_the_user_reads(client, queue, worker_headers):
    _, headers = signed_up(client)
    secret = secret_of(client, headers)
    assert secret["secret"].startswith("whsec_")
    assert secret["previous_valid_until"] is None
    assert secret_of(client, headers) == secret
    _, someone = signed_up(client)
    assert secret_of(client, someone)["secret"] != secret["secret"]

    run, request = delivered(client, headers, queue, worker_headers)
    payload = Webhook(secret["secret"]).verify(request.body.decode(), dict(request.headers))
    assert payload["id"] == run["id"]
    assert payload["status"] == "succeeded"
    assert request.headers["webhook-id"] == f"msg_{run['id'].replace('-', '')}_succeeded"


def test_after_a_rotation_both_secrets_verify_for_a_day(client, queue, worker_headers):
    _, headers = signed_up(client)
    old = secret_of(client, headers)["secret"]
    rotated = client.post("/users/me/webhook-secret/rotate", headers=headers)
    assert rotated.status_code == 200
    new = rotated.get_json()
    assert new["secret"] != old
    until = datetime.fromisoformat(new["previous_valid_until"])
    assert timedelta(hours=23) < until - datetime.now(until.tzinfo) <= timedelta(hours=24)
    assert secret_of(client, headers)["secret"] == new["secret"]

    _, request = delivered(client, headers, queue, worker_headers)
    for secret in (new["secret"], old):
        Webhook(secret).verify(request.body.decode(), dict(request.headers))
    assert len(request.headers["webhook-signature"].split(" ")) == 2
