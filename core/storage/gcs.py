"""The Cloud Storage backend of the artifact store.

The client is created on first use (never at import) and reused by every later call; this module
is imported only when ARTIFACTS_BUCKET is set. STORAGE_EMULATOR_HOST points the client at an
emulator (anonymous credentials, as the library does). Downloads are V4 signed URLs: signed with
the credentials' own key when they have one (a service-account key file), otherwise through the
IAM signBlob API as SIGNING_SERVICE_ACCOUNT (or the runtime's own account) with the runtime's
access token, which is how a Cloud Function signs without holding a key."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from core.storage.media import content_disposition
from core.storage.store import (
    CHUNK_BYTES,
    ObjectExists,
    ObjectNotFound,
    StoredObject,
    StoreError,
    StoreUnavailable,
    check_key,
    check_prefix,
    sha256_hex,
)

if TYPE_CHECKING:
    from core.config import Settings

MAX_SIGNED_URL_TTL_S = 900  # 15 minutes
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


class GcsArtifactStore:
    def __init__(
        self,
        bucket: str,
        settings: Settings,
        *,
        client: Any | None = None,
        signing_credentials: Any | None = None,
    ) -> None:
        """`client` and `signing_credentials` are for tests (an emulator client, a throwaway
        key); by default both come from the environment on first use."""
        self._bucket_name = bucket
        self._signing_account = settings.signing_service_account
        self._lock = threading.Lock()
        self._client: Any | None = client
        self._credentials: Any | None = signing_credentials
        self._bucket: Any | None = None

    def __repr__(self) -> str:
        return f"GcsArtifactStore({self._bucket_name!r})"

    @property
    def bucket_name(self) -> str:
        return self._bucket_name

    def put(
        self, key: str, data: bytes, *, content_type: str, overwrite: bool = False
    ) -> StoredObject:
        from google.api_core.exceptions import PreconditionFailed

        check_key(key)
        with _transient_errors():
            blob = self._get_bucket().blob(key)
            try:
                if overwrite:
                    blob.upload_from_string(data, content_type=content_type)
                else:
                    # only if no live object has this name; the library retries this safely
                    blob.upload_from_string(data, content_type=content_type, if_generation_match=0)
            except PreconditionFailed:
                if not self._holds(key, data):
                    raise ObjectExists(key) from None
                # a retried upload whose first attempt had landed: the object is ours already
        return StoredObject(key, len(data), sha256_hex(data), content_type)

    def open(self, key: str) -> Iterator[bytes]:
        blob = self._stat(key)
        return self._chunks(key, int(blob.size or 0), blob.generation)

    def read(self, key: str, *, max_bytes: int, offset: int = 0) -> tuple[bytes, int]:
        if max_bytes < 0 or offset < 0:
            raise ValueError("max_bytes and offset must not be negative")
        blob = self._stat(key)
        size = int(blob.size or 0)
        if max_bytes == 0 or offset >= size:
            return b"", size
        end = min(offset + max_bytes, size) - 1
        return self._download(key, blob.generation, offset, end), size

    def delete(self, key: str) -> None:
        from google.api_core.exceptions import NotFound

        check_key(key)
        with _transient_errors(), contextlib.suppress(NotFound):
            self._get_bucket().blob(key).delete()

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        check_prefix(prefix)
        with _transient_errors():
            for blob in self._get_client().list_blobs(self._bucket_name, prefix=prefix or None):
                yield blob.name, int(blob.size or 0)

    def signed_url(self, key: str, *, ttl_s: int, filename: str, content_type: str) -> str | None:
        from google.auth.credentials import AnonymousCredentials

        check_key(key)
        credentials = self._signing_credentials()
        if isinstance(credentials, AnonymousCredentials):
            return None  # an emulator without a key: the API streams instead
        options: dict[str, Any] = {
            "version": "v4",
            "method": "GET",
            "expiration": timedelta(seconds=max(1, min(ttl_s, MAX_SIGNED_URL_TTL_S))),
            "response_disposition": content_disposition(filename),
            "response_type": content_type,
        }
        with _transient_errors():
            options |= self._signer(credentials)
            url: str = self._get_bucket().blob(key).generate_signed_url(**options)
        return url

    def _signer(self, credentials: Any) -> dict[str, Any]:
        """How generate_signed_url signs: with the key in hand, or through IAM signBlob."""
        from google.oauth2 import service_account

        if isinstance(credentials, service_account.Credentials):
            return {"credentials": credentials}
        with self._lock:
            if not credentials.valid:
                from google.auth.transport.requests import Request

                credentials.refresh(Request())
            token = credentials.token
        email = self._signing_account or getattr(credentials, "service_account_email", None)
        if not email or email == "default" or not token:
            raise StoreError(
                "cannot sign download URLs: the credentials hold no private key; set "
                "SIGNING_SERVICE_ACCOUNT to an account this runtime may sign as "
                "(roles/iam.serviceAccountTokenCreator)"
            )
        return {"service_account_email": email, "access_token": token}

    def _stat(self, key: str) -> Any:
        check_key(key)
        with _transient_errors():
            blob = self._get_bucket().get_blob(key)
        if blob is None:
            raise ObjectNotFound(key)
        return blob

    def _chunks(self, key: str, size: int, generation: int | None) -> Iterator[bytes]:
        position = 0
        while position < size:
            end = min(position + CHUNK_BYTES, size) - 1
            yield self._download(key, generation, position, end)
            position = end + 1

    def _download(self, key: str, generation: int | None, start: int, end: int) -> bytes:
        from google.api_core.exceptions import NotFound

        # pinned to the generation that was measured, so the pieces belong together
        blob = self._get_bucket().blob(key, generation=generation)
        try:
            with _transient_errors():
                data: bytes = blob.download_as_bytes(start=start, end=end, checksum=None)
        except NotFound:
            raise ObjectNotFound(key) from None
        return data

    def _holds(self, key: str, data: bytes) -> bool:
        blob = self._get_bucket().get_blob(key)
        if blob is None or blob.md5_hash is None:
            return False
        digest = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        return bool(int(blob.size or 0) == len(data) and blob.md5_hash == digest)

    def _get_client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client, credentials = _default_client()
                    if self._credentials is None:
                        self._credentials = credentials
        return self._client

    def _get_bucket(self) -> Any:
        if self._bucket is None:
            self._bucket = self._get_client().bucket(self._bucket_name)
        return self._bucket

    def _signing_credentials(self) -> Any:
        self._get_client()
        if self._credentials is None:
            from google.auth.credentials import AnonymousCredentials

            return AnonymousCredentials()  # type: ignore[no-untyped-call]
        return self._credentials


@contextlib.contextmanager
def _transient_errors() -> Iterator[None]:
    """Throttling, server errors, exhausted retries and network failures become
    StoreUnavailable (the API answers 503); anything else is a bug or a misconfiguration."""
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth
    from requests import exceptions as http

    try:
        yield
    except (
        api.TooManyRequests,
        api.ServerError,
        api.RetryError,
        auth.TransportError,
        http.ConnectionError,
        http.Timeout,
    ) as exc:
        raise StoreUnavailable(f"cloud storage is unavailable ({type(exc).__name__})") from exc


def _default_client() -> tuple[Any, Any]:
    import google.cloud.storage as storage

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        credentials: Any = AnonymousCredentials()  # type: ignore[no-untyped-call]
        return storage.Client(project="local", credentials=credentials), credentials
    import google.auth

    credentials, project = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    return storage.Client(project=project, credentials=credentials), credentials
