"""Real Celery worker processes for tests and benchmarks, on the live Redis and PostgreSQL.

- :func:`claim_redis_db`: one of the Redis databases 10-12 (the queue tests' own), held
  exclusively across every test process on this machine by a lock key in database 0, and
  flushed when released: several engineers' suites may run at once and must not share a broker.
- :class:`QueueStack`: a fresh migrated PostgreSQL database, an S3 bucket on the test server and
  a claimed Redis database, with the settings a user would set for them; ``activate()`` makes
  them this process's backends (so ``generate`` dispatches through Celery), and
  :meth:`QueueStack.start_worker` runs ``visualizer worker`` as a subprocess on the same ones.
- :class:`WorkerProcess`: one such subprocess, its log file, its memory, ``kill()``.
- :func:`make_world`: a client with matched products and a scene, through the services.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from tests.conftest import (
    REDIS_URL,
    TEST_AUTH_SECRET,
    create_postgres_database,
    drop_postgres_database,
)
from tests.servers.s3 import ACCESS_KEY_ID, SECRET_ACCESS_KEY, make_s3_storage
from visualizer_core import backends
from visualizer_core.config import Settings, load_settings
from visualizer_core.db import migrate
from visualizer_core.db.engine import make_engine
from visualizer_core.scope import ADMIN
from visualizer_core.services import analysis, clients, products, sessions

__all__ = [
    "QUEUE_REDIS_DBS",
    "QueueStack",
    "WorkerProcess",
    "World",
    "claim_redis_db",
    "make_world",
    "queue_stack",
]

QUEUE_REDIS_DBS = (10, 11, 12)
_LOCK_KEY = "vz-queue-tests:redis-db:{}"
_LOCK_TTL_S = 3600
_READY_TIMEOUT_S = 60.0
ROOT = Path(__file__).resolve().parents[2]


def _base_redis_url() -> str:
    return REDIS_URL.rsplit("/", 1)[0]


def _holder_alive(holder: bytes | None) -> bool:
    if holder is None:
        return False
    host, _, pid = holder.decode().rpartition(":")
    if host != socket.gethostname():
        return True  # another machine's: trust its expiry
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


@contextlib.contextmanager
def claim_redis_db(wait_s: float = 900.0) -> Iterator[int]:
    """One of :data:`QUEUE_REDIS_DBS`, exclusively, flushed before and after use."""
    control = redis.Redis.from_url(f"{_base_redis_url()}/0")
    me = f"{socket.gethostname()}:{os.getpid()}"
    deadline = time.monotonic() + wait_s
    number: int | None = None
    try:
        while number is None:
            for candidate in QUEUE_REDIS_DBS:
                key = _LOCK_KEY.format(candidate)
                if control.set(key, me, nx=True, ex=_LOCK_TTL_S):
                    number = candidate
                    break
                holder = control.get(key)
                if holder == me.encode():
                    continue  # this process holds it already for another test
                if not _holder_alive(holder):
                    control.delete(key)
            else:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"no free Redis database among {QUEUE_REDIS_DBS} after {wait_s:.0f} s"
                    )
                time.sleep(1.0)
        db = redis.Redis.from_url(f"{_base_redis_url()}/{number}")
        db.flushdb()
        try:
            yield number
        finally:
            db.flushdb()
            db.close()
            if control.get(_LOCK_KEY.format(number)) == me.encode():
                control.delete(_LOCK_KEY.format(number))
    finally:
        control.close()


class WorkerProcess:
    """``visualizer worker --concurrency N`` in its own process group, logging to a file."""

    def __init__(self, env: dict[str, str], *, concurrency: int, log_path: Path) -> None:
        self.log_path = log_path
        self.concurrency = concurrency
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "visualizer_cli",
                    "worker",
                    "--concurrency",
                    str(concurrency),
                ],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = _READY_TIMEOUT_S) -> WorkerProcess:
        """Block until Celery says the worker is ready; fail with its log if it never is."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.log():
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"the Celery worker did not start; its log:\n{self.log()[-4000:]}")

    def rss_mb(self) -> float:
        """Resident memory of the worker process, in MiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS for the worker process")

    def kill(self) -> None:
        """SIGKILL: the worker dies at once, mid-task, without acknowledging anything."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """Ask for a warm shutdown; kill the worker if it has not stopped after a while."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class QueueStack:
    """PostgreSQL, S3 and a Redis database of our own, and the workers started on them."""

    database_url: str
    redis_url: str
    s3_endpoint: str | None  # None: the storage folder in ``home``, shared by every process
    bucket: str | None
    home: Path
    app_env: str = "client"
    workers: list[WorkerProcess] = field(default_factory=list)

    def settings(self, **extra: Any) -> Settings:
        """The settings of the test process (the one that calls ``generate``)."""
        storage: dict[str, Any] = {}
        if self.bucket:
            storage = {
                "r2_bucket": self.bucket,
                "r2_endpoint": self.s3_endpoint,
                "r2_access_key_id": ACCESS_KEY_ID,
                "r2_secret_access_key": SECRET_ACCESS_KEY,
            }
        return load_settings(
            visualizer_home=self.home,
            database_url=self.database_url,
            redis_url=self.redis_url,
            app_env=self.app_env,
            auth_secret=TEST_AUTH_SECRET,
            **storage,
            **extra,
        )

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a worker process: the same backends, set as a user would."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("VISUALIZER_", "R2_", "GEMINI_", "PYTEST_"))
        }
        env.update(
            {
                "VISUALIZER_HOME": str(self.home),
                "DATABASE_URL": self.database_url,
                "REDIS_URL": self.redis_url,
                "APP_ENV": self.app_env,
                "AUTH_SECRET": TEST_AUTH_SECRET,
                "VISUALIZER_AI": "local",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.bucket and self.s3_endpoint:
            env |= {
                "R2_BUCKET": self.bucket,
                "R2_ENDPOINT": self.s3_endpoint,
                "R2_ACCESS_KEY_ID": ACCESS_KEY_ID,
                "R2_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            }
        env.update(extra)
        return env

    def start_worker(
        self, *, concurrency: int = 4, ready: bool = True, **env: str
    ) -> WorkerProcess:
        """Start ``visualizer worker`` (environment overrides as keyword arguments)."""
        index = len(self.workers)
        worker = WorkerProcess(
            self.env(**env), concurrency=concurrency, log_path=self.home / f"worker-{index}.log"
        )
        self.workers.append(worker)
        return worker.wait_ready() if ready else worker

    def redis(self) -> redis.Redis[bytes]:
        """A client on the stack's own Redis database."""
        return redis.Redis.from_url(self.redis_url)

    def worker_logs(self) -> str:
        return "\n".join(w.log() for w in self.workers)

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()


@contextlib.contextmanager
def queue_stack(s3_endpoint: str | None, home: Path, **settings: Any) -> Iterator[QueueStack]:
    """A :class:`QueueStack`, active as this process's backends while the block runs.

    Without ``s3_endpoint`` the processes share the storage folder in ``home`` instead.
    """
    database_url = create_postgres_database("vz_queue")
    try:
        engine = make_engine(database_url)
        migrate.upgrade(engine)
        engine.dispose()
        bucket = None
        if s3_endpoint is not None:
            storage = make_s3_storage(s3_endpoint)
            bucket = storage.bucket
            storage.close()
        with claim_redis_db() as number:
            home.mkdir(parents=True, exist_ok=True)
            stack = QueueStack(
                database_url=database_url,
                redis_url=f"{_base_redis_url()}/{number}",
                s3_endpoint=s3_endpoint,
                bucket=bucket,
                home=home,
            )
            built = backends.build(stack.settings(**settings))
            backends.activate(built)
            try:
                yield stack
            finally:
                stack.stop_workers()
                backends.reset()
    finally:
        drop_postgres_database(database_url)


@dataclass(frozen=True)
class World:
    client_id: uuid.UUID
    session_id: uuid.UUID
    product_ids: list[uuid.UUID]


def make_world(
    folder: Path, *, products_count: int, daily_quota: int = 10_000, name: str | None = None
) -> World:
    """A client with ``products_count`` analysed products, one scene, every product matched."""
    from tests import factories

    client = clients.create_client(
        ADMIN, name=name or factories.random_name("Queue brand"), daily_quota=daily_quota
    )
    session = sessions.create_session(ADMIN, client_id=client.id, name="Bulk run")
    sessions.add_scenes(
        ADMIN,
        session_id=session.id,
        files=[("living.jpg", factories.scene_photo())],
        room_type="Living Room",
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "chair.jpg").write_bytes(factories.product_photo())
    records = [
        {"sku": f"SKU-{i:04d}", "name": f"Armchair {i}", "category": "chair", "image": "chair.jpg"}
        for i in range(products_count)
    ]
    report = products.import_products(
        ADMIN, client_id=client.id, records=records, images_dir=folder
    )
    assert report.failed == 0, report.errors
    analysis.match_session(ADMIN, session_id=session.id)
    return World(
        client_id=client.id,
        session_id=session.id,
        product_ids=[uuid.UUID(p) for p in report.product_ids],
    )
