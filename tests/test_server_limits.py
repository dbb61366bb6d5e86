"""The embedded server's bounds on what a client sends, through a real socket to `workplan serve`:
header size and count (431), headers that never finish and a body that stalls (408)."""

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.live import Live, live_server

pytestmark = pytest.mark.slow

READ_TIMEOUT = 1  # seconds, set for the server below; every wait here is bounded by the socket's own
SOCKET_TIMEOUT = 30


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WORKPLAN_READ_TIMEOUT", str(READ_TIMEOUT))
        env.setenv("WORKPLAN_MAX_HEADER_BYTES", "4096")
        env.setenv("WORKPLAN_MAX_HEADERS", "20")
        with live_server(f"sqlite:///{tmp_path_factory.mktemp('limits') / 'w.db'}", seed=False) as base:
            yield base


def connect(server: Live) -> socket.socket:
    host, port = server.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=SOCKET_TIMEOUT)


def answer(connection: socket.socket) -> tuple[int, dict[str, str], dict[str, Any]]:
    """Everything the server sends until it closes the connection: status, headers, JSON body."""
    data = b""
    while chunk := connection.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, json.loads(body)


def request(path: str, headers: dict[str, str] | None = None) -> bytes:
    lines = [
        f"GET {path} HTTP/1.1",
        "Host: test",
        "Connection: close",
        *(f"{k}: {v}" for k, v in (headers or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_headers_within_the_limits_are_served(server: Live) -> None:
    with connect(server) as connection:
        connection.sendall(request("/healthz", {f"X-Field-{n}": "v" * 100 for n in range(15)}))
        status, _, body = answer(connection)
    assert (status, body["status"]) == (200, "ok")


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({"X-Big": "v" * 5000}, "The request line and headers are larger than the limit of 4096 bytes."),
        ({f"X-Field-{n}": "v" for n in range(25)}, "The request has more than 20 header fields."),
    ],
    ids=["size", "count"],
)
def test_headers_past_a_limit_are_431_and_the_connection_closes(
    server: Live, headers: dict[str, str], detail: str
) -> None:
    with connect(server) as connection:
        connection.sendall(request("/healthz", headers))
        status, response_headers, body = answer(connection)
    assert status == 431
    assert response_headers["content-type"] == "application/problem+json"
    assert body == {
        "type": "about:blank",
        "title": "Request Header Fields Too Large",
        "status": 431,
        "detail": detail,
        "code": "HEADERS_TOO_LARGE",
    }


@pytest.mark.parametrize("sent", [b"", b"GET /healthz HTTP/1.1\r\nHost: te"], ids=["nothing", "half the headers"])
def test_headers_that_do_not_arrive_are_408_and_the_connection_closes(server: Live, sent: bytes) -> None:
    with connect(server) as connection:
        connection.sendall(sent)
        status, _, body = answer(connection)  # the server closes it: no wait of the test's choosing
    assert status == 408
    assert body["code"] == "REQUEST_TIMEOUT"
    assert body["detail"] == f"The request's headers did not arrive within {READ_TIMEOUT} seconds."


def test_a_body_that_stalls_is_408_and_nothing_is_written(server: Live) -> None:
    payload = json.dumps({"name": "Stalled partner", "kind": "ngo"}).encode()
    head = (
        "POST /v1/partners HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {server.key}\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    with connect(server) as connection:
        connection.sendall(head.encode() + payload[:10])
        status, headers, body = answer(connection)
    assert status == 408
    assert headers["connection"] == "close"
    assert body == {
        "type": "about:blank",
        "title": "Request Timeout",
        "status": 408,
        "detail": f"The request body stalled: nothing arrived for {READ_TIMEOUT} seconds.",
        "code": "REQUEST_TIMEOUT",
    }
    with connect(server) as connection:
        connection.sendall(request("/v1/partners?q=Stalled"))
        assert answer(connection)[2]["items"] == []
