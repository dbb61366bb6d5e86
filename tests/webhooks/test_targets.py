"""Where webhooks may go, and one attempt: against real HTTP(S) receivers on 127.0.0.1, with the
resolver patched where a test needs a name (`hooks.example.test`) to answer an address."""

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from unittest.mock import ANY

import httpx
import pytest
import trustme

from app.config import get_settings
from app.webhooks import targets
from app.webhooks.targets import Attempt, TargetRefused, check_target, deliver, new_client

BODY = b'{"type":"activity.updated"}'
HEADERS = {"Content-Type": "application/json", "webhook-id": "msg_1"}
NAME = "hooks.example.test"


@pytest.fixture(autouse=True)
def settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("WORKPLAN_WEBHOOK_ALLOWED_NETWORKS", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def allow(monkeypatch: pytest.MonkeyPatch, networks: str) -> None:
    monkeypatch.setenv("WORKPLAN_WEBHOOK_ALLOWED_NETWORKS", networks)
    get_settings.cache_clear()


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Names the resolver answers as the test says (`lookups["a.test"] = ["127.0.0.1"]`); it
    records how often each was asked in `lookups["asked"]`."""
    answers: dict[str, list[str]] = {"asked": []}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in answers:
            answers["asked"].append(host)
            if not answers[host]:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return [info for address in answers[host] for info in real(address, port, *args, **kwargs)]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1; what it answers is `answer(handler)`, per path."""

    routes: dict[str, Callable[[BaseHTTPRequestHandler], None]]
    received: list[Received] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.server_address[1]

    def url(self, path: str, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"


def answer(status: int, body: bytes = b"", **headers: str) -> Callable[[BaseHTTPRequestHandler], None]:
    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name.replace("_", "-"), value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return respond


def serve(receiver: Receiver, tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.received.append(Received(self.path, dict(self.headers), body))
            receiver.routes[self.path](self)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    receiver.server = server
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield receiver
    receiver.release.set()
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    it = Receiver(routes={})

    def hang(handler: BaseHTTPRequestHandler) -> None:
        it.release.wait(30)

    it.routes.update(
        {
            "/ok": answer(200, b"thanks"),
            "/gone": answer(410, b"unsubscribed"),
            "/error": answer(500, b"database on fire \xff"),
            "/hang": hang,
        }
    )
    yield from serve(it)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with new_client() as client:
        yield client


def post(client: httpx.Client, url: str, timeout: float = 5) -> Attempt:
    return deliver(client, url, BODY, HEADERS, timeout=timeout)


# Subscribe time


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://10.0.0.1/in", "10.0.0.1 is a private address: webhooks go only to public addresses."),
        ("https://192.168.1.20/in", "192.168.1.20 is a private address: webhooks go only to public addresses."),
        ("https://127.0.0.1/in", "127.0.0.1 is a loopback address: webhooks go only to public addresses."),
        ("https://2130706433/in", "127.0.0.1 is a loopback address: webhooks go only to public addresses."),
        ("https://0x7f.1/in", "127.0.0.1 is a loopback address: webhooks go only to public addresses."),
        ("https://0177.0.0.1/in", "The URL cannot be read: Invalid IPv4 address: '0177.0.0.1'."),
        ("https://[::1]/in", "::1 is a loopback address: webhooks go only to public addresses."),
        ("https://[::127.0.0.1]/in", "::7f00:1 is a reserved address: webhooks go only to public addresses."),
        ("https://198.18.0.1/in", "198.18.0.1 is a private address: webhooks go only to public addresses."),
        (
            "https://[::ffff:127.0.0.1]/in",
            "::ffff:7f00:1 reaches 127.0.0.1, a loopback address: webhooks go only to public addresses.",
        ),
        (
            "https://[2002:a9fe:a9fe::]/in",
            "2002:a9fe:a9fe:: reaches 169.254.169.254, a cloud metadata address: webhooks go only to public addresses.",
        ),
        (
            "https://[64:ff9b::a00:1]/in",
            "64:ff9b::a00:1 reaches 10.0.0.1, a private address: webhooks go only to public addresses.",
        ),
        (
            "https://169.254.169.254/latest/meta-data",
            "169.254.169.254 is a cloud metadata address: webhooks go only to public addresses.",
        ),
        ("https://169.254.1.1/in", "169.254.1.1 is a link-local address: webhooks go only to public addresses."),
        ("https://[fe80::1]/in", "fe80::1 is a link-local address: webhooks go only to public addresses."),
        ("https://[fd00::1]/in", "fd00::1 is a private address: webhooks go only to public addresses."),
        ("https://0.0.0.0/in", "0.0.0.0 is an unspecified address: webhooks go only to public addresses."),
        ("https://[::]/in", ":: is an unspecified address: webhooks go only to public addresses."),
        ("https://224.0.0.1/in", "224.0.0.1 is a multicast address: webhooks go only to public addresses."),
        (
            "https://100.64.0.1/in",
            "100.64.0.1 is a shared (carrier-grade NAT) address: webhooks go only to public addresses.",
        ),
        ("https://192.0.2.1/in", "192.0.2.1 is a private address: webhooks go only to public addresses."),
        ("https://240.0.0.1/in", "240.0.0.1 is a private address: webhooks go only to public addresses."),
        # Global to Python 3.11.7's `ipaddress`, not globally reachable (app/webhooks/targets.py `_SPECIAL`).
        *(
            (
                f"https://{host}/in",
                f"{address} is a special-purpose (IETF protocol assignments) address: "
                "webhooks go only to public addresses.",
            )
            for host, address in [
                ("192.0.0.9", "192.0.0.9"),
                ("192.0.0.10", "192.0.0.10"),
                ("192.0.0.64", "192.0.0.64"),
            ]
        ),
        (
            "https://[::ffff:192.0.0.9]/in",
            "::ffff:c000:9 reaches 192.0.0.9, a special-purpose (IETF protocol assignments) address: "
            "webhooks go only to public addresses.",
        ),
        ("https://[fec0::1]/in", "fec0::1 is a site-local address: webhooks go only to public addresses."),
        ("https://[feff::1]/in", "feff::1 is a site-local address: webhooks go only to public addresses."),
        ("https://[3fff::1]/in", "3fff::1 is a documentation address: webhooks go only to public addresses."),
        # Not globally reachable, and reserved to every Python 3.11.
        ("https://[5f00::1]/in", "5f00::1 is a reserved address: webhooks go only to public addresses."),
        ("https://[64:ff9b:1::1]/in", "64:ff9b:1::1 is a reserved address: webhooks go only to public addresses."),
        ("https://[100:0:0:1::1]/in", "100:0:0:1::1 is a reserved address: webhooks go only to public addresses."),
        (
            "https://xn--a.com/in",
            "The URL's host is not a valid internationalized domain name: "
            "Codepoint U+0080 at position 1 of '\\x80' not allowed.",
        ),
        (
            "https://xn--.com/in",
            "The URL's host is not a valid internationalized domain name: "
            "Malformed A-label, no Punycode eligible content found.",
        ),
        (
            "https://localhost/in",
            "localhost resolves to 127.0.0.1, which is a loopback address: webhooks go only to public addresses.",
        ),
        ("http://8.8.8.8/in", "http:// is only for addresses in WORKPLAN_WEBHOOK_ALLOWED_NETWORKS: use https://."),
        ("ftp://8.8.8.8/in", "The URL must be absolute, http:// or https:// with a host."),
        ("/in", "The URL must be absolute, http:// or https:// with a host."),
        ("https:///in", "The URL must be absolute, http:// or https:// with a host."),
        (
            "https://me:pw@8.8.8.8/in",
            "The URL must not carry a user name or password; authenticate with the signature.",
        ),
        ("https://8.8.8.8/in#top", "The URL must not have a fragment (#...): it is never sent."),
        ("https://8.8.8.8/" + "a" * 2000, "The URL is longer than 2000 characters."),
    ],
)
def test_unsafe_targets_are_refused_with_a_readable_reason(url: str, message: str) -> None:
    with pytest.raises(TargetRefused) as refused:
        check_target(url)
    assert str(refused.value) == message


def test_a_name_resolving_to_loopback_is_refused(lookups: dict[str, list[str]]) -> None:
    lookups[NAME] = ["127.0.0.1"]
    with pytest.raises(TargetRefused, match=r"^hooks.example.test resolves to 127.0.0.1, which is a loopback"):
        check_target(f"https://{NAME}/in")


def test_a_name_is_refused_if_any_of_its_addresses_is_not_public(lookups: dict[str, list[str]]) -> None:
    lookups[NAME] = ["8.8.8.8", "10.1.2.3"]
    with pytest.raises(TargetRefused, match=r"^hooks.example.test resolves to 10.1.2.3, which is a private"):
        check_target(f"https://{NAME}/in")


def test_public_targets_are_accepted_and_normalized(lookups: dict[str, list[str]]) -> None:
    lookups[NAME] = ["8.8.8.8", "2001:4860:4860::8888"]
    assert check_target("HTTPS://Hooks.Example.TEST:443/in?x=1") == "https://hooks.example.test/in?x=1"
    assert check_target("https://8.8.8.8:8443/in") == "https://8.8.8.8:8443/in"
    assert check_target("https://134744072/in") == "https://8.8.8.8/in"  # the same address, as it is


def test_a_name_that_does_not_resolve_now_is_accepted_over_https_only(lookups: dict[str, list[str]]) -> None:
    lookups[NAME] = []
    assert check_target(f"https://{NAME}/in") == f"https://{NAME}/in"
    with pytest.raises(TargetRefused, match=r"^hooks.example.test does not resolve now, and http:// is only"):
        check_target(f"http://{NAME}/in")


def test_the_allow_list_admits_its_networks_over_http_too(
    monkeypatch: pytest.MonkeyPatch, lookups: dict[str, list[str]]
) -> None:
    allow(monkeypatch, "127.0.0.0/8,::1")
    lookups[NAME] = ["127.0.0.1"]
    assert check_target(f"http://{NAME}:8080/in") == f"http://{NAME}:8080/in"
    assert check_target("http://127.0.0.1:8080/in") == "http://127.0.0.1:8080/in"
    assert check_target("http://[::1]:8080/in") == "http://[::1]:8080/in"
    assert check_target("http://[::ffff:127.0.0.1]:8080/in") == "http://[::ffff:7f00:1]:8080/in"
    with pytest.raises(TargetRefused, match=r"^10.0.0.1 is a private address"):
        check_target("http://10.0.0.1/in")  # only the networks listed
    with pytest.raises(TargetRefused, match=r"^http:// is only for addresses in"):
        check_target("http://8.8.8.8/in")  # public, but outside the list: https:// only


# Delivery: where it may go


def test_a_name_resolving_to_loopback_delivers_nothing(
    client: httpx.Client, receiver: Receiver, lookups: dict[str, list[str]]
) -> None:
    lookups[NAME] = ["127.0.0.1"]
    attempt = post(client, receiver.url("/ok", host=NAME))
    assert attempt.outcome == "refused"
    assert attempt.error == "hooks.example.test resolves to 127.0.0.1, which is a loopback address"
    assert (attempt.status, attempt.excerpt) == (None, None)
    assert receiver.received == []


def test_localhost_and_loopback_literals_are_refused_at_delivery(client: httpx.Client, receiver: Receiver) -> None:
    for host in ["localhost", "127.0.0.1", "2130706433", "0x7f.1", "[::ffff:127.0.0.1]"]:
        attempt = post(client, receiver.url("/ok", host=host))
        assert attempt.outcome == "refused", host
        assert attempt.error is not None
        assert "a loopback address" in attempt.error
    assert receiver.received == []


def test_with_the_allow_list_the_post_reaches_the_vetted_address_under_its_name(
    monkeypatch: pytest.MonkeyPatch, client: httpx.Client, receiver: Receiver, lookups: dict[str, list[str]]
) -> None:
    allow(monkeypatch, "127.0.0.0/8")
    lookups[NAME] = ["127.0.0.1"]
    attempt = post(client, receiver.url("/ok", host=NAME))
    assert attempt == Attempt("delivered", 200, "thanks", None, attempt.duration_ms)
    [received] = receiver.received
    assert received.headers["Host"] == f"{NAME}:{receiver.port}"
    assert received.body == BODY
    assert received.headers["webhook-id"] == "msg_1"
    # Resolved once, by the check: the connection went to that answer without asking DNS again.
    assert lookups["asked"] == [NAME]


def test_a_name_rebound_after_the_check_is_not_looked_up_again(
    monkeypatch: pytest.MonkeyPatch, client: httpx.Client, receiver: Receiver
) -> None:
    # The first answer is allowed; every later one is an address outside the allow-list (nothing
    # listens there). A connection that asked DNS again would go there and fail.
    allow(monkeypatch, "127.0.0.1/32")
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1"])

    def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real(next(answers, "127.0.0.2") if host == NAME else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    attempt = post(client, receiver.url("/ok", host=NAME))
    assert (attempt.outcome, attempt.status) == ("delivered", 200)
    assert receiver.received[0].headers["Host"] == f"{NAME}:{receiver.port}"
    assert post(client, receiver.url("/ok", host=NAME)) == Attempt(
        "refused", None, None, "hooks.example.test resolves to 127.0.0.2, which is a loopback address", ANY
    )


def test_a_name_with_one_forbidden_address_among_allowed_ones_is_refused(
    monkeypatch: pytest.MonkeyPatch, client: httpx.Client, receiver: Receiver, lookups: dict[str, list[str]]
) -> None:
    allow(monkeypatch, "127.0.0.0/8")
    lookups[NAME] = ["127.0.0.1", "10.0.0.1"]
    attempt = post(client, receiver.url("/ok", host=NAME))
    assert (attempt.outcome, attempt.error) == (
        "refused",
        "hooks.example.test resolves to 10.0.0.1, which is a private address",
    )
    assert receiver.received == []


def test_a_name_that_does_not_resolve_is_refused(client: httpx.Client, lookups: dict[str, list[str]]) -> None:
    lookups[NAME] = []
    attempt = post(client, f"https://{NAME}/in")
    assert (attempt.outcome, attempt.error) == ("refused", "hooks.example.test does not resolve")


def test_a_host_with_a_malformed_idna_label_is_refused_at_delivery(client: httpx.Client) -> None:
    for url in ["https://xn--a.com/in", "https://xn--.com/in"]:
        attempt = post(client, url)
        assert attempt.outcome == "refused", url
        assert attempt.error is not None
        assert attempt.error.startswith("The URL's host is not a valid internationalized domain name: ")


def test_http_to_a_public_address_is_refused_at_delivery(client: httpx.Client, lookups: dict[str, list[str]]) -> None:
    lookups[NAME] = ["8.8.8.8"]
    attempt = post(client, f"http://{NAME}/in")
    assert (attempt.outcome, attempt.error) == ("refused", targets.PLAIN_HTTP)


def test_the_client_connects_nowhere_outside_deliver(receiver: Receiver, client: httpx.Client) -> None:
    with pytest.raises(httpx.ConnectError, match="was not vetted"):
        client.post(receiver.url("/ok"), content=BODY)
    assert receiver.received == []


# Delivery: what the receiver answers


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> None:
    allow(monkeypatch, "127.0.0.1/32")


@pytest.mark.usefixtures("local")
def test_answers_become_outcomes(client: httpx.Client, receiver: Receiver) -> None:
    gone = post(client, receiver.url("/gone"))
    assert gone == Attempt("gone", 410, "unsubscribed", "the receiver answered 410 Gone", gone.duration_ms)
    error = post(client, receiver.url("/error"))
    assert error == Attempt("failed", 500, "database on fire \ufffd", "the receiver answered 500", error.duration_ms)
    assert [received.path for received in receiver.received] == ["/gone", "/error"]


@pytest.mark.usefixtures("local")
def test_a_redirect_is_not_followed(client: httpx.Client, receiver: Receiver) -> None:
    elsewhere = Receiver(routes={"/stolen": answer(200)})
    for other in serve(elsewhere):
        receiver.routes["/moved"] = answer(302, Location=other.url("/stolen"))
        attempt = post(client, receiver.url("/moved"))
        assert attempt == Attempt(
            "failed", 302, "", f"redirect to {other.url('/stolen')} not followed", attempt.duration_ms
        )
        assert other.received == []


@pytest.mark.usefixtures("local")
def test_what_is_recorded_fits_the_delivery_log(client: httpx.Client, receiver: Receiver) -> None:
    far = "https://example.org/" + "x" * 1000
    receiver.routes["/far"] = answer(301, Location=far)
    receiver.routes["/nul"] = answer(200, b"a\0b")
    moved = post(client, receiver.url("/far"))
    assert moved.error == f"redirect to {far} not followed"[:500]
    assert post(client, receiver.url("/nul")).excerpt == "a\ufffdb"  # PostgreSQL's text holds no NUL


@pytest.mark.usefixtures("local")
def test_a_receiver_that_hangs_times_out_at_the_deadline(client: httpx.Client, receiver: Receiver) -> None:
    started = time.monotonic()
    attempt = post(client, receiver.url("/hang"), timeout=1)
    elapsed = time.monotonic() - started
    assert attempt == Attempt("timeout", None, None, "no answer within 1 s", attempt.duration_ms)
    assert 0.9 < elapsed < 2
    assert 900 <= attempt.duration_ms < 2000


@pytest.mark.usefixtures("local")
def test_a_receiver_that_trickles_its_headers_times_out_at_the_deadline(
    client: httpx.Client, receiver: Receiver
) -> None:
    # Each byte comes well within a per-read timeout: only a deadline for the whole attempt ends it.
    def trickle(handler: BaseHTTPRequestHandler) -> None:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
        try:
            while not receiver.release.wait(0.1):
                handler.wfile.write(b"X")
                handler.wfile.flush()
        except OSError:
            receiver.notes.append("hung up on")

    receiver.routes["/trickle"] = trickle
    started = time.monotonic()
    attempt = post(client, receiver.url("/trickle"), timeout=1)
    assert (attempt.outcome, attempt.error) == ("timeout", "no answer within 1 s")
    assert 0.9 < time.monotonic() - started < 2


def trickled_body(receiver: Receiver) -> Callable[[BaseHTTPRequestHandler], None]:
    def trickle(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        handler.wfile.flush()
        try:
            while not receiver.release.wait(0.1):
                handler.wfile.write(b"x")
                handler.wfile.flush()
        except OSError:
            receiver.notes.append("hung up on")

    return trickle


@pytest.mark.usefixtures("local")
def test_a_receiver_that_trickles_its_body_times_out_with_its_status(client: httpx.Client, receiver: Receiver) -> None:
    receiver.routes["/slow-body"] = trickled_body(receiver)
    started = time.monotonic()
    attempt = post(client, receiver.url("/slow-body"), timeout=1)
    assert (attempt.outcome, attempt.status, attempt.error) == ("timeout", 200, "no answer within 1 s")
    assert attempt.excerpt is not None
    assert 0 < len(attempt.excerpt) < 20
    assert set(attempt.excerpt) == {"x"}
    assert 0.9 < time.monotonic() - started < 2


@pytest.mark.usefixtures("local")
def test_a_receiver_that_trickles_its_tls_handshake_times_out_at_the_deadline(client: httpx.Client) -> None:
    release = threading.Event()

    def trickle(listener: socket.socket) -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)  # the ClientHello
            with contextlib.suppress(OSError):
                for byte in b"\x16\x03\x03\x40\x00" + b"\x02" * 1000:  # a long ServerHello, a byte at a time
                    if release.wait(0.1):
                        break
                    connection.sendall(bytes([byte]))

    with socket.create_server(("127.0.0.1", 0)) as listener:
        thread = threading.Thread(target=trickle, args=(listener,), daemon=True)
        thread.start()
        started = time.monotonic()
        attempt = post(client, f"https://127.0.0.1:{listener.getsockname()[1]}/in", timeout=1)
        elapsed = time.monotonic() - started
        release.set()
        thread.join()
    assert attempt == Attempt("timeout", None, None, "no answer within 1 s", attempt.duration_ms)
    assert 0.9 < elapsed < 2


@pytest.mark.usefixtures("local")
def test_only_the_first_1000_bytes_of_a_huge_answer_are_read(client: httpx.Client, receiver: Receiver) -> None:
    size = 10 * 1024 * 1024
    chunk = b"0123456789abcdef" * 4096

    def huge(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(500)
        handler.send_header("Content-Length", str(size))
        handler.end_headers()
        sent = 0
        try:
            while sent < size:
                handler.wfile.write(chunk)
                sent += len(chunk)
            receiver.notes.append("all sent")
        except OSError:
            receiver.notes.append(f"hung up on after {sent} bytes")
        receiver.release.set()

    receiver.routes["/huge"] = huge
    attempt = post(client, receiver.url("/huge"))
    assert (attempt.outcome, attempt.status) == ("failed", 500)
    assert attempt.excerpt == (b"0123456789abcdef" * 62 + b"01234567").decode()
    assert receiver.release.wait(5)
    [note] = receiver.notes
    assert note.startswith("hung up on after")


@pytest.mark.usefixtures("local")
def test_a_refused_connection_fails(client: httpx.Client) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    attempt = post(client, f"http://127.0.0.1:{port}/in")
    assert (attempt.outcome, attempt.status, attempt.excerpt) == ("failed", None, None)
    assert attempt.error is not None
    assert attempt.error.startswith("could not connect: ")
    assert "Connection refused" in attempt.error


def test_a_resolver_that_hangs_times_out_at_the_deadline(monkeypatch: pytest.MonkeyPatch, client: httpx.Client) -> None:
    release = threading.Event()
    real = socket.getaddrinfo

    def slow(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == NAME:
            release.wait(10)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    try:
        attempt = post(client, f"https://{NAME}/in", timeout=1)
    finally:
        release.set()
    assert (attempt.outcome, attempt.error) == ("timeout", "hooks.example.test did not resolve within 1 s")
    assert 900 <= attempt.duration_ms < 2000


@pytest.mark.usefixtures("local")
def test_cookies_are_not_kept_between_deliveries(client: httpx.Client, receiver: Receiver) -> None:
    receiver.routes["/cookie"] = answer(200, Set_Cookie="session=abc; Path=/")
    assert post(client, receiver.url("/cookie")).outcome == "delivered"
    assert post(client, receiver.url("/ok")).outcome == "delivered"
    assert "Cookie" not in receiver.received[1].headers


@pytest.mark.usefixtures("local")
def test_the_client_takes_no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch, receiver: Receiver) -> None:
    for proxy in serve(Receiver(routes={})):
        monkeypatch.setenv("HTTP_PROXY", proxy.url(""))
        monkeypatch.setenv("ALL_PROXY", proxy.url(""))
        with new_client() as client:
            assert post(client, receiver.url("/ok")).outcome == "delivered"
        assert proxy.received == []
        assert [received.path for received in receiver.received] == ["/ok"]


# https: the connection goes to the vetted address, the name is what TLS verifies


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def tls_receiver(certificate: trustme.LeafCert, names: list[str | None]) -> Iterator[Receiver]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    context.sni_callback = lambda _socket, name, _context: names.append(name)
    receiver = Receiver(routes={"/ok": answer(200, b"thanks")})
    receiver.routes["/slow-body"] = trickled_body(receiver)
    yield from serve(receiver, tls=context)


@pytest.fixture
def trusting(monkeypatch: pytest.MonkeyPatch, ca: trustme.CA, lookups: dict[str, list[str]]) -> None:
    def context() -> ssl.SSLContext:
        trusted = ssl.create_default_context()
        ca.configure_trust(trusted)
        return trusted

    monkeypatch.setattr(targets, "_tls_context", context)
    allow(monkeypatch, "127.0.0.1/32")
    lookups[NAME] = ["127.0.0.1"]


@pytest.mark.usefixtures("trusting")
def test_https_sends_the_name_as_sni_and_verifies_it(ca: trustme.CA) -> None:
    names: list[str | None] = []
    for receiver in tls_receiver(ca.issue_cert(NAME), names):
        with new_client() as client:
            attempt = post(client, receiver.url("/ok", host=NAME, scheme="https"))
        assert attempt == Attempt("delivered", 200, "thanks", None, attempt.duration_ms)
        assert names == [NAME]
        assert receiver.received[0].headers["Host"] == f"{NAME}:{receiver.port}"


@pytest.mark.usefixtures("trusting")
def test_https_refuses_a_certificate_for_the_address_rather_than_the_name(ca: trustme.CA) -> None:
    names: list[str | None] = []
    for receiver in tls_receiver(ca.issue_cert("127.0.0.1"), names):
        with new_client() as client:
            attempt = post(client, receiver.url("/ok", host=NAME, scheme="https"))
        assert (attempt.outcome, attempt.status) == ("failed", None)
        assert attempt.error is not None
        assert "CERTIFICATE_VERIFY_FAILED" in attempt.error
        assert "Hostname mismatch" in attempt.error
        assert receiver.received == []


@pytest.mark.usefixtures("trusting")
def test_https_receiver_that_trickles_its_body_times_out_at_the_deadline(ca: trustme.CA) -> None:
    for receiver in tls_receiver(ca.issue_cert(NAME), []):
        started = time.monotonic()
        with new_client() as client:
            attempt = post(client, receiver.url("/slow-body", host=NAME, scheme="https"), timeout=1)
        assert (attempt.outcome, attempt.status, attempt.error) == ("timeout", 200, "no answer within 1 s")
        assert 0.9 < time.monotonic() - started < 2
