"""The file trees the tools work on, addressed by relative paths and bytes only.

`LocalWorkspace` is the directory backend. It resolves every path one component at a time
relative to an open directory descriptor with O_NOFOLLOW, so no symlink is ever followed below the
root and nothing outside it can be reached, whatever the tree contains or how it changes
concurrently. Messages carry relative paths only: they end up in front of a model."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from core.storage.paths import PathRefused, normalize_path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO must not wait for a writer (we refuse it right after fstat).
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileInfo:
    path: str
    size: int


class Workspace(Protocol):
    """A tree of regular files under a root, addressed by relative POSIX paths."""

    @property
    def name(self) -> str:
        """ "workspace" or "repo": how messages refer to this tree."""
        ...

    @property
    def writable(self) -> bool: ...

    def read(self, path: str, *, max_bytes: int, offset: int = 0) -> tuple[bytes, int]:
        """Up to `max_bytes` of the file from byte `offset`, and the file's total size."""
        ...

    def write(self, path: str, data: bytes) -> FileInfo:
        """Replace the file atomically; PathRefused when the tree is read-only."""
        ...

    def list_files(self, prefix: str = "") -> Iterator[FileInfo]:
        """Regular files under the directory `prefix` (or that one file), sorted by path."""
        ...


class LocalWorkspace:
    """A directory on the local filesystem. The root itself is trusted configuration."""

    def __init__(self, root: Path, *, name: str, writable: bool) -> None:
        self._root = Path(os.path.abspath(root))
        self._name = name
        self._writable = writable

    @property
    def name(self) -> str:
        return self._name

    @property
    def writable(self) -> bool:
        return self._writable

    def __repr__(self) -> str:
        return f"LocalWorkspace({self._name!r}, writable={self._writable})"

    def read(self, path: str, *, max_bytes: int, offset: int = 0) -> tuple[bytes, int]:
        rel = self._file_path(path)
        if max_bytes < 0 or offset < 0:
            raise ValueError("max_bytes and offset must not be negative")
        parent, leaf = _split(rel)
        dir_fd = self._open_dir(parent, rel, create=False)
        try:
            fd = self._open_regular_file(dir_fd, leaf, rel)
        finally:
            os.close(dir_fd)
        try:
            size = os.fstat(fd).st_size
            chunks: list[bytes] = []
            position, remaining = offset, max_bytes
            while remaining > 0:
                chunk = os.pread(fd, min(remaining, _READ_CHUNK), position)
                if not chunk:
                    break
                chunks.append(chunk)
                position += len(chunk)
                remaining -= len(chunk)
            return b"".join(chunks), size
        finally:
            os.close(fd)

    def write(self, path: str, data: bytes) -> FileInfo:
        if not self._writable:
            raise PathRefused(f"the {self._name} is read-only")
        rel = self._file_path(path)
        parent, leaf = _split(rel)
        dir_fd = self._open_dir(parent, rel, create=True)
        try:
            try:
                existing = os.stat(leaf, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                pass
            else:
                if not stat.S_ISREG(existing.st_mode):
                    raise PathRefused(f"{rel} exists and is {_kind(existing.st_mode)}")
            temp = f".{secrets.token_hex(8)}.tmp-write"
            fd = os.open(temp, _TEMP_FLAGS, 0o644, dir_fd=dir_fd)
            try:
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                    os.fsync(fd)
                finally:
                    os.close(fd)
                # rename() replaces the directory entry itself: a symlink swapped in meanwhile
                # is replaced, never followed.
                os.replace(temp, leaf, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp, dir_fd=dir_fd)
                raise
        finally:
            os.close(dir_fd)
        return FileInfo(rel, len(data))

    def list_files(self, prefix: str = "") -> Iterator[FileInfo]:
        rel = normalize_path(prefix)
        parent, leaf = _split(rel) if rel else ("", "")
        try:
            dir_fd = self._open_dir(parent, rel, create=False)
        except FileNotFoundError:
            return
        try:
            if not leaf:
                yield from _walk(dir_fd, "")
                return
            try:
                info = os.stat(leaf, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                return
            if stat.S_ISREG(info.st_mode):
                yield FileInfo(rel, info.st_size)
            elif stat.S_ISDIR(info.st_mode):
                sub_fd = _open_subdir(dir_fd, leaf, rel)
                try:
                    yield from _walk(sub_fd, rel + "/")
                finally:
                    os.close(sub_fd)
            else:
                raise PathRefused(f"{rel} is {_kind(info.st_mode)}")
        finally:
            os.close(dir_fd)

    def _file_path(self, path: str) -> str:
        rel = normalize_path(path)
        if not rel:
            raise PathRefused(f"the path names the {self._name} root directory, not a file")
        return rel

    def _open_root(self, rel: str, *, create: bool) -> int:
        if create:
            self._root.mkdir(parents=True, exist_ok=True)
        try:
            return os.open(self._root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            # the root is created by the first write
            raise FileNotFoundError(f"no such file in the {self._name}: {rel}") from None

    def _open_dir(self, parent: str, rel: str, *, create: bool) -> int:
        """A descriptor for the directory `parent`, walked without following symlinks."""
        dir_fd = self._open_root(rel, create=create)
        walked: list[str] = []
        try:
            for component in parent.split("/") if parent else []:
                walked.append(component)
                try:
                    next_fd = _open_subdir(dir_fd, component, "/".join(walked))
                except FileNotFoundError:
                    if not create:
                        raise FileNotFoundError(
                            f"no such file in the {self._name}: {rel}"
                        ) from None
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(component, 0o755, dir_fd=dir_fd)
                    next_fd = _open_subdir(dir_fd, component, "/".join(walked))
                os.close(dir_fd)
                dir_fd = next_fd
        except BaseException:
            os.close(dir_fd)
            raise
        return dir_fd

    def _open_regular_file(self, dir_fd: int, leaf: str, rel: str) -> int:
        # lstat first so that devices and FIFOs are never even opened
        try:
            before = os.stat(leaf, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            raise FileNotFoundError(f"no such file in the {self._name}: {rel}") from None
        if not stat.S_ISREG(before.st_mode):
            raise PathRefused(f"{rel} is {_kind(before.st_mode)}, not a regular file")
        try:
            fd = os.open(leaf, _READ_FLAGS, dir_fd=dir_fd)
        except FileNotFoundError:
            raise FileNotFoundError(f"no such file in the {self._name}: {rel}") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise PathRefused(f"{rel} is a symbolic link, not a regular file") from None
            raise
        after = os.fstat(fd)
        if not stat.S_ISREG(after.st_mode):
            os.close(fd)
            raise PathRefused(f"{rel} is {_kind(after.st_mode)}, not a regular file")
        return fd


def _split(rel: str) -> tuple[str, str]:
    parent, _, leaf = rel.rpartition("/")
    return parent, leaf


def _open_subdir(dir_fd: int, name: str, rel: str) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such directory: {rel}") from None
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
    try:
        mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"no such directory: {rel}") from None
    raise PathRefused(f"{rel} is {_kind(mode)}, not a directory")


def _walk(dir_fd: int, base: str) -> Iterator[FileInfo]:
    """Regular files below `dir_fd` in path order; symlinks and special files are skipped."""
    with os.scandir(dir_fd) as entries:
        names = [entry.name for entry in entries]
    children: list[tuple[str, str, os.stat_result]] = []
    for name in names:
        try:
            info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            continue  # vanished or unreadable meanwhile
        if stat.S_ISDIR(info.st_mode):
            # "name/" sorts exactly where the directory's paths sort among its siblings
            children.append((name + "/", name, info))
        elif stat.S_ISREG(info.st_mode):
            children.append((name, name, info))
    children.sort(key=lambda child: child[0])
    for _key, name, info in children:
        path = base + name
        if not _addressable(path):
            continue
        if stat.S_ISREG(info.st_mode):
            yield FileInfo(path, info.st_size)
            continue
        try:
            sub_fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        except OSError:
            continue  # replaced by a symlink or removed since the listing
        try:
            yield from _walk(sub_fd, path + "/")
        finally:
            os.close(sub_fd)


def _addressable(path: str) -> bool:
    """Whether the tools could name this path (undecodable or odd names are left out)."""
    try:
        return normalize_path(path) == path
    except PathRefused:
        return False


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISLNK(mode):
        return "a symbolic link (not followed)"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"
