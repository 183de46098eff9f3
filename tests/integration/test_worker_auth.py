"""Who may call the worker: Cloud Tasks' OIDC token in production (verified against a local
certificate endpoint standing in for Google's), the shared secret locally."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from core.auth.tokens import issue_token
from core.config import Settings
from core.errors import ConfigError, Forbidden, Unauthorized, Unavailable
from core.tasks import auth
from core.tasks.auth import tasks_shared_secret, verify_task_request
from tests.support.oidc import OidcIssuer, SigningKey

WORKER_URL = "https://tasks-abc123-uc.a.run.app"
INVOKER = "tasks-invoker@agents-prod.iam.gserviceaccount.com"
SECRET_KEY = "k" * 48
PRODUCTION = Settings.from_environ(
    {
        "APP_ENV": "production",
        "SECRET_KEY": SECRET_KEY,
        "TASKS_QUEUE": "projects/agents-prod/locations/us-central1/queues/executions",
        "TASKS_WORKER_URL": WORKER_URL,
        "TASKS_INVOKER_SA": INVOKER,
    }
)
LOCAL = Settings.from_environ({"SECRET_KEY": SECRET_KEY})


@pytest.fixture(scope="module")
def google() -> Iterator[OidcIssuer]:
    with OidcIssuer() as issuer:
        yield issuer


@pytest.fixture(autouse=True)
def certs_from_issuer(google: OidcIssuer, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(auth, "CERTS_URL", google.certs_url)
    auth.clear_certs_cache()
    yield
    auth.clear_certs_cache()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_cloud_tasks_token_for_the_invoker_is_accepted(google: OidcIssuer) -> None:
    token = google.mint(audience=WORKER_URL, email=INVOKER)
    assert verify_task_request(bearer(token), PRODUCTION) == INVOKER


def test_header_names_are_case_insensitive(google: OidcIssuer) -> None:
    token = google.mint(audience=WORKER_URL, email=INVOKER)
    assert verify_task_request({"authorization": f"bearer {token}"}, PRODUCTION) == INVOKER


def test_token_for_another_audience_is_401(google: OidcIssuer) -> None:
    token = google.mint(audience="https://someone-else.a.run.app", email=INVOKER)
    with pytest.raises(Unauthorized):
        verify_task_request(bearer(token), PRODUCTION)


def test_genuine_token_of_another_service_account_is_403(google: OidcIssuer) -> None:
    token = google.mint(audience=WORKER_URL, email="intruder@agents-prod.iam.gserviceaccount.com")
    with pytest.raises(Forbidden):
        verify_task_request(bearer(token), PRODUCTION)


@pytest.mark.parametrize("verified", [False, "true", None])
def test_unverified_email_is_403(google: OidcIssuer, verified: object) -> None:
    token = google.mint(audience=WORKER_URL, email=INVOKER, email_verified=verified)
    with pytest.raises(Forbidden):
        verify_task_request(bearer(token), PRODUCTION)


def test_user_access_token_of_this_service_is_401() -> None:
    token, _ = issue_token(
        PRODUCTION, user_id=uuid.uuid4(), token_type="access", now=datetime.now(UTC)
    )
    with pytest.raises(Unauthorized):
        verify_task_request(bearer(token), PRODUCTION)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": ""}, {"Authorization": "Bearer "}, {"Authorization": "Basic abc"}],
)
def test_missing_token_is_401(headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized):
        verify_task_request(headers, PRODUCTION)


def test_garbage_token_is_401() -> None:
    with pytest.raises(Unauthorized):
        verify_task_request(bearer("not.a.jwt"), PRODUCTION)


def test_expired_token_is_401(google: OidcIssuer) -> None:
    token = google.mint(audience=WORKER_URL, email=INVOKER, expires_in=-300)
    with pytest.raises(Unauthorized):
        verify_task_request(bearer(token), PRODUCTION)


def test_token_from_another_issuer_is_401(google: OidcIssuer) -> None:
    token = google.mint(audience=WORKER_URL, email=INVOKER, issuer="https://evil.example.com")
    with pytest.raises(Unauthorized):
        verify_task_request(bearer(token), PRODUCTION)


def test_token_signed_by_an_unpublished_key_is_401(google: OidcIssuer) -> None:
    forged = google.mint(
        audience=WORKER_URL, email=INVOKER, key=SigningKey.generate(kid=google.key.kid)
    )
    with pytest.raises(Unauthorized):
        verify_task_request(bearer(forged), PRODUCTION)


def test_shared_secret_is_not_enough_in_production() -> None:
    headers = {"X-Tasks-Secret": tasks_shared_secret(PRODUCTION)}
    with pytest.raises(Unauthorized):
        verify_task_request(headers, PRODUCTION)


def test_local_mode_with_a_real_queue_still_demands_the_token(google: OidcIssuer) -> None:
    settings = PRODUCTION.model_copy(update={"app_env": "local"})
    with pytest.raises(Unauthorized):
        verify_task_request({"X-Tasks-Secret": tasks_shared_secret(settings)}, settings)
    token = google.mint(audience=WORKER_URL, email=INVOKER)
    assert verify_task_request(bearer(token), settings) == INVOKER


def test_unreachable_certificates_are_503_so_cloud_tasks_retries(
    google: OidcIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "CERTS_URL", google.certs_url.replace("/certs", "/missing"))
    token = google.mint(audience=WORKER_URL, email=INVOKER)
    with pytest.raises(Unavailable):
        verify_task_request(bearer(token), PRODUCTION)


def test_certificates_are_fetched_once_while_their_max_age_lasts() -> None:
    with OidcIssuer(cache_control="public, max-age=600") as issuer:
        auth.CERTS_URL = issuer.certs_url  # restored by the autouse fixture
        for _ in range(3):
            token = issuer.mint(audience=WORKER_URL, email=INVOKER)
            assert verify_task_request(bearer(token), PRODUCTION) == INVOKER
        assert issuer.certs_requests == 1


def test_certificates_without_cache_headers_are_fetched_each_time(google: OidcIssuer) -> None:
    before = google.certs_requests
    for _ in range(2):
        verify_task_request(bearer(google.mint(audience=WORKER_URL, email=INVOKER)), PRODUCTION)
    assert google.certs_requests == before + 2


def test_production_without_invoker_configured_refuses_to_verify(google: OidcIssuer) -> None:
    settings = PRODUCTION.model_copy(update={"tasks_invoker_sa": None})
    with pytest.raises(ConfigError):
        verify_task_request(bearer(google.mint(audience=WORKER_URL, email=INVOKER)), settings)


def test_local_dispatcher_secret_is_accepted() -> None:
    headers = {"X-Tasks-Secret": tasks_shared_secret(LOCAL)}
    assert verify_task_request(headers, LOCAL) == "local-dispatcher"


def test_wrong_local_secret_is_401() -> None:
    with pytest.raises(Unauthorized):
        verify_task_request({"X-Tasks-Secret": "guess"}, LOCAL)


def test_missing_local_secret_is_401(google: OidcIssuer) -> None:
    with pytest.raises(Unauthorized):
        verify_task_request({}, LOCAL)
    # a Google token does not replace the secret locally
    token = google.mint(audience=WORKER_URL, email=INVOKER)
    with pytest.raises(Unauthorized):
        verify_task_request(bearer(token), LOCAL)


def test_configured_shared_secret_wins_over_the_derived_one() -> None:
    settings = Settings.from_environ({"SECRET_KEY": SECRET_KEY, "TASKS_SHARED_SECRET": "s3cret"})
    assert verify_task_request({"X-Tasks-Secret": "s3cret"}, settings) == "local-dispatcher"
    with pytest.raises(Unauthorized):
        verify_task_request({"X-Tasks-Secret": tasks_shared_secret(LOCAL)}, settings)


def test_derived_secret_depends_on_the_secret_key() -> None:
    other = Settings.from_environ({"SECRET_KEY": "o" * 48})
    assert tasks_shared_secret(LOCAL) != tasks_shared_secret(other)
    assert tasks_shared_secret(LOCAL) == tasks_shared_secret(LOCAL)


def test_the_emulator_path_uses_the_secret_locally() -> None:
    """gcloud-tasks-emulator sends no OIDC token; CloudTasksQueue adds the secret header there."""
    settings = Settings.from_environ(
        {
            "SECRET_KEY": SECRET_KEY,
            "TASKS_QUEUE": "projects/p/locations/l/queues/q",
            "TASKS_EMULATOR_HOST": "127.0.0.1:9",
        }
    )
    headers = {"X-Tasks-Secret": tasks_shared_secret(settings)}
    assert verify_task_request(headers, settings) == "local-dispatcher"
