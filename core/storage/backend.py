"""The process's artifact store: a Cloud Storage bucket when ARTIFACTS_BUCKET is set, else a
directory under DATA_DIR. Created on first use (the Cloud Storage client reads credentials) and
again when the settings that choose it change."""

from __future__ import annotations

import os
import threading

from core.config import Settings
from core.storage.store import ArtifactStore, LocalArtifactStore

_lock = threading.Lock()
_cached: tuple[tuple[str | None, str, str | None], ArtifactStore] | None = None
# the settings object last asked about, with its store: a run asks several times, and the
# identity below costs a path resolution each time (settings are frozen)
_last: tuple[Settings, ArtifactStore] | None = None


def get_artifact_store(settings: Settings) -> ArtifactStore:
    """The process-wide store for these settings, created on first use: the GCS bucket when
    ARTIFACTS_BUCKET is set, else DATA_DIR/artifacts."""
    global _cached, _last
    last = _last
    if last is not None and last[0] is settings:
        return last[1]
    identity = (
        settings.artifacts_bucket,
        os.path.abspath(settings.data_dir),
        settings.signing_service_account,
    )
    cached = _cached
    if cached is not None and cached[0] == identity:
        _last = (settings, cached[1])
        return cached[1]
    with _lock:
        if _cached is None or _cached[0] != identity:
            store: ArtifactStore
            if settings.artifacts_bucket:
                from core.storage.gcs import GcsArtifactStore

                store = GcsArtifactStore(settings.artifacts_bucket, settings)
            else:
                store = LocalArtifactStore(settings.data_dir / "artifacts")
            _cached = (identity, store)
        _last = (settings, _cached[1])
        return _cached[1]
