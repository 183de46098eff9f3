"""The artifact store: bytes at fixed keys, in a GCS bucket or a local directory.

Keys are relative POSIX paths (`artifacts/<user>/<artifact>/<name>`, `workspaces/<session>/...`)
checked with the same rules as the file tools' paths, so a key can never climb out of its root,
whatever backend stores it. An artifact is written once and never changes: `put` creates the
object only if the key is free (GCS `if_generation_match=0`, a hard link locally) and raises
`ObjectExists` otherwise. Workspace files are the one thing that is replaced in place
(`overwrite=True`), because `file_write` replaces files."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from core.errors import InsufficientStorage, Unavailable
from core.storage.paths import PathRefused, normalize_path

if TYPE_CHECKING:
    pass

MAX_KEY_BYTES = 1024  # the longest object name Cloud Storage accepts

CHUNK_BYTES = 1 << 20
_STAGING = ".staging"  # local backend: complete files are written here, then linked into place


class StoreError(Exception):
    """Base of the store's own errors."""


class ObjectExists(StoreError):
    """`put` without overwrite found the key taken: artifacts are created once."""


class ObjectNotFound(StoreError):
    """No object at this key."""


class StoreUnavailable(StoreError, Unavailable):
    """The storage service failed in a way worth retrying (throttled, 5xx, network): a 503
    for API callers, and for Cloud Tasks a retry."""

    code = "storage_unavailable"


class StorageFull(StoreError, InsufficientStorage):
    """The disk (or quota) the store writes to is full: nothing of the write is left."""


class StorageReadOnly(StoreUnavailable):
    """The storage refuses writes (a read-only filesystem): nothing of the write is left."""

    code = "storage_read_only"


@contextlib.contextmanager
def disk_errors(what: str) -> Iterator[None]:
    """A local filesystem's refusals as the store's errors: full (ENOSPC, EDQUOT: 507),
    read-only (EROFS: 503) or failing (EIO: 503). Messages name `what`, never a host path."""
    try:
        yield
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageFull(f"{what}: the storage is full") from exc
        if exc.errno == errno.EROFS:
            raise StorageReadOnly(f"{what}: the storage is read-only", retry_after_s=30) from exc
        if exc.errno == errno.EIO:
            raise StoreUnavailable(
                f"{what}: the storage failed to write", retry_after_s=30
            ) from exc
        raise


class InvalidKey(StoreError, ValueError):
    """A key that is not a clean relative path (a bug in the caller, never user input)."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str
    content_type: str


class ArtifactStore(Protocol):
    """Objects at fixed keys. Every method may block on the network (GCS)."""

    def put(
        self, key: str, data: bytes, *, content_type: str, overwrite: bool = False
    ) -> StoredObject:
        """Store `data` at `key`; without `overwrite` only if the key is free (ObjectExists)."""
        ...

    def open(self, key: str) -> Iterator[bytes]:
        """The object's bytes in chunks, streamed. ObjectNotFound is raised here, before the
        first chunk, so a caller can still answer 404. Close the iterator when done early."""
        ...

    def read(self, key: str, *, max_bytes: int, offset: int = 0) -> tuple[bytes, int]:
        """Up to `max_bytes` from byte `offset`, and the object's total size."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; a missing one is fine."""
        ...

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        """(key, size) of every object whose key starts with `prefix`, in key order."""
        ...

    def signed_url(self, key: str, *, ttl_s: int, filename: str, content_type: str) -> str | None:
        """A time-limited download URL, or None when the API must stream the bytes itself."""
        ...


def check_key(key: str) -> str:
    """`key` itself when it is a clean, non-empty relative path; else InvalidKey."""
    try:
        clean = normalize_path(key)
    except PathRefused as exc:
        raise InvalidKey(str(exc)) from None
    if not clean or clean != key:
        raise InvalidKey(f"not a clean object key: {key[:120]!r}")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise InvalidKey(f"object key longer than {MAX_KEY_BYTES} bytes")
    return key


def check_prefix(prefix: str) -> str:
    """A listing prefix: "" or a clean key, optionally ending in "/"."""
    if prefix:
        check_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class LocalArtifactStore:
    """A directory (DATA_DIR/artifacts by default). Writes are atomic: the bytes go to a staging
    file that is fsynced, then hard-linked into place (which fails if the key is taken, like
    O_EXCL) or renamed over it (overwrite). Readers never see a partial object."""

    def __init__(self, root: Path) -> None:
        self._root = Path(os.path.abspath(root))

    def __repr__(self) -> str:
        return f"LocalArtifactStore({str(self._root)!r})"

    @property
    def root(self) -> Path:
        return self._root

    def put(
        self, key: str, data: bytes, *, content_type: str, overwrite: bool = False
    ) -> StoredObject:
        target = self._path(key)
        staging = self._root / _STAGING
        with disk_errors("storing the file"):
            staging.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=staging, prefix="put-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    if overwrite:
                        os.replace(temp, target)
                    else:
                        try:
                            os.link(temp, target, follow_symlinks=False)
                        except FileExistsError:
                            raise ObjectExists(key) from None
                except OSError:
                    self._prune(target.parent)  # the directories made for it, left empty
                    raise
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)
        return StoredObject(key, len(data), sha256_hex(data), content_type)

    def open(self, key: str) -> Iterator[bytes]:
        return _FileChunks(self._open_file(key))

    def read(self, key: str, *, max_bytes: int, offset: int = 0) -> tuple[bytes, int]:
        if max_bytes < 0 or offset < 0:
            raise ValueError("max_bytes and offset must not be negative")
        with self._open_file(key) as handle:
            size = os.fstat(handle.fileno()).st_size
            handle.seek(offset)
            return handle.read(max_bytes), size

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        self._prune(path.parent)

    def _prune(self, directory: Path) -> None:
        """Remove `directory` and its parents while empty (artifacts/<user>/<id>/), never the
        root."""
        while directory != self._root and directory.is_relative_to(self._root):
            try:
                directory.rmdir()
            except OSError:
                break
            directory = directory.parent

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        check_prefix(prefix)
        base = prefix.rpartition("/")[0]
        start = self._root / base if base else self._root
        found: list[tuple[str, int]] = []
        for directory, dirnames, filenames in os.walk(start):
            rel_dir = os.path.relpath(directory, self._root)
            if rel_dir == ".":
                dirnames[:] = [d for d in dirnames if d != _STAGING]
                rel_dir = ""
            for name in filenames:
                key = f"{rel_dir}/{name}" if rel_dir else name
                if not key.startswith(prefix):
                    continue
                try:
                    info = os.stat(os.path.join(directory, name), follow_symlinks=False)
                except FileNotFoundError:
                    continue  # deleted meanwhile
                if stat.S_ISREG(info.st_mode):
                    found.append((key, info.st_size))
        yield from sorted(found)

    def signed_url(self, key: str, *, ttl_s: int, filename: str, content_type: str) -> None:
        return None  # the API streams local objects itself

    def _path(self, key: str) -> Path:
        check_key(key)
        if key.split("/", 1)[0] == _STAGING:
            raise InvalidKey(f"{_STAGING}/ is reserved")
        return self._root / key

    def _open_file(self, key: str) -> BinaryIO:
        path = self._path(key)
        # no symlink below the root is followed; special files are refused, not opened
        real = Path(os.path.realpath(path.parent))
        if not real.is_relative_to(os.path.realpath(self._root)):
            raise ObjectNotFound(key)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(key) from None
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EISDIR):  # a symlink, a directory
                raise ObjectNotFound(key) from None
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise ObjectNotFound(key)
        return os.fdopen(fd, "rb")


class _FileChunks:
    """An iterator over a file's chunks that closes the file when exhausted or closed (WSGI
    servers call close() on a response body, also when the client goes away)."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._handle.closed:
            raise StopIteration
        chunk = self._handle.read(CHUNK_BYTES)
        if not chunk:
            self.close()
            raise StopIteration
        return chunk

    def close(self) -> None:
        self._handle.close()
