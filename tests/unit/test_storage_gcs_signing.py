"""V4 signed download URLs: signed with a key in hand, or through IAM signBlob without one.

IAM itself cannot be reached offline: the one call into it (google-cloud-storage's
`_sign_message`) is replaced by a signer holding the service account's key, and the URL it
produces is checked by verifying its signature."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from google.auth import credentials as auth_credentials
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.oauth2 import service_account

from core.config import Settings
from core.storage.gcs import GcsArtifactStore
from core.storage.store import StoreError

EMAIL = "artifacts@project.iam.gserviceaccount.com"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def key_credentials(email: str = EMAIL) -> service_account.Credentials:
    pem = KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "project",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": email,
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    return service_account.Credentials.from_service_account_info(info)


class RuntimeCredentials(auth_credentials.Credentials):
    """Like a Cloud Function's metadata-server credentials: a token, no private key."""

    def __init__(self, email: str | None = "runtime@project.iam.gserviceaccount.com") -> None:
        super().__init__()
        self.service_account_email = email
        self.refreshes = 0

    def refresh(self, request: Any) -> None:
        self.refreshes += 1
        self.token = f"token-{self.refreshes}"
        self.expiry = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=1)


def _store(credentials: Any, **settings: Any) -> GcsArtifactStore:
    client = storage.Client(project="project", credentials=AnonymousCredentials())
    return GcsArtifactStore(
        "bucket", Settings(**settings), client=client, signing_credentials=credentials
    )


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _verify(url: str) -> None:
    """Check the URL's signature over its V4 string-to-sign with the account's public key."""
    import hashlib

    parts = urlsplit(url)
    query = _query(url)
    signature = bytes.fromhex(query.pop("X-Goog-Signature"))
    canonical_query = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(query.items()))
    canonical_request = "\n".join(
        ["GET", parts.path, canonical_query, f"host:{parts.netloc}\n", "host", "UNSIGNED-PAYLOAD"]
    )
    scope = query["X-Goog-Credential"].split("/", 1)[1]
    string_to_sign = "\n".join(
        [
            "GOOG4-RSA-SHA256",
            query["X-Goog-Date"],
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    KEY.public_key().verify(signature, string_to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="~")


def test_a_key_signs_locally_with_attachment_headers_and_at_most_15_minutes():
    store = _store(key_credentials())
    url = store.signed_url(
        "artifacts/u/a1/report.pdf",
        ttl_s=3600,
        filename="rapport été.pdf",
        content_type="application/pdf",
    )
    assert url is not None
    assert urlsplit(url).path == "/bucket/artifacts/u/a1/report.pdf"
    query = _query(url)
    assert query["X-Goog-Algorithm"] == "GOOG4-RSA-SHA256"
    assert query["X-Goog-Expires"] == "900"
    assert query["X-Goog-Credential"].startswith(EMAIL + "/")
    assert query["response-content-type"] == "application/pdf"
    disposition = query["response-content-disposition"]
    assert disposition.startswith("attachment; ")
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == "rapport été.pdf"
    _verify(url)


def test_without_a_key_the_url_is_signed_through_iam_as_the_configured_account(monkeypatch):
    calls: list[tuple[str, str]] = []

    def sign_blob(message: Any, access_token: str, service_account_email: str, *_: Any) -> str:
        calls.append((access_token, service_account_email))
        data = message.encode() if isinstance(message, str) else message
        signature = KEY.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(signature).decode()

    monkeypatch.setattr("google.cloud.storage._signing._sign_message", sign_blob)
    runtime = RuntimeCredentials()
    store = _store(runtime, signing_service_account=EMAIL)
    url = store.signed_url("k/file.txt", ttl_s=300, filename="file.txt", content_type="text/plain")
    assert url is not None
    assert calls == [("token-1", EMAIL)]
    assert runtime.refreshes == 1
    query = _query(url)
    assert query["X-Goog-Credential"].startswith(EMAIL + "/")
    assert query["X-Goog-Expires"] == "300"
    _verify(url)
    # a valid token is reused, not refreshed for every URL
    store.signed_url("k/file.txt", ttl_s=300, filename="file.txt", content_type="text/plain")
    assert runtime.refreshes == 1


def test_without_a_configured_account_the_runtime_account_signs(monkeypatch):
    seen: list[str] = []

    def sign_blob(message: Any, access_token: str, service_account_email: str, *_: Any) -> str:
        seen.append(service_account_email)
        return base64.b64encode(b"sig").decode()

    monkeypatch.setattr("google.cloud.storage._signing._sign_message", sign_blob)
    store = _store(RuntimeCredentials())
    store.signed_url("k", ttl_s=60, filename="k", content_type="text/plain")
    assert seen == ["runtime@project.iam.gserviceaccount.com"]


def test_no_key_and_no_account_is_a_clear_configuration_error():
    store = _store(RuntimeCredentials(email=None))
    with pytest.raises(StoreError, match="SIGNING_SERVICE_ACCOUNT"):
        store.signed_url("k", ttl_s=60, filename="k", content_type="text/plain")


def test_anonymous_credentials_mean_the_api_streams_instead():
    store = _store(AnonymousCredentials())
    assert store.signed_url("k", ttl_s=60, filename="k", content_type="text/plain") is None
