"""Where a webhook delivery may go, and one attempt to deliver it.

Interim: the interface the subscription API and the dispatcher call. The address checks (no
loopback, private, link-local or metadata addresses, after resolution) land with their own tests.
"""

import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from app.config import get_settings


class TargetRefused(ValueError):
    """A target this service will not deliver to; the message says why."""


def check_target(url: str) -> str:
    """At subscribe time: the URL normalized, or TargetRefused."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("must be an absolute http(s) URL")
    return url


@dataclass(frozen=True)
class Attempt:
    outcome: str  # delivered, gone, failed, timeout or refused
    status: int | None
    excerpt: str | None
    error: str | None
    duration_ms: int


def new_client() -> httpx.Client:
    return httpx.Client(follow_redirects=False, trust_env=False)


def deliver(
    client: httpx.Client, url: str, body: bytes, headers: Mapping[str, str], *, timeout: float | None = None
) -> Attempt:
    started = time.monotonic()
    limit = timeout or get_settings().webhook_timeout

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        response = client.post(url, content=body, headers=dict(headers), timeout=limit)
    except httpx.TimeoutException:
        return Attempt("timeout", None, None, f"no answer within {limit:g} s", took())
    except httpx.HTTPError as error:
        return Attempt("failed", None, None, str(error)[:500] or type(error).__name__, took())
    excerpt = response.content[:1000].decode(errors="replace")
    if 200 <= response.status_code < 300:
        return Attempt("delivered", response.status_code, excerpt, None, took())
    if response.status_code == 410:
        return Attempt("gone", 410, excerpt, "the receiver answered 410 Gone", took())
    return Attempt("failed", response.status_code, excerpt, f"the receiver answered {response.status_code}", took())
