"""Abuse limits, as pure ASGI middleware: request body size, request rate, security headers, and
which other origins' pages may call the API (CORS).

Each reads its settings per request (`get_settings()` is cached), so they follow the configuration
without rebuilding the app. In `create_app` they wrap each other as (RequestLog >) SecurityHeaders >
RequestId > Cors > RateLimit > BodyLimit > the app: a refused request never reaches a route, and every
answer, 413 and 429 included, carries the security headers, an X-Request-ID and the CORS headers.
"""

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from time import monotonic
from typing import Protocol

import anyio
from limits import RateLimitItemPerMinute
from limits.aio.storage import Storage as AsyncStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter as AsyncSlidingWindowCounter
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.access.keys import bearer_token, look_up_once
from app.config import get_settings
from app.errors import problem_response

logger = logging.getLogger("workplan.limits")

# The bucket of an address's refused keys (401s), apart from the one its requests count against.
FAILURES = "failed:"


class BodyLimitMiddleware:
    """Answer 413 to a request body over `max_body_bytes`, before any route sees it.

    A body that stalls (nothing for `read_timeout` seconds) is 408, so that a client that never
    sends what it announced does not hold a connection and a task forever.

    A Content-Length above the limit is refused without reading a byte (so a client that sent
    `Expect: 100-continue` never uploads). Otherwise the body is read here, counted as it streams
    (chunked bodies have no Content-Length) and refused as soon as it passes the limit; under the
    limit it is handed to the app whole. Routes read JSON bodies whole anyway, so this buffers
    nothing more than they do, and even a route that ignores its body cannot run on an oversized one.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = get_settings().max_body_bytes
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more_body = True
        while more_body:
            try:
                with anyio.fail_after(get_settings().read_timeout):
                    message = await receive()
            except TimeoutError:
                await _timed_out()(scope, receive, send)
                return
            if message["type"] == "http.disconnect":
                return  # the client left; nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _too_large(limit)(scope, receive, send)
                return
            chunks.append(chunk)
            more_body = message.get("more_body", False)
        body: bytes | None = b"".join(chunks)

        async def replay() -> Message:
            nonlocal body
            if body is None:
                return await receive()  # after the body: wait for the disconnect
            message, body = {"type": "http.request", "body": body, "more_body": False}, None
            return message

        await self.app(scope, replay, send)


def _timed_out() -> Response:
    # Before any route runs: nothing was read from the body, or written.
    detail = f"The request body stalled: nothing arrived for {get_settings().read_timeout:g} seconds."
    return problem_response(408, "REQUEST_TIMEOUT", detail, headers={"Connection": "close"})


def _too_large(limit: int) -> Response:
    detail = f"The request body is larger than the limit of {limit} bytes."
    return problem_response(413, "CONTENT_TOO_LARGE", detail, headers={"Connection": "close"})


@dataclass(frozen=True)
class Decision:
    """The outcome of one request against one bucket."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: int
    """Seconds until the bucket has room for another request."""


class RateLimiter(Protocol):
    """Where request counts live: this process's memory, or a store every worker shares."""

    async def hit(self, bucket: str, per_minute: int) -> Decision:
        """Count one request against `bucket` if it is under `per_minute`, and say what is left."""
        ...

    async def allows(self, bucket: str, per_minute: int) -> bool:
        """Whether one more hit on `bucket` would be under `per_minute` (counting nothing)."""
        ...


class MemoryRateLimiter:
    """A sliding window counter (the `limits` library) in this process's memory.

    Two counters a bucket (this minute's and the last one's), weighted: O(1) memory however busy
    a client is, and no burst of twice the limit across a minute boundary as a fixed window allows.
    """

    def __init__(self) -> None:
        self.storage = MemoryStorage()
        self.strategy = SlidingWindowCounterRateLimiter(self.storage)

    async def hit(self, bucket: str, per_minute: int) -> Decision:
        item = RateLimitItemPerMinute(per_minute)
        allowed = self.strategy.hit(item, bucket)
        reset_at, remaining = self.strategy.get_window_stats(item, bucket)
        return Decision(allowed, per_minute, remaining, max(0, math.ceil(reset_at - time.time())))

    async def allows(self, bucket: str, per_minute: int) -> bool:
        return bool(self.strategy.test(RateLimitItemPerMinute(per_minute), bucket))

    def reset(self) -> None:
        self.storage.reset()


class SharedRateLimiter:
    """The same sliding window counter in a storage every worker and instance shares (Redis),
    through `limits.aio` so that no request blocks the event loop on the network.

    If the storage does not answer, requests go through: the limits guard against abuse, keys and
    roles guard access, and an outage of the counter should not become an outage of the service.
    Each worker logs an outage once, a warning with the reason when the storage first fails, and
    once it answers again a line saying how long it was down and how many requests went through
    unlimited meanwhile (a log line per request would bury every other line).
    """

    def __init__(self, uri: str, key_prefix: str) -> None:
        options: dict[str, float | str | bool] = {}
        if uri.startswith("redis"):  # redis, rediss, redis+sentinel, redis+cluster: with the redis package
            options = {"implementation": "redispy", "key_prefix": key_prefix}
        storage = storage_from_string(f"async+{uri}", **options)
        assert isinstance(storage, AsyncStorage)
        self.storage = storage
        self.strategy = AsyncSlidingWindowCounter(storage)
        self.down_since: float | None = None
        """`monotonic()` when the storage first failed, while it does not answer."""
        self.unlimited = 0
        """Requests let through uncounted since then."""

    async def hit(self, bucket: str, per_minute: int) -> Decision:
        item = RateLimitItemPerMinute(per_minute)
        try:
            allowed = await self.strategy.hit(item, bucket)
            stats = await self.strategy.get_window_stats(item, bucket)
        except Exception as error:
            # A refused key's second hit (its failure bucket) is the same request again.
            self._failed(error, request=not bucket.startswith(FAILURES))
            return Decision(True, per_minute, per_minute, 60)
        self._answered()
        return Decision(allowed, per_minute, stats.remaining, max(0, math.ceil(stats.reset_time - time.time())))

    async def allows(self, bucket: str, per_minute: int) -> bool:
        try:
            allowed = bool(await self.strategy.test(RateLimitItemPerMinute(per_minute), bucket))
        except Exception as error:
            self._failed(error, request=False)  # the request's hit, next, counts it
            return True
        self._answered()
        return allowed

    def _failed(self, error: Exception, *, request: bool) -> None:
        if self.down_since is None:
            self.down_since, self.unlimited = monotonic(), 0
            logger.warning(
                "The rate limit storage does not answer (%s: %s): requests go through unlimited until it does. "
                "Logged once per outage.",
                type(error).__name__,
                error,
            )
        self.unlimited += request

    def _answered(self) -> None:
        if self.down_since is not None:
            logger.warning(
                "The rate limit storage answers again, after %.1f s; %d requests went through unlimited meanwhile.",
                monotonic() - self.down_since,
                self.unlimited,
            )
            self.down_since = None


def new_rate_limiter() -> RateLimiter:
    """The limiter the settings name: in this process's memory, or in a shared storage."""
    settings = get_settings()
    if settings.rate_limit_storage.startswith("memory://"):
        return MemoryRateLimiter()
    return SharedRateLimiter(settings.rate_limit_storage, settings.rate_limit_key_prefix)


def route_path(scope: Scope) -> str:
    """The path the app routes on: without the `root_path` a proxy mounts the service under."""
    path: str = scope.get("path", "")
    root_path: str = scope.get("root_path", "")
    if root_path and (path == root_path or path.startswith(root_path + "/")):
        return path[len(root_path) :]
    return path


def _address(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


async def _bucket(scope: Scope) -> tuple[str, int, str]:
    """The bucket a request counts against, its limit per minute, and who it is in a message: its
    key's once the key is verified (looked up here, once per request: the access check reuses the
    answer), else its address's. A token nobody verified buys nothing, on any route, the pages and
    404s included, which never check one themselves."""
    settings = get_settings()
    by_address = "address:" + _address(scope), settings.anonymous_rate_limit_per_minute, "address"
    token = bearer_token(Headers(scope=scope))
    if token is None or not (settings.rate_limit_per_minute or settings.anonymous_rate_limit_per_minute):
        return by_address
    try:
        principal = await look_up_once(scope, token)
    except Exception:  # unknown, revoked, expired or unreadable: the route refuses it if it needs a key
        return by_address
    # The key's public id, never the token: memory (or Redis) is no place for secrets.
    return "key:" + str(principal.key_id), settings.rate_limit_per_minute, "API key"


def _rate_limit_headers(decision: Decision) -> dict[str, str]:
    # draft-ietf-httpapi-ratelimit-headers-11's two structured fields, and for clients written
    # against draft-06 its three integer ones. RateLimit-Policy is in both drafts: it takes the
    # current syntax (draft-06's was `600;w=60`).
    return {
        "RateLimit": f'"default";r={decision.remaining};t={decision.reset_after}',
        "RateLimit-Policy": f'"default";q={decision.limit};w=60',
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(decision.reset_after),
    }


# Not counted: what an orchestrator or Prometheus polls, the API's description and its docs, and
# static files (a page's stylesheet comes with the page). Everything else is, the pages as much as
# the API: /reports costs what the lists it draws cost.
_UNCOUNTED = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/redoc"})
_UNCOUNTED_PREFIXES = ("/static/", "/static-offline-docs/")


def counted(path: str) -> bool:
    """Whether a request to this path (without the root path) counts against a rate limit."""
    return path not in _UNCOUNTED and not path.startswith(_UNCOUNTED_PREFIXES)


class RateLimitMiddleware:
    """Count every request to the API and the pages per API key or, without a verified one, per
    client address; answer 429 with Retry-After past the limit, and send the RateLimit headers.

    The key is verified here (`_bucket`), so a made-up token counts against the address like no
    token at all. So that guessing keys costs too, every 401 also counts against the address's
    failure bucket (at the per-address limit), and an address past it gets 429 whatever it sends,
    before its key is looked up. The address is the connection's, or the one a trusted proxy
    forwarded (uvicorn's `--forwarded-allow-ips`).
    """

    def __init__(self, app: ASGIApp, new_limiter: Callable[[], RateLimiter] = new_rate_limiter) -> None:
        self.app = app
        self.new_limiter = new_limiter
        self.limiter = new_limiter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            # Each run of the app starts with empty buckets, as a new process does; the lifespan
            # state hands the limiter to whoever needs to look at it (tests).
            self.limiter = self.new_limiter()
            scope.setdefault("state", {})["rate_limiter"] = self.limiter
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_counted = counted(route_path(scope))
        if not is_counted and b"authorization" not in dict(scope["headers"]):
            # Probes, docs and static files: no key, so nothing to refuse and nothing to count.
            await self.app(scope, receive, send)
            return
        failures = FAILURES + _address(scope)
        failure_limit = get_settings().anonymous_rate_limit_per_minute
        if failure_limit and not await self.limiter.allows(failures, failure_limit):
            detail = f"Too many refused keys from this address: {failure_limit} a minute. Retry in 60 s."
            response = problem_response(429, "RATE_LIMITED", detail, headers={"Retry-After": "60"})
            await response(scope, receive, send)
            return
        if not is_counted:
            # A key sent where requests are not counted (/metrics checks it) is still a guess that
            # a refusal must cost.
            await self.app(scope, receive, self._counting_refusals(send, failures, failure_limit))
            return
        bucket, per_minute, who = await _bucket(scope)
        if per_minute == 0:
            await self.app(scope, receive, self._counting_refusals(send, failures, failure_limit))
            return
        decision = await self.limiter.hit(bucket, per_minute)
        headers = _rate_limit_headers(decision)
        if not decision.allowed:
            retry_after = max(1, decision.reset_after)
            detail = f"Too many requests from this {who}: {per_minute} a minute. Retry in {retry_after} s."
            response = problem_response(
                429, "RATE_LIMITED", detail, headers={**headers, "Retry-After": str(retry_after)}
            )
            await response(scope, receive, send)
            return

        await self.app(scope, receive, self._counting_refusals(with_headers(send, headers), failures, failure_limit))

    def _counting_refusals(self, send: Send, failures: str, limit: int) -> Send:
        """A send that counts a 401 against the address's failure bucket."""
        if not limit:
            return send

        async def counting(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                await self.limiter.hit(failures, limit)
            await send(message)

        return counting


def with_headers(send: Send, headers: Mapping[str, str]) -> Send:
    """A send that gives the response these headers, unless the app set them itself."""

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message.setdefault("headers", [])
            response_headers = MutableHeaders(scope=message)
            for name, value in headers.items():
                response_headers.setdefault(name, value)
        await send(message)

    return send_with_headers


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # Only frame-ancestors here: the HTML (the pages, the API docs) sets a policy of its own.
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
_CREDENTIALED_HEADERS = {**SECURITY_HEADERS, "Cache-Control": "no-store"}


class SecurityHeadersMiddleware:
    """Security headers on every response, and `Cache-Control: no-store` on the answers to
    requests that carried credentials (unless the route chose its own caching)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _CREDENTIALED_HEADERS if "authorization" in Headers(scope=scope) else SECURITY_HEADERS
        await self.app(scope, receive, with_headers(send, headers))


# What a partner's page may send and read: the API's conditional, idempotent and keyed requests,
# and the headers its answers carry beyond the CORS-safelisted ones.
CORS_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
CORS_REQUEST_HEADERS = ("Authorization", "Content-Type", "If-Match", "If-None-Match", "Idempotency-Key", "X-Request-ID")
CORS_EXPOSED_HEADERS = (
    "ETag",
    "Link",
    "Location",
    "Content-Disposition",
    "Retry-After",
    "RateLimit",
    "RateLimit-Policy",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "X-Request-ID",
    "Idempotent-Replayed",
)


class _Cors(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered in problem+json like any other 400."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code == 200:
            return response
        refused = bytes(response.body).decode().removeprefix("Disallowed CORS ")
        detail = f"The CORS policy does not allow this request's {refused}."
        kept = {
            name: value for name, value in response.headers.items() if name not in ("content-length", "content-type")
        }
        return problem_response(400, "CORS_REFUSED", detail, headers=kept)


class CorsMiddleware:
    """Let the pages of the origins that `cors_origins` names call the API (Starlette's
    CORSMiddleware); with none named, no CORS header at all.

    Outside the rate limiter, so that a preflight (which a browser sends without the key it asks
    about) is answered here, neither counted nor refused, and a 429 or 401 is readable by the page.
    Keys are Bearer tokens, never cookies: no credentials mode.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.cors: _Cors | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origins = get_settings().cors_origins
        if scope["type"] != "http" or not origins:
            await self.app(scope, receive, send)
            return
        if self.cors is None or list(self.cors.allow_origins) != origins:
            self.cors = _Cors(
                self.app,
                allow_origins=tuple(origins),
                allow_methods=CORS_METHODS,
                allow_headers=CORS_REQUEST_HEADERS,
                expose_headers=CORS_EXPOSED_HEADERS,
            )
        await self.cors(scope, receive, send)
