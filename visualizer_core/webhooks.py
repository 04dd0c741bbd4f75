"""Webhook delivery: a flow's JSON summary, signed with HMAC-SHA256, retried with backoff.

The receiver checks ``X-Visualizer-Signature: sha256=<hex>``, the HMAC-SHA256 of
``"{X-Visualizer-Timestamp}.{body}"`` with the client's webhook secret, and should refuse a
timestamp older than a few minutes (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from visualizer_core.outbound import CheckedURL, pinned_client

__all__ = ["Delivery", "deliver", "sign"]

ATTEMPTS = 5
BACKOFF_S = 1.0  # waits 1, 2, 4, 8 s between the attempts
TIMEOUT_S = 10.0


class _RetryableStatus(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"the receiver answered {status}")
        self.status = status


@dataclass(frozen=True)
class Delivery:
    """How one delivery went: whether it landed, after how many attempts, and why not."""

    delivered: bool
    attempts: int
    status_code: int | None
    error: str | None


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: the HMAC-SHA256 of ``"{timestamp}.{body}"`` with the secret."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def deliver(
    url: CheckedURL,
    secret: str,
    payload: dict[str, Any],
    *,
    attempts: int = ATTEMPTS,
    backoff_s: float = BACKOFF_S,
) -> Delivery:
    """POST the payload to a URL that passed the outbound guard; retry network errors, 5xx and
    429 with exponential backoff.

    The connection goes to the addresses that were checked (never a new DNS answer), redirects
    are not followed (a 3xx is a final answer). A 2xx answer is delivered; any other 4xx is final
    at once (the receiver refused it).
    """
    body = json.dumps(payload, sort_keys=True, default=str).encode()
    tries = {"n": 0}
    last_status: dict[str, int | None] = {"code": None}

    def post_once(client: httpx.Client) -> int:
        tries["n"] += 1
        timestamp = str(int(time.time()))
        response = client.post(
            url.url,
            content=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": "visualizer-webhook/1",
                "X-Visualizer-Event": str(payload.get("event", "flow.finished")),
                "X-Visualizer-Timestamp": timestamp,
                "X-Visualizer-Signature": sign(secret, timestamp, body),
            },
        )
        last_status["code"] = response.status_code
        if response.status_code >= 500 or response.status_code == 429:
            raise _RetryableStatus(response.status_code)
        return response.status_code

    retrying = Retrying(
        retry=retry_if_exception_type((httpx.TransportError, _RetryableStatus)),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=backoff_s, max=60),
        reraise=True,
    )
    try:
        with pinned_client(url, timeout=TIMEOUT_S) as client:
            status = retrying(post_once, client)
    except (httpx.HTTPError, _RetryableStatus) as error:
        return Delivery(False, tries["n"], last_status["code"], str(error) or type(error).__name__)
    if 200 <= status < 300:
        return Delivery(True, tries["n"], status, None)
    return Delivery(False, tries["n"], status, f"the receiver answered {status}")
