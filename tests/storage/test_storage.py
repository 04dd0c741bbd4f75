"""The object stores behave alike: the folder and an S3 API (moto's server on loopback)."""

from __future__ import annotations

import base64
import re
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
import pytest

import visualizer_core.storage as storage_package
from tests.servers.s3 import make_s3_storage
from visualizer_core.errors import StorageError
from visualizer_core.storage import LocalStorage, S3Storage, Storage, keys

MakeStorage = Callable[..., Storage]

KEY = "clients/c1/sessions/s1/media/image.jpg"


@pytest.fixture(params=["local", "s3"])
def make_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeStorage]:
    """Builds stores of one kind; each call gets an empty one."""
    made: list[S3Storage] = []

    def make(*, public_url: str | None = None) -> Storage:
        if request.param == "local":
            return LocalStorage(tmp_path / f"store-{len(made)}", public_url=public_url)
        s3 = make_s3_storage(request.getfixturevalue("s3_server"), public_url=public_url)
        made.append(s3)
        return s3

    yield make
    for s3 in made:
        s3.close()


@pytest.fixture
def storage(make_storage: MakeStorage) -> Storage:
    return make_storage()


def test_public_api() -> None:
    assert sorted(storage_package.__all__) == ["LocalStorage", "S3Storage", "Storage", "keys"]
    assert storage_package.keys is keys


def test_implements_the_protocol(storage: Storage) -> None:
    assert isinstance(storage, Storage)
    assert storage.name in ("local", "s3")


def test_put_then_get_returns_the_same_bytes(storage: Storage) -> None:
    data = bytes(range(256)) * 64
    storage.put(KEY, data, content_type="image/jpeg")
    assert storage.get(KEY) == data


def test_empty_object_roundtrips(storage: Storage) -> None:
    storage.put(KEY, b"", content_type="application/octet-stream")
    assert storage.exists(KEY)
    assert storage.get(KEY) == b""


def test_put_overwrites(storage: Storage) -> None:
    storage.put(KEY, b"first version", content_type="text/plain")
    storage.put(KEY, b"second", content_type="text/plain")
    assert storage.get(KEY) == b"second"
    assert storage.list("clients/") == [KEY]


def test_get_of_a_missing_key_names_the_key(storage: Storage) -> None:
    with pytest.raises(StorageError, match=re.escape("clients/c1/missing.png")):
        storage.get("clients/c1/missing.png")


def test_exists(storage: Storage) -> None:
    assert not storage.exists(KEY)
    storage.put(KEY, b"x", content_type="image/jpeg")
    assert storage.exists(KEY)
    assert not storage.exists("clients/c1/sessions/s1/media")  # a "folder" is not an object


def test_delete_removes_and_is_idempotent(storage: Storage) -> None:
    storage.put(KEY, b"x", content_type="image/jpeg")
    storage.delete(KEY)
    assert not storage.exists(KEY)
    storage.delete(KEY)
    storage.delete("clients/never/was.png")
    with pytest.raises(StorageError, match=re.escape(KEY)):
        storage.get(KEY)


def test_list_by_prefix_is_sorted(storage: Storage) -> None:
    names = [
        "clients/b/products/p/media/images/base/2.png",
        "clients/a/sessions/s/media/z.jpg",
        "clients/a/sessions/s/media/a.jpg",
        "clients/ab/sessions/s/media/x.jpg",
        "clients/a/products/p/media/images/preview/1.jpg",
        "other/a.txt",
    ]
    for name in names:
        storage.put(name, b"x", content_type="application/octet-stream")

    assert storage.list("clients/a/") == [
        "clients/a/products/p/media/images/preview/1.jpg",
        "clients/a/sessions/s/media/a.jpg",
        "clients/a/sessions/s/media/z.jpg",
    ]
    # A prefix is a plain string prefix, as in S3, not a folder.
    assert storage.list("clients/a") == [
        "clients/a/products/p/media/images/preview/1.jpg",
        "clients/a/sessions/s/media/a.jpg",
        "clients/a/sessions/s/media/z.jpg",
        "clients/ab/sessions/s/media/x.jpg",
    ]
    assert storage.list("clients/a/sessions/s/media/a") == ["clients/a/sessions/s/media/a.jpg"]
    assert storage.list("") == sorted(names)
    assert storage.list("clients/nobody/") == []


def test_list_with_the_key_builders(storage: Storage) -> None:
    base = keys.product_base("c1", "p1", "i1")
    preview = keys.product_preview("c1", "p1", "i1")
    generated = keys.generated_image("c1", "s1", "g1")
    for key in (base, preview, generated):
        storage.put(key, b"x", content_type="image/png")
    assert storage.list(keys.product_prefix("c1", "p1")) == sorted([base, preview])
    assert storage.list(keys.session_prefix("c1", "s1")) == [generated]
    assert storage.list(keys.client_prefix("c1")) == sorted([base, preview, generated])


def test_url_uses_the_public_url(make_storage: MakeStorage) -> None:
    storage = make_storage(public_url="https://cdn.example.com/media/")
    assert storage.url(KEY) == f"https://cdn.example.com/media/{KEY}"


def test_concurrent_puts_from_threads(storage: Storage) -> None:
    names = [f"clients/c/sessions/s/media/{i:03d}.jpg" for i in range(120)]

    def put(name: str) -> None:
        storage.put(name, name.encode() * 100, content_type="image/jpeg")

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(put, names))
    assert storage.list("clients/c/") == names
    for name in names:
        assert storage.get(name) == name.encode() * 100


def test_readers_never_see_half_an_overwrite(storage: Storage) -> None:
    versions = [bytes([value]) * 256_000 for value in (1, 2, 3)]
    storage.put(KEY, versions[0], content_type="image/jpeg")
    stop = threading.Event()
    seen: list[bytes] = []

    def read() -> None:
        while not stop.is_set():
            seen.append(storage.get(KEY))

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    try:
        for round_ in range(30):
            storage.put(KEY, versions[round_ % 3], content_type="image/jpeg")
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert seen
    assert all(data in versions for data in seen)


# The S3 API only.


def test_s3_list_pages_past_a_thousand_keys(s3_storage: S3Storage) -> None:
    names = [f"many/{i:05d}" for i in range(1001)]

    def put(name: str) -> None:
        s3_storage.put(name, b"", content_type="application/octet-stream")

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(put, names))
    s3_storage.put("manz", b"", content_type="application/octet-stream")
    assert s3_storage.list("many/") == names


def test_s3_presigned_url_serves_the_bytes(s3_storage: S3Storage) -> None:
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
    s3_storage.put(KEY, data, content_type="image/png")

    url = s3_storage.url(KEY, expires_s=120)

    assert url.startswith(f"{s3_storage.endpoint_url}/{s3_storage.bucket}/")
    assert "X-Amz-Expires=120" in url
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == "image/png"


def test_s3_ensure_bucket_is_idempotent(s3_storage: S3Storage) -> None:
    s3_storage.put(KEY, b"kept", content_type="text/plain")
    s3_storage.ensure_bucket()
    assert s3_storage.get(KEY) == b"kept"


def test_s3_errors_name_operation_and_key_but_never_the_secret(s3_server: str) -> None:
    secret = "super-secret-value-123"
    storage = S3Storage(
        "vz-never-created",
        endpoint_url=s3_server,
        access_key_id="test",
        secret_access_key=secret,
    )
    try:
        with pytest.raises(StorageError) as raised:
            storage.put(KEY, b"x", content_type="image/jpeg")
        message = str(raised.value)
        assert "put" in message
        assert KEY in message
        assert "NoSuchBucket" in message
        assert "\n" not in message
        assert secret not in message
        assert secret not in repr(storage)
        with pytest.raises(StorageError, match="list"):
            storage.list("clients/")
    finally:
        storage.close()


def test_s3_unreachable_server_is_a_storage_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: nothing listens
    storage = S3Storage(
        "bucket",
        endpoint_url=f"http://127.0.0.1:{port}",
        access_key_id="test",
        secret_access_key="test",
        max_attempts=1,
    )
    try:
        with pytest.raises(StorageError, match=r"storage get of 'a/b.png'"):
            storage.get("a/b.png")
    finally:
        storage.close()


# The folder only.


@pytest.mark.parametrize(
    "key",
    [
        "",
        "../outside.png",
        "clients/../../outside.png",
        "/etc/passwd",
        "clients//x.png",
        "./x.png",
        "clients/.",
        "clients/",
        "clients\\..\\x.png",
        "x\x00.png",
    ],
)
def test_local_refuses_keys_that_leave_the_root(tmp_path: Path, key: str) -> None:
    storage = LocalStorage(tmp_path / "store")
    with pytest.raises(StorageError):
        storage.put(key, b"x", content_type="image/png")
    with pytest.raises(StorageError):
        storage.get(key)
    with pytest.raises(StorageError):
        storage.exists(key)
    with pytest.raises(StorageError):
        storage.delete(key)
    with pytest.raises(StorageError):
        storage.url(key)
    assert not (tmp_path / "outside.png").exists()


def test_local_refuses_prefixes_that_leave_the_root(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("x")
    storage = LocalStorage(tmp_path / "store")
    for prefix in ("../", "/etc/", "a/../../"):
        with pytest.raises(StorageError):
            storage.list(prefix)


def test_local_keys_map_to_files_under_the_root(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "store")
    storage.put(KEY, b"data", content_type="image/jpeg")
    assert (tmp_path / "store" / KEY).read_bytes() == b"data"
    # Nothing but the object is left behind by the atomic write.
    assert [p.name for p in (tmp_path / "store" / KEY).parent.iterdir()] == ["image.jpg"]


def test_local_list_skips_unfinished_writes(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "store")
    storage.put(KEY, b"data", content_type="image/jpeg")
    folder = (tmp_path / "store" / KEY).parent
    (folder / ".image.jpg.0123456789abcdef.tmp").write_bytes(b"half")
    assert storage.list("") == [KEY]


def test_local_list_of_a_missing_root_is_empty(tmp_path: Path) -> None:
    assert LocalStorage(tmp_path / "nothing-here").list("") == []


def test_local_url_without_public_url_is_the_file(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "store")
    storage.put(KEY, b"data", content_type="image/jpeg")
    url = storage.url(KEY)
    assert url.startswith("file://")
    assert Path(unquote(urlsplit(url).path)).read_bytes() == b"data"


def test_local_key_under_an_object_is_a_storage_error(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "store")
    storage.put("a/b", b"x", content_type="text/plain")
    with pytest.raises(StorageError, match="a/b/c"):
        storage.put("a/b/c", b"y", content_type="text/plain")
    with pytest.raises(StorageError, match="a/b/c"):
        storage.get("a/b/c")
    assert not storage.exists("a/b/c")
    storage.delete("a/b/c")
    storage.delete("a")  # a folder: no object there
    assert storage.get("a/b") == b"x"


def test_browser_url_uses_the_public_url(make_storage: MakeStorage) -> None:
    storage = make_storage(public_url="https://cdn.example.com/media")
    storage.put(KEY, b"x", content_type="image/jpeg")
    assert storage.browser_url(KEY) == f"https://cdn.example.com/media/{KEY}"


def test_s3_browser_url_is_presigned_once_and_serves_the_bytes(s3_storage: S3Storage) -> None:
    s3_storage.put(KEY, b"picture", content_type="image/jpeg")

    first = s3_storage.browser_url(KEY)
    again = s3_storage.browser_url(KEY)

    assert first == again  # the same address on every rerun: the browser's cache works
    assert "X-Amz-Expires=21600" in first
    assert httpx.get(first).content == b"picture"
    other = "clients/c1/sessions/s1/media/other.jpg"
    s3_storage.put(other, b"other", content_type="image/jpeg")
    assert httpx.get(s3_storage.browser_url(other)).content == b"other"


def test_local_browser_url_is_a_data_url_read_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = LocalStorage(tmp_path)
    storage.put(KEY, b"first", content_type="image/jpeg")
    reads: list[str] = []
    original = LocalStorage.get

    def counting_get(self: LocalStorage, key: str) -> bytes:
        reads.append(key)
        return original(self, key)

    monkeypatch.setattr(LocalStorage, "get", counting_get)

    url = storage.browser_url(KEY)
    assert url == "data:image/jpeg;base64," + base64.b64encode(b"first").decode()
    assert storage.browser_url(KEY) == url
    assert reads == [KEY]  # the second call was served from the cache

    storage.put(KEY, b"second!", content_type="image/jpeg")  # rewritten: read afresh
    assert base64.b64decode(storage.browser_url(KEY).split(",", 1)[1]) == b"second!"
    with pytest.raises(StorageError, match=r"missing\.jpg"):
        storage.browser_url("clients/c1/missing.jpg")
