"""`Idempotency-Key` on POST: a retried request replays the first response instead of writing twice.

The key is claimed in the request's own write transaction, and the response is stored there
(`remember`): the record and its replay commit together or not at all, and a claim lasts exactly as
long as that transaction. A request that fails, loses its database or dies with its process rolls
back and leaves the key free; nothing has to be released afterwards.

- PostgreSQL: the claim is a transaction-level advisory lock on the key, tried without waiting: a
  second request while the first runs does not get it and answers 409. The server drops the lock
  with the transaction, at its end or when its client is gone (a killed worker): the transaction
  looks for its client every second, even while a statement runs or waits for a lock.
- SQLite: the database runs one write transaction at a time (BEGIN IMMEDIATE), so a second request
  starts only once the first has committed or rolled back, and finds its response or nothing. The
  operating system drops a dead process's lock at once.

Keys are per caller (`principal`: the API key's key_id) and kept 24 hours: two partners may use the
same Idempotency-Key without meeting.
"""

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import text
from sqlmodel import Session, col, delete
from starlette.responses import Response

from app.access.keys import caller
from app.db import SessionDep
from app.errors import BadRequest, Conflict, ValidationFailed
from app.models.writes import IdempotencyKey
from app.records import as_utc, utcnow

KEEP = timedelta(hours=24)
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
REPLAYED_HEADERS = ("location", "etag", "content-type")
# How often a PostgreSQL transaction holding a claim checks that its client is still there.
CLIENT_CHECK = "1s"


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
    fingerprint: str

    @property
    def lock_id(self) -> int:
        """The key as a PostgreSQL advisory lock: 64 bits of its hash (a collision costs a 409)."""
        digest = hashlib.blake2b(f"{self.principal}\0{self.key}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big", signed=True)


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What "the same request" means: the same method, path and body bytes."""
    digest = hashlib.sha256(f"{method} {path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def take_claim(session: Session, claim: Claim) -> None:
    """Hold the key for the session's transaction; or raise: 409 while another transaction holds
    it, 422 if it was used for another request, the first response if it was used for this one."""
    if session.get_bind().dialect.name == "postgresql":
        held = session.execute(
            text(
                "SELECT pg_try_advisory_xact_lock(:lock), set_config('client_connection_check_interval', :every, true)"
            ),
            {"lock": claim.lock_id, "every": CLIENT_CHECK},
        ).scalar_one()
        if not held:
            raise _in_use()
    # Read after the lock, in a statement of its own: at READ COMMITTED it sees what the last
    # holder committed.
    row = session.get(IdempotencyKey, (claim.principal, claim.key))
    if row is None:
        return
    if as_utc(row.expires_at) <= utcnow():
        # Not session.delete: `workplan purge-tombstones` may have deleted it since.
        session.expunge(row)
        session.exec(
            delete(IdempotencyKey).where(
                col(IdempotencyKey.principal) == claim.principal, col(IdempotencyKey.key) == claim.key
            )
        )
        return
    if row.fingerprint != claim.fingerprint:
        raise ValidationFailed(
            "This Idempotency-Key was used for another request; use a new key for a new request.",
            code="IDEMPOTENCY_KEY_REUSED",
        )
    headers = json.loads(row.response_headers)
    headers["Idempotent-Replayed"] = "true"
    raise Replay(Response(row.response_body, status_code=row.response_status, headers=headers))


def _in_use() -> Conflict:
    return Conflict(
        "A request with this Idempotency-Key is still running; retry shortly.",
        code="IDEMPOTENCY_KEY_IN_USE",
        headers={"Retry-After": "1"},
    )


async def idempotency_claim(
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            description=(
                "Any string of 1 to 255 visible ASCII characters, new for each new request (a UUID will do). "
                "A retry with the same key and body replays the first response; "
                "another body is 422, and 409 while the first is still running. Kept 24 hours."
            ),
            # Declared, not validated by FastAPI: a key off the pattern is 400 INVALID_IDEMPOTENCY_KEY, not 422.
            json_schema_extra={"pattern": KEY_PATTERN.pattern, "minLength": 1, "maxLength": 255},
        ),
    ] = None,
) -> Claim | None:
    """The request's Idempotency-Key as a claim, checked but not taken: a route that must not hold a
    transaction for its whole length (a webhook redelivery waits on a receiver) takes it itself,
    with `take_claim`, where it writes."""
    if idempotency_key is None:
        return None
    if not KEY_PATTERN.match(idempotency_key):
        raise BadRequest("Idempotency-Key must be 1 to 255 visible ASCII characters.", code="INVALID_IDEMPOTENCY_KEY")
    body = await request.body()
    return Claim(caller(request).key_id or "", idempotency_key, fingerprint(request.method, request.url.path, body))


async def idempotency(session: SessionDep, claim: Annotated[Claim | None, Depends(idempotency_claim)]) -> Claim | None:
    if claim is not None:
        await run_in_threadpool(take_claim, session, claim)
    return claim


# The claim is taken in the request's session (the route's `SessionDep`, the same one), when the
# dependencies are solved, before the route runs.
IdempotencyDep = Annotated[Claim | None, Depends(idempotency)]


def remember(session: Session, claim: Claim | None, response: Response) -> Response:
    """Store the response under the claimed key, in the request's own (write) transaction."""
    if claim is None:
        return response
    headers = {name: value for name, value in response.headers.items() if name in REPLAYED_HEADERS}
    now = utcnow()
    session.add(
        IdempotencyKey(
            principal=claim.principal,
            key=claim.key,
            fingerprint=claim.fingerprint,
            created_at=now,
            expires_at=now + KEEP,
            response_status=response.status_code,
            response_headers=json.dumps(headers),
            response_body=bytes(response.body),
        )
    )
    return response
