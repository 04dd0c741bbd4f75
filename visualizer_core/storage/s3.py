"""Any S3 API through boto3: Cloudflare R2, MinIO or AWS, chosen by the endpoint.

One client is made per instance and shared by every thread (boto3 clients are thread-safe).
Addressing is path-style (``{endpoint}/{bucket}/{key}``), which MinIO and R2 accept and which
needs no wildcard DNS. The region defaults to ``us-east-1``: R2 treats it as its ``auto``
region, MinIO and moto accept it, and AWS users pass their own.

Every failure becomes a :class:`~visualizer_core.errors.StorageError` with one line naming the
operation, the key and the store's own error code; credentials never appear in it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, cast
from urllib.parse import quote

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from visualizer_core.errors import StorageError
from visualizer_core.storage._cache import SizedLRU

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType

__all__ = ["S3Storage"]

_MISSING_OBJECT = frozenset({"NoSuchKey", "404", "NotFound"})
_MISSING_BUCKET = frozenset({"NoSuchBucket", "404", "NotFound"})
# Presigned URLs for pages live six hours and are handed out again while an hour is left, so
# a picture keeps one address (and the browser's cached copy) across reruns of a page.
BROWSER_URL_LIFETIME_S = 6 * 3600
BROWSER_URL_MARGIN_S = 3600
# Regions whose buckets are created without a LocationConstraint.
_DEFAULT_REGIONS = frozenset({"us-east-1", "auto"})
# botocore reads its JSON models (S3's, the endpoints ...) once per session: about a quarter of
# a second of CPU for each new storage. One loader, which only reads and caches what it read,
# shared by every session of the process, parses them once.
_MODELS = botocore.loaders.create_loader()


def _error_code(exc: Exception) -> str:
    """The store's error code ("NoSuchKey" ...); empty for a failure without one."""
    if not isinstance(exc, ClientError):
        return ""
    return str(exc.response.get("Error", {}).get("Code", ""))


def _one_line(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code") or "error"
        message = error.get("Message") or ""
        text = f"{code}: {message}" if message else str(code)
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


class S3Storage:
    """Objects in one bucket of an S3 API; ``public_url`` (when set) is where it is served."""

    name = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        public_url: str | None = None,
        region: str | None = None,
        max_attempts: int = 5,
        max_pool_connections: int = 32,
        connect_timeout_s: float = 10.0,
        read_timeout_s: float = 60.0,
    ) -> None:
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.public_url = public_url.rstrip("/") if public_url else None
        self.region = region or "us-east-1"
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": max_attempts, "mode": "standard"},
            max_pool_connections=max_pool_connections,
            connect_timeout=connect_timeout_s,
            read_timeout=read_timeout_s,
        )
        # A session of our own: boto3's default session is not safe to share between threads.
        core = botocore.session.get_session()
        core.register_component("data_loader", _MODELS)
        session = boto3.session.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=self.region,
            botocore_session=core,
        )
        self._client: S3Client = session.client("s3", endpoint_url=endpoint_url, config=config)
        # key -> (presigned URL, when it expires on the monotonic clock); ~100k URLs at most.
        self._browser_urls: SizedLRU[tuple[str, float]] = SizedLRU(100_000)

    def __repr__(self) -> str:
        return f"S3Storage(bucket={self.bucket!r}, endpoint_url={self.endpoint_url!r})"

    def _failed(self, operation: str, key: str, exc: Exception) -> StorageError:
        return StorageError(
            f"storage {operation} of {key!r} in bucket {self.bucket!r} failed: {_one_line(exc)}"
        )

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        try:
            self._client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=content_type
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._failed("put", key, exc) from exc

    def get(self, key: str) -> bytes:
        """The object's bytes; ``StorageError`` naming the key when there is none."""
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
            body = response["Body"]
            try:
                return body.read()
            finally:
                body.close()
        except (ClientError, BotoCoreError) as exc:
            if _error_code(exc) in _MISSING_OBJECT:
                raise StorageError(f"no stored object at key {key!r}") from exc
            raise self._failed("get", key, exc) from exc

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            if _error_code(exc) in _MISSING_OBJECT:
                return False
            raise self._failed("head", key, exc) from exc
        return True

    def delete(self, key: str) -> None:
        """Remove the object; S3 deletes of missing objects succeed too."""
        try:
            self._client.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise self._failed("delete", key, exc) from exc

    def list(self, prefix: str) -> list[str]:
        """Every key starting with ``prefix``, sorted, across as many pages as there are."""
        found: list[str] = []
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                found.extend(item["Key"] for item in page.get("Contents", []) if "Key" in item)
        except (ClientError, BotoCoreError) as exc:
            raise self._failed("list", prefix, exc) from exc
        return sorted(found)

    def url(self, key: str, *, expires_s: int = 3600) -> str:
        """``{public_url}/{key}`` when a public URL is set, else a presigned GET URL."""
        if self.public_url:
            return f"{self.public_url}/{quote(key)}"
        try:
            return self._client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_s
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._failed("url", key, exc) from exc

    def browser_url(self, key: str) -> str:
        """The public URL when set, else a presigned URL cached for most of its lifetime."""
        if self.public_url:
            return f"{self.public_url}/{quote(key)}"
        now = time.monotonic()
        cached = self._browser_urls.get(key)
        if cached is not None and cached[1] - now > BROWSER_URL_MARGIN_S:
            return cached[0]
        url = self.url(key, expires_s=BROWSER_URL_LIFETIME_S)
        self._browser_urls.put(key, (url, now + BROWSER_URL_LIFETIME_S), 1)
        return url

    def ensure_bucket(self) -> None:
        """Create the bucket unless it exists (for MinIO, demos and tests)."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
            return
        except (ClientError, BotoCoreError) as exc:
            if _error_code(exc) not in _MISSING_BUCKET:
                raise self._failed("ensure_bucket", self.bucket, exc) from exc
        try:
            if self.region in _DEFAULT_REGIONS:
                self._client.create_bucket(Bucket=self.bucket)
            else:
                constraint = cast("BucketLocationConstraintType", self.region)
                self._client.create_bucket(
                    Bucket=self.bucket,
                    CreateBucketConfiguration={"LocationConstraint": constraint},
                )
        except (ClientError, BotoCoreError) as exc:
            if _error_code(exc) != "BucketAlreadyOwnedByYou":  # another process won the race
                raise self._failed("ensure_bucket", self.bucket, exc) from exc

    def close(self) -> None:
        """Close the client's connections; the instance must not be used afterwards."""
        self._client.close()
