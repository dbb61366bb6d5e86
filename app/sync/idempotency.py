"""`Idempotency-Key` on POST: a retried request replays the first response instead of writing twice.

1. Before the write, the key is claimed in a short transaction of its own and committed, so a second
   request with the key sees the claim at once: 409 while the first runs, 422 if its body differs.
   (Two requests claiming together: the primary key lets one in; the other sees its claim.)
2. The write stores the response under the key in the write's own transaction (`remember`): the
   record and its replay commit together or not at all.
3. If the write fails, the claim is released, so a retry runs again. If the process dies
   mid-request, the claim lapses after `LEASE`; and the write of a request whose claim lapsed and
   was taken over finds its claim gone and rolls back (409), so two records never result.
4. If the database goes away, the release itself fails (and so may the claim's commit, which may
   or may not have reached the server): the claim is then released by a thread of this process
   that retries every `RELEASE_RETRY` until the database answers, so a retry after the outage
   runs instead of meeting 409 until the lease ends. A release only ever deletes a claim that
   holds no response, so releasing a claim whose write did commit changes nothing.

Keys are per caller (`principal`: the API key's key_id) and kept 24 hours: two partners may use the
same Idempotency-Key without meeting.
"""

import hashlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col, delete, select, update
from starlette.responses import Response

from app.access.keys import caller
from app.db import get_write_engine
from app.errors import BadRequest, Conflict, ValidationFailed, database_unavailable
from app.records import as_utc, utcnow
from app.sync.models import IdempotencyKey

KEEP = timedelta(hours=24)
LEASE = timedelta(minutes=5)
RELEASE_RETRY = 1.0  # seconds between attempts to release claims while the database is away
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


@dataclass(frozen=True)
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


log = logging.getLogger("workplan")


def _claim(session: Session, principal: str, key: str, print_: str, token: str) -> Claim:
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
    """Delete the claim unless its write committed a response. Never raises: if the database
    cannot be reached, the release is left to `_release_later`."""
    try:
        _delete_claim(session, claim)
    except SQLAlchemyError as exc:
        log.warning("could not release Idempotency-Key claim now, retrying in the background: %s", exc)
        _release_later(session.get_bind(), claim)


_unreleased: dict[Claim, Engine] = {}
_unreleased_lock = threading.Lock()


def _release_later(bind: Any, claim: Claim) -> None:
    with _unreleased_lock:
        start = not _unreleased
        _unreleased[claim] = bind
    if start:
        threading.Thread(target=_release_pending, name="idempotency-release", daemon=True).start()


def _release_pending() -> None:
    """Retry the releases that failed until every one is done; then the thread ends."""
    while True:
        time.sleep(RELEASE_RETRY)
        with _unreleased_lock:
            pending = list(_unreleased.items())
        for claim, bind in pending:
            try:
                with Session(bind) as session:
                    _delete_claim(session, claim)
            except SQLAlchemyError:
                continue
            with _unreleased_lock:
                del _unreleased[claim]
        with _unreleased_lock:
            if not _unreleased:
                return


def _delete_claim(session: Session, claim: Claim) -> None:
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
    principal, token = caller(request).key_id or "", uuid.uuid4().hex
    try:
        claim = await run_in_threadpool(
            _claim, session, principal, idempotency_key, fingerprint(request.method, request.url.path, body), token
        )
    except SQLAlchemyError as exc:
        # The claim's commit may have reached the server before the connection failed.
        await _release_after(exc, session, Claim(principal, idempotency_key, token))
        raise
    try:
        yield claim
    except BaseException as exc:
        await _release_after(exc, session, claim)
        raise


async def _release_after(exc: BaseException, session: Session, claim: Claim) -> None:
    if database_unavailable(exc):
        # Trying now would only wait out another connect timeout before the client hears 503.
        _release_later(session.get_bind(), claim)
    else:
        await run_in_threadpool(_release, session, claim)


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
