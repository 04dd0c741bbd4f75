"""A real S3 API server on loopback for the tests: moto's standalone server in its own process.

Loaded as a pytest plugin (``pytest_plugins = ["tests.servers.s3"]``). Fixtures:

- ``s3_server``: the endpoint URL of one server process for the whole session;
- ``s3_storage``: an :class:`S3Storage` on a fresh bucket of its own.

A server that does not start fails the tests that need it; nothing here skips.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from visualizer_core.storage import S3Storage

__all__ = ["ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "make_s3_storage", "s3_server", "s3_storage"]

ACCESS_KEY_ID = "test"
SECRET_ACCESS_KEY = "test"
_START_TIMEOUT_S = 30.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_answering(process: subprocess.Popen[bytes], endpoint: str) -> bool:
    """True once the server answers HTTP; False if the process exits or time runs out."""
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            httpx.get(f"{endpoint}/moto-api/", timeout=1.0)
        except httpx.TransportError:
            time.sleep(0.05)
            continue
        return True
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _start_server(log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start moto's server on a free loopback port (retrying if the port was taken meanwhile)."""
    for _attempt in range(3):
        port = _free_port()
        endpoint = f"http://127.0.0.1:{port}"
        # The log goes to a file: an unread pipe would fill up and stall the server.
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if _wait_until_answering(process, endpoint):
            return process, endpoint
        _stop(process)
    log_tail = log_path.read_text(errors="replace")[-2000:]
    pytest.fail(f"the S3 test server (moto) did not start; its log:\n{log_tail}", pytrace=False)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The endpoint URL of a real S3 API server process on loopback."""
    log_path = tmp_path_factory.mktemp("s3-server") / "moto.log"
    process, endpoint = _start_server(log_path)
    try:
        yield endpoint
    finally:
        _stop(process)


def make_s3_storage(
    endpoint: str,
    *,
    bucket: str | None = None,
    public_url: str | None = None,
    max_attempts: int = 5,
) -> S3Storage:
    """An :class:`S3Storage` on the test server, on a new uniquely named bucket by default."""
    storage = S3Storage(
        bucket or f"vz-test-{uuid.uuid4().hex[:16]}",
        endpoint_url=endpoint,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
        public_url=public_url,
        max_attempts=max_attempts,
    )
    storage.ensure_bucket()
    return storage


@pytest.fixture
def s3_storage(s3_server: str) -> Iterator[S3Storage]:
    """An :class:`S3Storage` on a fresh bucket of the test server.

    Tests that configure storage through settings read its ``.bucket`` and ``.endpoint_url``.
    """
    storage = make_s3_storage(s3_server)
    try:
        yield storage
    finally:
        storage.close()
