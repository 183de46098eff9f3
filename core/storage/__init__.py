"""Where artifacts and (in production) workspaces live: an object store addressed by key.

Importing this package is cheap: the Cloud Storage client is imported by its backend on first
use only."""

from core.storage.backend import get_artifact_store
from core.storage.store import (
    ArtifactStore,
    InvalidKey,
    ObjectExists,
    ObjectNotFound,
    StoredObject,
    StoreError,
    StoreUnavailable,
)

__all__ = [
    "ArtifactStore",
    "InvalidKey",
    "ObjectExists",
    "ObjectNotFound",
    "StoreError",
    "StoreUnavailable",
    "StoredObject",
    "get_artifact_store",
]
