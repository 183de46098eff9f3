"""The process's artifact store: a Cloud Storage bucket when ARTIFACTS_BUCKET is set, else a
directory under DATA_DIR. Created on first use (the Cloud Storage client reads credentials) and
again when the settings that choose it change."""

from __future__ import annotations

import os
import threading

from core.config import Settings
from core.storage.store import ArtifactStore, LocalArtifactStore

_lock = threading.Lock()
# the store, what chose it, and the settings object last asked about: a run asks several times,
# and with the same (frozen) settings the choice is not worked out again (a path resolution)
_cached: tuple[Settings, tuple[str | None, str, str | None], ArtifactStore] | None = None


def get_artifact_store(settings: Settings) -> ArtifactStore:
    """The process-wide store for these settings, created on first use: the GCS bucket when
    ARTIFACTS_BUCKET is set, else DATA_DIR/artifacts."""
    global _cached
    cached = _cached
    if cached is not None and cached[0] is settings:
        return cached[2]
    identity = (
        settings.artifacts_bucket,
        os.path.abspath(settings.data_dir),
        settings.signing_service_account,
    )
    with _lock:
        if _cached is None or _cached[1] != identity:
            store: ArtifactStore
            if settings.artifacts_bucket:
                from core.storage.gcs import GcsArtifactStore

                store = GcsArtifactStore(settings.artifacts_bucket, settings)
            else:
                store = LocalArtifactStore(settings.data_dir / "artifacts")
            _cached = (settings, identity, store)
        else:
            _cached = (settings, identity, _cached[2])
        return _cached[2]
