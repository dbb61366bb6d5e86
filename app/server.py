"""The embedded server's limits on what a client sends before the app sees a request.

uvicorn's httptools protocol reads headers without a bound on their size, their number or the time
they take: a 32 MiB header, 100,000 headers, or a connection that never finishes its request were all
held. This protocol counts a request's line and headers as they are parsed and answers 431 past
`max_header_bytes` or `max_headers`, and 408 when the headers have not arrived within
`read_timeout` of the connection or of the request's first byte. A body that stalls is the app's to
time out (BodyLimitMiddleware), since by then a route may be waiting for it.
"""

import asyncio
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.config import get_settings
from app.errors import Problem


class _Refused(Exception):
    """Raised in a parser callback to stop reading a request; httptools turns it into a parser error."""


def problem_message(status: int, code: str, detail: str) -> bytes:
    """A whole HTTP/1.1 response with a problem+json body, for answers made before any app runs."""
    phrase = HTTPStatus(status).phrase
    body = (
        Problem(title=phrase, status=status, detail=detail, code=code)
        .model_dump_json(by_alias=True, exclude_none=True)
        .encode()
    )
    head = (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/problem+json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self.max_header_bytes, self.max_headers = settings.max_header_bytes, settings.max_headers
        self.read_timeout = settings.read_timeout
        self.header_bytes = self.header_count = 0
        self.refusal: bytes | None = None
        self.read_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.header_bytes = self.header_count = 0
        self._await_headers()

    def on_url(self, url: bytes) -> None:
        self._count(len(url), 0)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value), 1)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._stop_waiting()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        if self.refusal is None:
            super().send_400_response(msg)
            return
        self.transport.write(self.refusal)
        self.transport.close()

    def _count(self, size: int, fields: int) -> None:
        self.header_bytes += size
        self.header_count += fields
        if self.header_bytes > self.max_header_bytes:
            detail = f"The request line and headers are larger than the limit of {self.max_header_bytes} bytes."
        elif self.header_count > self.max_headers:
            detail = f"The request has more than {self.max_headers} header fields."
        else:
            return
        self.refusal = problem_message(431, "HEADERS_TOO_LARGE", detail)
        raise _Refused

    def _await_headers(self) -> None:
        self._stop_waiting()
        self.read_timer = self.loop.call_later(self.read_timeout, self._headers_timed_out)

    def _stop_waiting(self) -> None:
        if self.read_timer is not None:
            self.read_timer.cancel()
            self.read_timer = None

    def _headers_timed_out(self) -> None:
        self.read_timer = None
        if not self.transport.is_closing():
            detail = f"The request's headers did not arrive within {self.read_timeout:g} seconds."
            self.transport.write(problem_message(408, "REQUEST_TIMEOUT", detail))
            self.transport.close()
