"""LocalArtifactStore: create-once objects at clean keys, atomic writes, streamed reads."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from core.config import Settings
from core.storage import (
    ArtifactStore,
    InvalidKey,
    ObjectExists,
    ObjectNotFound,
    StoredObject,
    get_artifact_store,
)
from core.storage.store import CHUNK_BYTES, LocalArtifactStore

ROOT = Path(__file__).resolve().parents[2]
BAD_KEYS = [
    "",
    "../outside",
    "a/../../outside",
    "/etc/passwd",
    "a//b",
    "a/./b",
    "a/",
    "a\\b",
    "%2e%2e/outside",
    "a\x00b",
    "~/x",
    "C:/x",
    ".staging/x",
    "x" * 1025,
]


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "store")


def test_local_store_satisfies_the_protocol(store):
    typed: ArtifactStore = store
    assert typed.signed_url("a", ttl_s=60, filename="a", content_type="text/plain") is None


def test_put_then_read_open_and_list(store):
    data = b"hello artifact"
    stored = store.put("artifacts/u/1/hello.txt", data, content_type="text/plain")
    assert stored == StoredObject(
        "artifacts/u/1/hello.txt", len(data), hashlib.sha256(data).hexdigest(), "text/plain"
    )
    assert store.read("artifacts/u/1/hello.txt", max_bytes=5) == (b"hello", len(data))
    assert store.read("artifacts/u/1/hello.txt", max_bytes=100, offset=6) == (b"artifact", 14)
    assert store.read("artifacts/u/1/hello.txt", max_bytes=100, offset=99) == (b"", 14)
    assert b"".join(store.open("artifacts/u/1/hello.txt")) == data
    assert list(store.list("artifacts/")) == [("artifacts/u/1/hello.txt", 14)]


def test_an_object_is_created_once(store):
    store.put("k/a.bin", b"first", content_type="application/octet-stream")
    with pytest.raises(ObjectExists):
        store.put("k/a.bin", b"second", content_type="application/octet-stream")
    assert b"".join(store.open("k/a.bin")) == b"first"
    store.put("k/a.bin", b"replaced", content_type="text/plain", overwrite=True)
    assert b"".join(store.open("k/a.bin")) == b"replaced"


def test_concurrent_creates_of_one_key_leave_exactly_one_complete_object(store):
    outcomes: list[str] = []
    payloads = [bytes([i]) * 200_000 for i in range(8)]
    barrier = threading.Barrier(len(payloads))

    def put(data: bytes) -> None:
        barrier.wait()
        try:
            store.put("race/x", data, content_type="application/octet-stream")
            outcomes.append("created")
        except ObjectExists:
            outcomes.append("exists")

    threads = [threading.Thread(target=put, args=(p,)) for p in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created"] + ["exists"] * 7
    assert b"".join(store.open("race/x")) in payloads
    # no staging leftovers
    assert list((store.root / ".staging").iterdir()) == []


@pytest.mark.parametrize("key", BAD_KEYS)
def test_unclean_keys_are_refused_everywhere(store, tmp_path, key):
    with pytest.raises(InvalidKey):
        store.put(key, b"x", content_type="text/plain")
    with pytest.raises(InvalidKey):
        store.read(key, max_bytes=1)
    with pytest.raises(InvalidKey):
        store.open(key)
    with pytest.raises(InvalidKey):
        store.delete(key)
    assert not (tmp_path / "outside").exists()
    assert list(store.list("")) == []


def test_symlinks_below_the_root_are_not_followed(store, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("SECRET")
    store.put("a/file", b"x", content_type="text/plain")
    os.symlink(outside / "secret", store.root / "a" / "link")
    os.symlink(outside, store.root / "dirlink")
    with pytest.raises(ObjectNotFound):
        store.open("a/link")
    with pytest.raises(ObjectNotFound):
        store.read("dirlink/secret", max_bytes=10)
    assert [key for key, _ in store.list("")] == ["a/file"]


def test_missing_objects(store):
    with pytest.raises(ObjectNotFound):
        store.open("nope")
    with pytest.raises(ObjectNotFound):
        store.read("no/such/thing", max_bytes=1)
    store.delete("no/such/thing")  # fine


def test_delete_removes_the_object_and_its_emptied_directories(store):
    store.put("artifacts/u/1/a.txt", b"a", content_type="text/plain")
    store.put("artifacts/u/2/b.txt", b"b", content_type="text/plain")
    store.delete("artifacts/u/1/a.txt")
    assert not (store.root / "artifacts" / "u" / "1").exists()
    assert (store.root / "artifacts" / "u" / "2" / "b.txt").exists()
    assert [k for k, _ in store.list("")] == ["artifacts/u/2/b.txt"]


def test_list_is_a_string_prefix_in_key_order(store):
    for key in ["ws/b/2", "ws/a.txt", "ws/b/1", "wsx/other", "ws/a-c"]:
        store.put(key, key.encode(), content_type="text/plain")
    assert [k for k, _ in store.list("ws/")] == ["ws/a-c", "ws/a.txt", "ws/b/1", "ws/b/2"]
    assert [k for k, _ in store.list("ws")] == [
        "ws/a-c",
        "ws/a.txt",
        "ws/b/1",
        "ws/b/2",
        "wsx/other",
    ]
    assert [k for k, _ in store.list("ws/b/")] == ["ws/b/1", "ws/b/2"]
    assert list(store.list("nothing/")) == []


def test_open_streams_in_chunks_and_closes_when_abandoned(store):
    data = os.urandom(CHUNK_BYTES * 2 + 10)
    store.put("big", data, content_type="application/octet-stream")
    chunks = list(store.open("big"))
    assert [len(c) for c in chunks] == [CHUNK_BYTES, CHUNK_BYTES, 10]
    before = len(os.listdir("/proc/self/fd"))
    stream = store.open("big")
    next(stream)
    stream.close()  # type: ignore[attr-defined]
    assert len(os.listdir("/proc/self/fd")) == before


def test_get_artifact_store_is_local_by_default_and_reused(tmp_path):
    settings = Settings(data_dir=tmp_path)
    store = get_artifact_store(settings)
    assert isinstance(store, LocalArtifactStore)
    assert store.root == tmp_path / "artifacts"
    assert get_artifact_store(settings) is store


def test_the_gcs_backend_is_chosen_by_the_bucket_and_imports_its_client_on_first_use():
    code = (
        "import sys; from core.config import Settings; from core.storage import get_artifact_store;"
        "s = get_artifact_store(Settings(artifacts_bucket='b'));"
        "print(type(s).__name__, 'google.cloud.storage' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["GcsArtifactStore", "False"]
