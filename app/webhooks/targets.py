"""Where a webhook may be delivered, and one delivery attempt made safely.

A subscriber chooses the URL, so without care the service would POST wherever it is told: to its
own admin port on 127.0.0.1, to a database on the private network, to a cloud's metadata service
at 169.254.169.254 (server-side request forgery). So a target must be a public address, over
https://, unless it is inside `WORKPLAN_WEBHOOK_ALLOWED_NETWORKS` (tests, a single-machine setup).

A check of the name at subscribe time is not enough: its DNS may later answer 127.0.0.1 (DNS
rebinding), even between a check and the connection. So every attempt resolves the name itself,
refuses if any address is not allowed, and the client's connections go only to the addresses it
vetted: the client's network backend connects to nothing else. The name is still what is sent as
Host and SNI and what the certificate is verified against. Redirects are never followed (a public
receiver could redirect inside), and an attempt has a wall-clock deadline that a receiver which
hangs or trickles bytes cannot stretch.

No library fits: safehttpx and httpx-secure guard only async clients and cannot allow a network
that is not public, microsoft-antissrf wraps requests. What is not public is Python's own
`ipaddress` registry data (`is_global`), plus the IPv6 forms that embed an IPv4 address, plus the
special-purpose blocks that Pythons before 3.12.4 and 3.11.10 file as global (`_SPECIAL`).
"""

import contextlib
import ipaddress
import queue
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpcore
import httpx

from app.config import get_settings
from app.models.webhooks import DeliveryOutcome

MAX_URL_LENGTH = 2000
EXCERPT_BYTES = 1000
MAX_ERROR_LENGTH = 500  # the delivery log's column
PLAIN_HTTP = "http:// is only for addresses in WORKPLAN_WEBHOOK_ALLOWED_NETWORKS: use https://"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Not globally reachable, but global to this Python's `ipaddress` (3.11.7 and older releases): the
# IANA special-purpose registries' blocks marked so, and the deprecated IPv6 site-local block. The
# other blocks those registries mark not reachable are private or reserved to every Python 3.11.
_SPECIAL: dict[ipaddress.IPv4Network | ipaddress.IPv6Network, str] = {
    # IETF protocol assignments (RFC 6890): only 192.0.0.0/29 and .170/31 are private to Python. Its
    # two globally reachable anycast addresses, 192.0.0.9 and .10 (PCP, TURN), are no webhook receiver.
    ipaddress.ip_network("192.0.0.0/24"): "a special-purpose (IETF protocol assignments)",
    ipaddress.ip_network("3fff::/20"): "a documentation",  # RFC 9637, beside 2001:db8::/32
    ipaddress.ip_network("fec0::/10"): "a site-local",  # RFC 3879: deprecated, still routed inside some sites
}


class TargetRefused(ValueError):
    """A target the service will not deliver to; the message is for the subscriber."""


@dataclass(frozen=True)
class Attempt:
    outcome: str  # a DeliveryOutcome
    status: int | None
    excerpt: str | None
    error: str | None
    duration_ms: int


@lru_cache
def _allowed(networks: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(network) for network in networks)


def _allow_listed(address: IPAddress) -> bool:
    networks = _allowed(tuple(get_settings().webhook_allowed_networks))
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return any(address in network or (mapped is not None and mapped in network) for network in networks)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address that a mapped, 6to4 or NAT64 address reaches."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _kind(address: IPAddress) -> str | None:
    """What makes an address one the service must not reach (`"a loopback"`), or None if it is public."""
    if address.is_loopback:
        return "a loopback"
    if address.is_unspecified:
        return "an unspecified"
    if address.is_link_local:
        return "a link-local" if address != ipaddress.IPv4Address("169.254.169.254") else "a cloud metadata"
    if address.is_multicast:
        return "a multicast"
    if address in _SHARED:
        return "a shared (carrier-grade NAT)"
    for network, kind in _SPECIAL.items():
        if address in network:
            return kind
    if address.is_private:
        return "a private"
    if address.is_reserved or not address.is_global:
        return "a reserved"
    return None


def _why(address: IPAddress) -> str | None:
    """Why the service will not deliver to this address (`"is a private address"`), or None."""
    if _allow_listed(address):
        return None
    if isinstance(address, ipaddress.IPv6Address) and (inner := _embedded_ipv4(address)) is not None:
        if (kind := _kind(inner)) is not None:
            return f"reaches {inner}, {kind} address"
        if address.ipv4_mapped is not None:
            return None  # ::ffff:8.8.8.8 is 8.8.8.8, although Python files the mapped range as private
    kind = _kind(address)
    return f"is {kind} address" if kind else None


def ip_literal(host: str) -> IPAddress | None:
    """The address a host names without DNS, in every form the C resolver reads: `2130706433` and
    `0x7f.1` are 127.0.0.1 to `getaddrinfo`, so they are to this check."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


class _Unresolvable(Exception):
    pass


class _ResolveTimeout(Exception):
    pass


def _resolve(host: str, port: int, timeout: float) -> list[IPAddress]:
    """The host's addresses; `getaddrinfo` cannot be interrupted, so it runs in a thread that is
    left behind if it takes longer than the deadline."""
    answers: queue.Queue[list[IPAddress] | Exception] = queue.Queue(1)

    def run() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            answers.put([ipaddress.ip_address(info[4][0]) for info in infos])
        except (OSError, UnicodeError, ValueError) as exc:
            answers.put(exc)

    threading.Thread(target=run, name=f"resolve {host}", daemon=True).start()
    try:
        answer = answers.get(timeout=max(timeout, 0))
    except queue.Empty:
        raise _ResolveTimeout from None
    if isinstance(answer, Exception) or not answer:
        raise _Unresolvable(host)
    return list(dict.fromkeys(answer))


def _addresses(host: str, port: int, timeout: float) -> tuple[list[IPAddress], bool]:
    """The host's addresses, and whether it was resolved (not an IP literal)."""
    literal = ip_literal(host)
    if literal is not None:
        return [literal], False
    return _resolve(host, port, timeout), True


def _parse(url: str) -> httpx.URL:
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    try:
        parsed = httpx.URL(url)
        # Read here: a host with a malformed IDNA label (`xn--a.com`) raises only when it is decoded.
        host, _ = parsed.host, parsed.raw_host.decode("ascii")
    except httpx.InvalidURL as exc:
        raise TargetRefused(f"The URL cannot be read: {exc}.") from None
    except UnicodeError as exc:  # idna's errors
        raise TargetRefused(f"The URL's host is not a valid internationalized domain name: {exc}.") from None
    if parsed.scheme not in ("http", "https") or not host:
        raise TargetRefused("The URL must be absolute, http:// or https:// with a host.")
    if parsed.userinfo:
        raise TargetRefused("The URL must not carry a user name or password; authenticate with the signature.")
    if "#" in url:
        raise TargetRefused("The URL must not have a fragment (#...): it is never sent.")
    return parsed


def _refuse_addresses(host: str, addresses: Iterable[IPAddress], resolved: bool) -> str | None:
    """Why these addresses may not be delivered to (`"10.0.0.1 is a private address"`), or None."""
    for address in addresses:
        why = _why(address)
        if why is not None:
            return f"{host} resolves to {address}, which {why}" if resolved else f"{address} {why}"
    return None


def _plain_http(parsed: httpx.URL, addresses: Iterable[IPAddress]) -> bool:
    """Whether this is http:// to an address outside the allow-list, where only https:// goes."""
    return parsed.scheme == "http" and not all(_allow_listed(address) for address in addresses)


def check_target(url: str) -> str:
    """At subscribe time: the URL normalized, or TargetRefused (the rules are the module's).

    A name that does not resolve now is accepted over https: every delivery resolves it again."""
    parsed = _parse(url.strip())
    host = parsed.raw_host.decode("ascii")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    literal = ip_literal(host)
    if literal is not None:
        # `0x7f.1` and `[::FFFF:7f00:1]` are stored as what they are: 127.0.0.1, ::ffff:127.0.0.1.
        parsed = parsed.copy_with(host=str(literal))
    if parsed.port == (443 if parsed.scheme == "https" else 80):
        parsed = parsed.copy_with(port=None)
    try:
        addresses, resolved = _addresses(host, port, get_settings().webhook_timeout)
    except (_Unresolvable, _ResolveTimeout):
        if parsed.scheme == "http":
            raise TargetRefused(f"{host} does not resolve now, and {PLAIN_HTTP}.") from None
        return str(parsed)
    reason = _refuse_addresses(host, addresses, resolved)
    if reason is not None:
        raise TargetRefused(f"{reason}: webhooks go only to public addresses.")
    if _plain_http(parsed, addresses):
        raise TargetRefused(f"{PLAIN_HTTP}.")
    return str(parsed)


@dataclass
class _Pin:
    """One attempt: the host and the vetted addresses its connection may go to, and its deadline.

    At the deadline every socket the attempt opened is shut down, which ends a read of headers or
    body that per-read timeouts would let a receiver trickling bytes stretch without end."""

    host: str
    addresses: list[IPAddress]
    deadline: float
    sockets: list[socket.socket] = field(default_factory=list)
    expired: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hold(self, sock: socket.socket) -> None:
        guard = sock.dup()  # the same connection: shutting it down reaches the TLS socket made from `sock`
        with self.lock:
            self.sockets.append(guard)
            if self.expired:
                _shut(guard)

    def expire(self) -> None:
        with self.lock:
            self.expired = True
            for guard in self.sockets:
                _shut(guard)

    def release(self) -> None:
        with self.lock:
            for guard in self.sockets:
                guard.close()
            self.sockets.clear()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


_pin: ContextVar[_Pin | None] = ContextVar("webhook_pin", default=None)


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects only to the addresses that `deliver` vetted for the host, whatever DNS says now."""

    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        pin = _pin.get()
        if pin is None or pin.host != host:
            raise httpcore.ConnectError(f"{host} was not vetted for this delivery")
        error: Exception = httpcore.ConnectError(f"no address for {host}")
        for address in pin.addresses:
            left = pin.deadline - time.monotonic()
            if left <= 0:
                raise httpcore.ConnectTimeout("deadline passed")
            try:
                stream = self._backend.connect_tcp(
                    str(address), port, min(timeout or left, left), local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
                continue
            pin.hold(stream.get_extra_info("socket"))
            return stream
        raise error

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("webhooks are not delivered to Unix sockets")

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def _tls_context() -> ssl.SSLContext:
    """The CA bundle certificates are verified against (certifi's, not the environment's)."""
    return httpx.create_ssl_context(trust_env=False)


class _PinnedTransport(httpx.HTTPTransport):
    def __init__(self) -> None:
        context = _tls_context()
        super().__init__(verify=context, trust_env=False)
        # No keep-alive: a kept connection would skip the vetting and the deadline's guard of a
        # later attempt, and would carry one name's verified TLS session to another's request.
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=100,
            max_keepalive_connections=0,
            network_backend=_PinnedBackend(),
        )


def new_client() -> httpx.Client:
    """The client `deliver` expects: pinned connections, no redirects, no proxies, no cookies kept."""
    return httpx.Client(
        transport=_PinnedTransport(),
        follow_redirects=False,
        trust_env=False,
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        headers={"User-Agent": "workplan-webhooks", "Accept-Encoding": "identity"},
    )


def _result(outcome: DeliveryOutcome, started: float, *, status: int | None = None, excerpt: bytes | None = None,
            error: str | None = None) -> Attempt:  # fmt: skip
    if excerpt is not None:
        # PostgreSQL's text cannot hold NUL.
        excerpt = excerpt[:EXCERPT_BYTES].replace(b"\0", "\N{REPLACEMENT CHARACTER}".encode())
    return Attempt(
        outcome=outcome,
        status=status,
        excerpt=None if excerpt is None else excerpt.decode("utf-8", "replace"),
        error=None if error is None else error[:MAX_ERROR_LENGTH],
        duration_ms=round((time.monotonic() - started) * 1000),
    )


def deliver(
    client: httpx.Client, url: str, body: bytes, headers: Mapping[str, str], *, timeout: float | None = None
) -> Attempt:
    """POST `body` to `url` once, within `timeout` seconds (`WORKPLAN_WEBHOOK_TIMEOUT`) of wall
    clock for everything: resolving, connecting, sending, the status and up to 1000 bytes of body.

    Never raises for the network's or the receiver's trouble: every end is an Attempt."""
    limit = get_settings().webhook_timeout if timeout is None else timeout
    started = time.monotonic()
    deadline = started + limit
    try:
        parsed = _parse(url)
    except TargetRefused as exc:
        return _result(DeliveryOutcome.REFUSED, started, error=str(exc))
    host = parsed.raw_host.decode("ascii")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        addresses, resolved = _addresses(host, port, limit)
    except _ResolveTimeout:
        return _result(DeliveryOutcome.TIMEOUT, started, error=f"{host} did not resolve within {limit:g} s")
    except _Unresolvable:
        return _result(DeliveryOutcome.REFUSED, started, error=f"{host} does not resolve")
    reason = _refuse_addresses(host, addresses, resolved)
    if reason is None and _plain_http(parsed, addresses):
        reason = PLAIN_HTTP
    if reason is not None:
        return _result(DeliveryOutcome.REFUSED, started, error=reason)

    pin = _Pin(host=host, addresses=addresses, deadline=deadline)
    token = _pin.set(pin)
    watchdog = threading.Timer(max(deadline - time.monotonic(), 0), pin.expire)
    watchdog.daemon = True
    watchdog.start()
    try:
        return _post(client, parsed, body, headers, pin, started, limit)
    finally:
        watchdog.cancel()
        pin.release()
        _pin.reset(token)


def _post(
    client: httpx.Client,
    url: httpx.URL,
    body: bytes,
    headers: Mapping[str, str],
    pin: _Pin,
    started: float,
    limit: float,
) -> Attempt:
    too_slow = f"no answer within {limit:g} s"
    status: int | None = None
    excerpt = bytearray()
    try:
        request = client.build_request(
            "POST", url, content=body, headers=headers, timeout=max(pin.deadline - time.monotonic(), 0.001)
        )
        response = client.send(request, stream=True, follow_redirects=False)
        with contextlib.closing(response):
            status = response.status_code
            for chunk in response.iter_raw():
                excerpt += chunk
                if len(excerpt) >= EXCERPT_BYTES or pin.expired:
                    break
            # A body cut short by the deadline's shutdown may look like one that ended.
            if pin.expired and len(excerpt) < EXCERPT_BYTES:
                return _result(DeliveryOutcome.TIMEOUT, started, status=status, excerpt=bytes(excerpt), error=too_slow)
            return _answered(response, bytes(excerpt), started)
    except (httpx.HTTPError, OSError) as exc:
        got = None if status is None else bytes(excerpt)
        if pin.expired or isinstance(exc, httpx.TimeoutException):
            return _result(DeliveryOutcome.TIMEOUT, started, status=status, excerpt=got, error=too_slow)
        return _result(DeliveryOutcome.FAILED, started, status=status, excerpt=got, error=_readable(exc))


def _answered(response: httpx.Response, excerpt: bytes, started: float) -> Attempt:
    status = response.status_code
    if 200 <= status < 300:
        return _result(DeliveryOutcome.DELIVERED, started, status=status, excerpt=excerpt)
    if status == 410:
        return _result(
            DeliveryOutcome.GONE, started, status=status, excerpt=excerpt, error="the receiver answered 410 Gone"
        )
    location = response.headers.get("Location")
    if 300 <= status < 400 and location:
        return _result(
            DeliveryOutcome.FAILED,
            started,
            status=status,
            excerpt=excerpt,
            error=f"redirect to {location} not followed",
        )
    return _result(
        DeliveryOutcome.FAILED, started, status=status, excerpt=excerpt, error=f"the receiver answered {status}"
    )


def _readable(exc: Exception) -> str:
    message = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect: {message}"
    return message
