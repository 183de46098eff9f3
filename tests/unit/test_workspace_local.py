"""LocalWorkspace: relative paths only; no symlink followed, no special file opened or waited on."""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path

import pytest

from core.storage.local_workspace import FileInfo, LocalWorkspace, Workspace
from core.storage.paths import PathRefused


def _workspace(root: Path, *, writable: bool = True) -> LocalWorkspace:
    return LocalWorkspace(root, name="workspace", writable=writable)


def _finishes_quickly(call, seconds: float = 2.0):
    """Run `call` in a daemon thread; fail (instead of hanging the suite) if it blocks."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"call still blocked after {seconds} s"
    assert time.monotonic() - started < seconds
    return outcome


def _open_fds(under: Path | None = None) -> int:
    """Descriptors this process holds (under `under` only, when given: other threads of the
    test process — database pools, dispatchers — open and close their own meanwhile)."""
    names = os.listdir("/proc/self/fd")
    if under is None:
        return len(names)
    count = 0
    for name in names:
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # closed meanwhile
            continue
        count += target.startswith(str(under))
    return count


def test_local_workspace_satisfies_the_protocol(tmp_path):
    ws: Workspace = _workspace(tmp_path)
    assert ws.name == "workspace"
    assert ws.writable


def test_write_creates_root_and_parents_lazily_and_reads_back(tmp_path):
    root = tmp_path / "not-yet"
    ws = _workspace(root)
    assert not root.exists()
    assert list(ws.list_files()) == []
    info = ws.write("a/b/c.txt", b"hello")
    assert info == FileInfo("a/b/c.txt", 5)
    assert (root / "a" / "b" / "c.txt").read_bytes() == b"hello"
    assert ws.read("a/b/c.txt", max_bytes=100) == (b"hello", 5)


def test_write_replaces_atomically_and_leaves_no_temp_files(tmp_path):
    ws = _workspace(tmp_path)
    ws.write("f.txt", b"first version")
    ws.write("./f.txt", b"second")
    assert (tmp_path / "f.txt").read_bytes() == b"second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]


def test_failed_write_removes_its_temp_file(tmp_path):
    ws = _workspace(tmp_path)
    with pytest.raises(TypeError):
        ws.write("f.txt", "not bytes")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_read_is_bounded_and_reports_the_total_size(tmp_path):
    ws = _workspace(tmp_path)
    ws.write("f.bin", bytes(range(256)) * 10)
    data, size = ws.read("f.bin", max_bytes=16)
    assert (data, size) == (bytes(range(16)), 2560)
    data, size = ws.read("f.bin", max_bytes=4, offset=2558)
    assert (data, size) == (bytes([254, 255]), 2560)
    assert ws.read("f.bin", max_bytes=0) == (b"", 2560)


def test_missing_file_message_is_relative(tmp_path):
    ws = _workspace(tmp_path)
    ws.write("d/exists.txt", b"x")
    for path in ["nope.txt", "d/nope.txt", "nodir/x.txt"]:
        with pytest.raises(FileNotFoundError) as missing:
            ws.read(path, max_bytes=10)
        assert path in str(missing.value)
        assert str(tmp_path) not in str(missing.value)


def test_missing_root_reads_as_missing_file(tmp_path):
    ws = _workspace(tmp_path / "absent")
    with pytest.raises(FileNotFoundError) as missing:
        ws.read("x.txt", max_bytes=10)
    assert str(tmp_path) not in str(missing.value)


def test_read_only_workspace_refuses_writes(tmp_path):
    ws = LocalWorkspace(tmp_path, name="repo", writable=False)
    with pytest.raises(PathRefused, match="repo is read-only"):
        ws.write("x.txt", b"x")
    assert list(tmp_path.iterdir()) == []


def test_root_directory_is_not_a_file(tmp_path):
    ws = _workspace(tmp_path)
    for path in ["", ".", "./"]:
        with pytest.raises(PathRefused, match="root directory"):
            ws.read(path, max_bytes=1)
        with pytest.raises(PathRefused, match="root directory"):
            ws.write(path, b"x")


def test_directories_and_files_are_not_confused(tmp_path):
    ws = _workspace(tmp_path)
    ws.write("d/f.txt", b"x")
    with pytest.raises(PathRefused, match="directory"):
        ws.read("d", max_bytes=1)
    with pytest.raises(PathRefused, match="directory"):
        ws.write("d", b"x")
    with pytest.raises(PathRefused, match="not a directory"):
        ws.write("d/f.txt/g.txt", b"x")
    with pytest.raises(PathRefused, match="not a directory"):
        ws.read("d/f.txt/g.txt", max_bytes=1)


@pytest.fixture
def tree_with_links(tmp_path: Path) -> tuple[LocalWorkspace, Path, Path]:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"SECRET")
    (root / "inner.txt").write_bytes(b"inner")
    (root / "sub").mkdir()
    (root / "file_link").symlink_to(outside / "secret.txt")
    (root / "relative_link").symlink_to("../outside/secret.txt")
    (root / "dir_link").symlink_to(outside, target_is_directory=True)
    (root / "inner_link").symlink_to("inner.txt")
    (root / "sub" / "up_link").symlink_to("../..", target_is_directory=True)
    (root / "dangling").symlink_to(outside / "nothing-here")
    return _workspace(root), root, outside


@pytest.mark.parametrize(
    "path",
    [
        "file_link",
        "relative_link",
        "dir_link/secret.txt",
        "inner_link",
        "sub/up_link/outside/secret.txt",
        "sub/up_link/root/inner.txt",
        "dangling",
    ],
)
def test_symlinks_are_never_followed(tree_with_links, path):
    ws, root, outside = tree_with_links
    with pytest.raises(PathRefused, match="symbolic link") as refused:
        ws.read(path, max_bytes=100)
    assert str(root) not in str(refused.value)
    with pytest.raises(PathRefused, match="symbolic link"):
        ws.write(path, b"overwritten")
    assert (outside / "secret.txt").read_bytes() == b"SECRET"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (root / "inner.txt").read_bytes() == b"inner"


def test_write_through_a_symlinked_directory_creates_nothing_outside(tree_with_links):
    ws, _root, outside = tree_with_links
    for path in ["dir_link/new.txt", "dir_link/deeper/new.txt", "sub/up_link/outside/x"]:
        with pytest.raises(PathRefused):
            ws.write(path, b"x")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


def test_listing_skips_symlinks_and_never_descends_through_them(tree_with_links):
    ws, _root, _outside = tree_with_links
    assert list(ws.list_files()) == [FileInfo("inner.txt", 5)]
    with pytest.raises(PathRefused, match="symbolic link"):
        list(ws.list_files("dir_link"))
    with pytest.raises(PathRefused, match="symbolic link"):
        list(ws.list_files("sub/up_link/outside"))


def test_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    ws = _workspace(tmp_path)
    outcome = _finishes_quickly(lambda: ws.read("pipe", max_bytes=10))
    assert isinstance(outcome.get("error"), PathRefused)
    assert "named pipe" in str(outcome["error"])
    outcome = _finishes_quickly(lambda: ws.write("pipe", b"x"))
    assert isinstance(outcome.get("error"), PathRefused)
    assert stat.S_ISFIFO(os.lstat(tmp_path / "pipe").st_mode)
    outcome = _finishes_quickly(lambda: list(ws.list_files()))
    assert outcome == {"value": []}


def test_socket_file_is_refused(tmp_path):
    try:
        os.mknod(tmp_path / "sock", stat.S_IFSOCK | 0o600)
    except PermissionError:
        pytest.skip("cannot create a socket inode here")
    ws = _workspace(tmp_path)
    with pytest.raises(PathRefused, match="socket"):
        ws.read("sock", max_bytes=10)
    assert list(ws.list_files()) == []


def test_listing_is_recursive_and_sorted_by_path(tmp_path):
    ws = _workspace(tmp_path)
    for path in ["b.txt", "a/z.txt", "a.txt", "a/b/c.txt", "a-b", "A.txt", "a/b.txt"]:
        ws.write(path, path.encode())
    (tmp_path / "empty-dir").mkdir()
    paths = [info.path for info in ws.list_files()]
    assert paths == sorted(paths)
    assert paths == ["A.txt", "a-b", "a.txt", "a/b.txt", "a/b/c.txt", "a/z.txt", "b.txt"]
    assert {info.path: info.size for info in ws.list_files()}["a/b/c.txt"] == len("a/b/c.txt")


def test_listing_a_prefix(tmp_path):
    ws = _workspace(tmp_path)
    for path in ["a/x.txt", "a/b/y.txt", "ab/z.txt"]:
        ws.write(path, b"1")
    assert [i.path for i in ws.list_files("a")] == ["a/b/y.txt", "a/x.txt"]
    assert [i.path for i in ws.list_files("a/")] == ["a/b/y.txt", "a/x.txt"]
    assert [i.path for i in ws.list_files("a/x.txt")] == ["a/x.txt"]
    assert list(ws.list_files("missing")) == []
    assert list(ws.list_files("missing/deeper")) == []
    with pytest.raises(PathRefused):
        list(ws.list_files("../a"))


def test_listing_leaves_out_names_the_tools_could_not_address(tmp_path):
    ws = _workspace(tmp_path)
    ws.write("ok.txt", b"1")
    for name in [b"\xff.txt", b"new\nline.txt", b"back\\slash", b"%41.txt"]:
        fd = os.open(os.path.join(os.fsencode(tmp_path), name), os.O_CREAT | os.O_WRONLY, 0o644)
        os.close(fd)
    assert [i.path for i in ws.list_files()] == ["ok.txt"]


def test_listing_is_lazy_and_closes_its_descriptors(tmp_path):
    ws = _workspace(tmp_path)
    for index in range(30):
        ws.write(f"d{index % 3}/deep/f{index}.txt", b"x")
    before = _open_fds(tmp_path)
    listing = ws.list_files()
    first = next(listing)
    assert first.path == "d0/deep/f0.txt"
    assert _open_fds(tmp_path) > before  # directories are held open while walking
    listing.close()
    assert _open_fds(tmp_path) == before
    assert len(list(ws.list_files())) == 30
    assert _open_fds(tmp_path) == before


def test_operations_close_their_descriptors(tmp_path):
    ws = _workspace(tmp_path)
    os.mkfifo(tmp_path / "pipe")
    before = _open_fds(tmp_path)
    for _ in range(50):
        ws.write("a/b.txt", b"x")
        ws.read("a/b.txt", max_bytes=1)
        for path in ["pipe", "missing", "a/missing"]:
            with pytest.raises((PathRefused, FileNotFoundError)):
                ws.read(path, max_bytes=1)
    assert _open_fds(tmp_path) == before
