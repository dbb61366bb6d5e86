"""`Idempotency-Key` on POST: a retried request replays the first response instead of writing twice.

1. Before the write, the key is claimed in a short transaction of its own and committed, so a second
   request with the key sees the claim at once: 409 while the first runs, 422 if its body differs.
   (Two requests claiming together: the primary key lets one in; the other sees its claim.)
2. The write stores the response under the key in the write's own transaction (`remember`): the
   record and its replay commit together or not at all.
3. If the write fails, the claim is released, so a retry runs again. If the process dies
   mid-request, the claim lapses after `LEASE`; and the write of a request whose claim lapsed and
   was taken over finds its claim gone and rolls back (409), so two records never result.

Keys are per caller (`principal`: the API key's key_id) and kept 24 hours: two partners may use the
same Idempotency-Key without meeting.
"""

import hashlib
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select, update
from starlette.responses import Response

from app.access.keys import caller
from app.db import get_write_engine
from app.errors import BadRequest, Conflict, ValidationFailed
from app.records import as_utc, utcnow
from app.sync.models import IdempotencyKey

KEEP = timedelta(hours=24)
LEASE = timedelta(minutes=5)
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
REPLAYED_HEADERS = ("location", "etag", "content-type")


class Replay(Exception):
    """Raised with the stored response of the first request with this key; sent as it is."""

    def __init__(self, response: Response) -> None:
        super().__init__("replayed")
        self.response = response


async def send_replay(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Replay)
    return exc.response


@dataclass
class Claim:
    principal: str
    key: str
    token: str


def claim_session() -> Iterator[Session]:
    """Sessions for the claim and its release, apart from the request's own transaction."""
    with Session(get_write_engine(), expire_on_commit=False) as session:
        yield session


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What "the same request" means: the same method, path and body bytes."""
    digest = hashlib.sha256(f"{method} {path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def _claim(session: Session, principal: str, key: str, print_: str) -> Claim:
    now = utcnow()
    for _attempt in range(2):
        try:
            with session.begin():
                row = session.exec(
                    select(IdempotencyKey)
                    .where(IdempotencyKey.principal == principal, IdempotencyKey.key == key)
                    .with_for_update()
                ).first()
                if row is not None and _lapsed(row):
                    session.delete(row)
                    session.flush()
                    row = None
                if row is None:
                    token = uuid.uuid4().hex
                    session.add(
                        IdempotencyKey(
                            principal=principal,
                            key=key,
                            fingerprint=print_,
                            claim=token,
                            created_at=now,
                            expires_at=now + KEEP,
                            locked_until=now + LEASE,
                        )
                    )
                    session.flush()
                    return Claim(principal, key, token)
                if row.fingerprint != print_:
                    raise ValidationFailed(
                        "This Idempotency-Key was used for another request; use a new key for a new request.",
                        code="IDEMPOTENCY_KEY_REUSED",
                    )
                if row.response_status is None:
                    raise _in_use()
                headers = json.loads(row.response_headers or "{}")
                headers["Idempotent-Replayed"] = "true"
                raise Replay(Response(row.response_body, status_code=row.response_status, headers=headers))
        except IntegrityError:
            continue  # another request claimed it between our look and our insert: look again
    raise _in_use()


def _in_use() -> Conflict:
    return Conflict(
        "A request with this Idempotency-Key is still running; retry shortly.",
        code="IDEMPOTENCY_KEY_IN_USE",
        headers={"Retry-After": "1"},
    )


def _lapsed(row: IdempotencyKey) -> bool:
    now = utcnow()
    if as_utc(row.expires_at) <= now:
        return True
    return row.response_status is None and row.locked_until is not None and as_utc(row.locked_until) <= now


def _release(session: Session, claim: Claim) -> None:
    with session.begin():
        session.exec(
            delete(IdempotencyKey).where(
                col(IdempotencyKey.principal) == claim.principal,
                col(IdempotencyKey.key) == claim.key,
                col(IdempotencyKey.claim) == claim.token,
                col(IdempotencyKey.response_status).is_(None),
            )
        )


async def idempotency(
    request: Request,
    session: Annotated[Session, Depends(claim_session)],
    idempotency_key: Annotated[
        str | None,
        Header(
            description=(
                "Any string of 1 to 255 visible ASCII characters, new for each new request (a UUID will do). "
                "A retry with the same key and body replays the first response; "
                "another body is 422, and 409 while the first is still running. Kept 24 hours."
            ),
        ),
    ] = None,
) -> AsyncIterator[Claim | None]:
    if idempotency_key is None:
        yield None
        return
    if not KEY_PATTERN.match(idempotency_key):
        raise BadRequest("Idempotency-Key must be 1 to 255 visible ASCII characters.", code="INVALID_IDEMPOTENCY_KEY")
    body = await request.body()
    claim = await run_in_threadpool(
        _claim,
        session,
        caller(request).key_id or "",
        idempotency_key,
        fingerprint(request.method, request.url.path, body),
    )
    try:
        yield claim
    except BaseException:
        await run_in_threadpool(_release, session, claim)
        raise


# Declared before the session in a route's signature, so that it is entered first and left last:
# its exit sees a failed commit of the request's transaction and releases the claim.
IdempotencyDep = Annotated[Claim | None, Depends(idempotency, scope="function")]


def remember(session: Session, claim: Claim | None, response: Response) -> Response:
    """Store the response under the claimed key, in the request's own (write) transaction."""
    if claim is None:
        return response
    headers = {name: value for name, value in response.headers.items() if name in REPLAYED_HEADERS}
    result = session.exec(
        update(IdempotencyKey)
        .where(
            col(IdempotencyKey.principal) == claim.principal,
            col(IdempotencyKey.key) == claim.key,
            col(IdempotencyKey.claim) == claim.token,
        )
        .values(
            response_status=response.status_code,
            response_headers=json.dumps(headers),
            response_body=bytes(response.body),
            locked_until=None,
        )
    )
    if result.rowcount != 1:
        raise Conflict(
            "The claim on this Idempotency-Key lapsed while the request ran; nothing was written. Retry.",
            code="IDEMPOTENCY_KEY_IN_USE",
        )
    return response
