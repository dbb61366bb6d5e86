"""API keys, who is calling, and what each role may do (default-deny).

A key is `wp_<key_id>_<secret>`: `key_id` (12 hex characters) names it in lists, logs and the
audit log; the secret (43 URL-safe characters, 256 random bits) is shown once, when the key is
made, and only its SHA-256 is stored, compared in constant time. Keys go in
`Authorization: Bearer <key>`, never in the URL.
"""

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security.utils import get_authorization_scheme_param
from sqlmodel import Session, col, select
from starlette.datastructures import Headers
from starlette.types import Scope

from app.config import get_settings
from app.db import Database
from app.errors import AppError, BadRequest
from app.models.access import ApiKey, Role
from app.reads import PrivateReaders, Reader
from app.records import as_utc, utcnow

KEY_PATTERN = re.compile(r"^wp_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
# Query parameters that would carry a key in the URL: refused rather than ignored.
KEY_PARAMETERS = frozenset({"api_key", "apikey", "key", "access_token", "token"})


class Unauthorized(AppError):
    """401 with a Bearer challenge; `error=None` when the request carried no credentials, which
    RFC 6750 (3.1) says the challenge then gives no error code for."""

    status, code = 401, "UNAUTHORIZED"

    def __init__(self, detail: str, *, error: str | None = "invalid_token") -> None:
        challenge = 'Bearer realm="workplan"' if error is None else f'Bearer realm="workplan", error="{error}"'
        super().__init__(detail, headers={"WWW-Authenticate": challenge})


class Forbidden(AppError):
    status, code = 403, "FORBIDDEN"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key (its id, role and partner) or nobody."""

    key_id: str | None = None
    role: Role | None = None
    partner_id: uuid.UUID | None = None

    @property
    def actor(self) -> str:
        return self.key_id or "anonymous"

    def at_least(self, role: Role) -> bool:
        return self.role is not None and self.role.rank >= role.rank


ANONYMOUS = Principal()


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key(
    session: Session,
    *,
    name: str,
    role: Role,
    partner_id: uuid.UUID | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Make a key; returns the stored record and the full key, which is never seen again."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    record = ApiKey(
        key_id=key_id,
        secret_hash=secret_hash(secret),
        name=name,
        role=role,
        partner_id=partner_id,
        expires_at=expires_at,
    )
    session.add(record)
    session.flush()
    return record, f"wp_{key_id}_{secret}"


def authenticate(session: Session, token: str) -> Principal:
    match = KEY_PATTERN.match(token)
    if match is None:
        raise Unauthorized("The key is not in the form wp_<id>_<secret>.")
    key_id, secret = match.groups()
    key = session.exec(select(ApiKey).where(col(ApiKey.key_id) == key_id)).first()
    # Compare even when there is no such key, so that timing does not tell which ids exist.
    expected = key.secret_hash if key is not None else secret_hash("")
    if not hmac.compare_digest(expected, secret_hash(secret)) or key is None:
        raise Unauthorized("Unknown key.")
    if key.revoked_at is not None:
        raise Unauthorized("This key was revoked.")
    if key.expires_at is not None and as_utc(key.expires_at) <= utcnow():
        raise Unauthorized("This key has expired.")
    return Principal(key_id=key.key_id, role=Role(key.role), partner_id=key.partner_id)


# The OpenAPI security scheme every /v1 operation declares (app/main.py). The header is read by
# `current_principal` itself: an HTTPBearer dependency cost every request another dependency to
# solve, for the same split of "Bearer <key>".
BEARER = "HTTPBearer"
BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "An API key: `Authorization: Bearer wp_<id>_<secret>`. Reads work without one.",
}


def bearer_token(headers: Headers) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if the request sent one."""
    scheme, token = get_authorization_scheme_param(headers.get("authorization"))
    return token if scheme.lower() == "bearer" and token else None


# Where a request keeps the outcome of its key's look-up (in scope["state"], i.e. request.state).
_LOOKUP = "key_lookup"


async def look_up_once(scope: Scope, token: str) -> Principal:
    """The key `token` names, looked up once per request: the rate limiter asks first (so that only a
    verified key gets a bucket of its own), and the access check takes the same answer, a refusal
    or a database error included, from the request's state."""
    state: dict[str, Any] = scope.setdefault("state", {})
    found: tuple[str, Principal | Exception] | None = state.get(_LOOKUP)
    if found is None or found[0] != token:
        result: Principal | Exception
        try:
            result = await run_in_threadpool(_look_up, state["database"], token)
        except Exception as error:  # kept, and raised to each caller: a second look-up would fail alike
            result = error
        found = state[_LOOKUP] = (token, result)
    if isinstance(found[1], Exception):
        raise found[1]
    return found[1]


async def current_principal(request: Request) -> Principal:
    """The caller, from the Authorization header; kept on request.state for the session's audit."""
    if KEY_PARAMETERS & {name.lower() for name in request.query_params}:
        raise BadRequest("Send keys in the Authorization header, never in the URL.", code="KEY_IN_URL")
    header = request.headers.get("authorization")
    if header is None:
        principal = ANONYMOUS
    else:
        scheme, key = get_authorization_scheme_param(header)
        if scheme.lower() != "bearer":  # another scheme: no Bearer credentials to find fault with
            raise Unauthorized("Send the key as `Authorization: Bearer <key>`.", error=None)
        if not key:
            raise Unauthorized("Send the key as `Authorization: Bearer <key>`.", error="invalid_request")
        principal = await look_up_once(request.scope, key)
    request.state.principal = principal
    return principal


def _look_up(database: Database, token: str) -> Principal:
    """In a short session of its own, apart from the request's transaction. Not a dependency: one
    more for FastAPI to solve on every request was 4 % of a get's function calls."""
    with database.session() as session:
        return authenticate(session, token)


# The checks below are async: plain logic, with no reason to take a thread-pool hop per request.
PrincipalDep = Annotated[Principal, Depends(current_principal)]

SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Access:
    """Who may call a router's operations: a dependency of each of its routes (app/api.py declares
    one per router), so the answer comes from the route that matched, never from the request's
    path, which a proxy's root path prefixes.

    `reads`: the least role that reads (None: anyone, unless anonymous reads are switched off);
    `writes`: the least role that writes. Record ownership is checked where the record is loaded.
    """

    writes: Role
    reads: Role | None = None

    def role(self, method: str) -> Role | None:
        """The least role `method` needs here (None: no key)."""
        return self.reads if method.upper() in SAFE else self.writes

    async def __call__(self, request: Request, principal: PrincipalDep) -> Principal:
        needed = self.role(request.method)
        if needed is None:
            if principal.role is None and not get_settings().anonymous_read:
                raise Unauthorized("Reading needs a key on this service.", error=None)
            return principal
        if needed is Role.ADMIN or request.method.upper() in SAFE:
            # Anything an admin's, or a read that needs a role: say which (not "writing needs a key").
            least = f"the {needed} role" if needed is Role.ADMIN else f"the {needed} role or above"
            if principal.role is None:
                raise Unauthorized(f"This needs a key with {least}.", error=None)
            if not principal.at_least(needed):
                raise Forbidden(f"This needs {least}; the key has {principal.role}.")
            return principal
        if principal.role is None:
            raise Unauthorized("Writing needs a key.", error=None)
        if not principal.at_least(Role.PARTNER):
            raise Forbidden(f"A {principal.role} key may only read.")
        if not principal.at_least(needed):
            raise Forbidden("A partner key may only write activities and government reports.")
        return principal


def check_owner(principal: Principal, owner_partner_id: uuid.UUID | None) -> None:
    """A partner key changes only the records its partner owns."""
    if principal.role is Role.PARTNER and owner_partner_id != principal.partner_id:
        raise Forbidden("A partner key may change only the records its partner owns.")


def owner_for(principal: Principal, requested: uuid.UUID | None) -> uuid.UUID | None:
    """The owner of a record a caller creates: a partner key's own partner, whatever it asked for."""
    if principal.role is not Role.PARTNER:
        return requested
    if requested not in (None, principal.partner_id):
        raise Forbidden("A partner key creates records owned by its own partner only.")
    return principal.partner_id


def caller(request: Request) -> Principal:
    """The principal `Access` found for this request (anonymous outside /v1)."""
    principal: Principal = getattr(request.state, "principal", ANONYMOUS)
    return principal


def private_reader(request: Request, readers: PrivateReaders) -> Reader:
    """The reader of a type with private fields (contact details, internal notes) as this caller
    may read it: an editor or admin reads them on every record, a partner key on its own partner's
    records only (decided row by row), a reader key or an anonymous caller never."""
    principal = caller(request)
    if principal.role is Role.PARTNER and principal.partner_id is not None:
        return readers.owned_by(principal.partner_id)
    return readers.full if principal.at_least(Role.EDITOR) else readers.public


def check_record_owner(request: Request, record: object) -> None:
    """For writes: a partner key may touch a record only if its partner owns it."""
    if hasattr(record, "owner_partner_id"):
        check_owner(caller(request), record.owner_partner_id)


def claim_ownership(request: Request, body: Any) -> None:
    """For creates: a partner key's records belong to its partner (mass assignment refused)."""
    body.owner_partner_id = owner_for(caller(request), body.owner_partner_id)
