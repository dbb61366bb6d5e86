"""Admin endpoints: API keys (`/v1/api-keys`) and the audit log (`/v1/audit`)."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlmodel import Session, col, select
from starlette.responses import Response

from app.access.audit import record_change
from app.access.keys import new_key
from app.db import ReadSessionDep, SessionDep
from app.errors import NOT_MODIFIED, BadRequest, ErrorItem, NotFound, ValidationFailed, problems
from app.http import json_response, page_response
from app.lists import query_fingerprint, seal, unseal
from app.models.access import ApiKey, AuditEntry, Role
from app.models.partners import Partner
from app.records import ShortText, Timestamp, Title, ensure_exist, format_timestamp, utcnow

# Admins only: app/api.py declares it, as every router's access.
router = APIRouter(tags=["Access"])
ADMIN_ERRORS = problems(401, 403, 422)


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "ECPAT sync", "role": "partner", "partner_id": "ccff0b3f-1f71-5810-ac3d-462dd1e95f06"}
            ],
            # `_partner_for_partner_keys`, for OpenAPI.
            "if": {"properties": {"role": {"const": "partner"}}},
            "then": {"properties": {"partner_id": {"type": "string"}}, "required": ["partner_id"]},
            "else": {"properties": {"partner_id": {"type": "null"}}},
        },
    )

    name: Title = Field(max_length=200, description="What the key is for, e.g. the system using it.")
    role: Role
    partner_id: uuid.UUID | None = Field(
        default=None, description="Required for a partner key: the partner it acts for."
    )
    expires_at: Timestamp | None = Field(default=None, description="After this instant the key is refused.")

    @model_validator(mode="after")
    def _partner_for_partner_keys(self) -> "ApiKeyCreate":
        if (self.role is Role.PARTNER) != (self.partner_id is not None):
            raise ValueError("partner_id is required for a partner key, and only for one")
        return self


class ApiKeyPublic(BaseModel):
    id: uuid.UUID
    key_id: str = Field(
        description="The public part of the key, as in `wp_<key_id>_...`; the audit log names keys by it."
    )
    name: str
    role: Role
    partner_id: uuid.UUID | None
    created_at: Timestamp
    expires_at: Timestamp | None
    revoked_at: Timestamp | None


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="The key itself. Shown this once: only a hash of it is kept.")


class ApiKeyList(BaseModel):
    items: list[ApiKeyPublic]


def create_key(session: Session, data: ApiKeyCreate) -> tuple[ApiKey, str]:
    """Validate the partner, then make the key (shared with `workplan keys create`)."""
    if data.partner_id is not None:
        ensure_exist(session, Partner, [data.partner_id], ["/partner_id"])
    if data.expires_at is not None and data.expires_at <= utcnow():
        item = ErrorItem.model_validate({"in": "body", "pointer": "/expires_at", "message": "must be in the future"})
        raise ValidationFailed("The request body is not valid.", errors=[item])
    record, key = new_key(
        session, name=data.name, role=data.role, partner_id=data.partner_id, expires_at=data.expires_at
    )
    # Keys are not records, so the ORM hook does not log them; the audit must (never the secret).
    partner = str(data.partner_id) if data.partner_id else None
    fields = {"key_id": record.key_id, "name": record.name, "role": str(record.role), "partner_id": partner}
    record_change(session, "create", "api_key", record.id, {k: [None, v] for k, v in fields.items() if v is not None})
    return record, key


@router.get("/api-keys", response_model=ApiKeyList, responses={**NOT_MODIFIED, **ADMIN_ERRORS})
def list_api_keys(request: Request, session: ReadSessionDep) -> Response:
    """List every API key, revoked ones included (admin)."""
    keys = session.exec(select(ApiKey).order_by(col(ApiKey.created_at), col(ApiKey.id))).all()
    return json_response(
        request, ApiKeyList(items=[ApiKeyPublic.model_validate(k, from_attributes=True) for k in keys])
    )


@router.post("/api-keys", status_code=201, response_model=ApiKeyCreated, responses=problems(400, 401, 403, 415, 422))
def create_api_key(request: Request, session: SessionDep, body: ApiKeyCreate) -> Response:
    """Make an API key (admin); the answer shows the key once."""
    record, key = create_key(session, body)
    created = ApiKeyCreated.model_validate(
        {**ApiKeyPublic.model_validate(record, from_attributes=True).model_dump(), "key": key}
    )
    location = request.url_for("get_api_key", api_key_id=record.id).path
    response = json_response(request, created, status_code=201, headers={"Location": location})
    response.headers["Cache-Control"] = "no-store"
    return response


def _load(session: Session, api_key_id: uuid.UUID) -> ApiKey:
    key = session.get(ApiKey, api_key_id)
    if key is None:
        raise NotFound(f"No API key with id {api_key_id}.")
    return key


@router.get(
    "/api-keys/{api_key_id}", response_model=ApiKeyPublic, responses={**NOT_MODIFIED, **ADMIN_ERRORS, **problems(404)}
)
def get_api_key(request: Request, session: ReadSessionDep, api_key_id: uuid.UUID) -> Response:
    """Fetch one API key (admin); never the key itself."""
    return json_response(request, ApiKeyPublic.model_validate(_load(session, api_key_id), from_attributes=True))


@router.delete("/api-keys/{api_key_id}", status_code=204, responses={**ADMIN_ERRORS, **problems(404)})
def revoke_api_key(session: SessionDep, api_key_id: uuid.UUID) -> Response:
    """Revoke an API key (admin): it is refused from now on; revoking it again is harmless."""
    revoke_key(session, _load(session, api_key_id))
    return Response(status_code=204)


def revoke_key(session: Session, key: ApiKey) -> None:
    """Revoke a key, once, and say so in the audit log (shared with `workplan keys revoke`)."""
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        record_change(session, "revoke", "api_key", key.id, {"revoked_at": [None, format_timestamp(key.revoked_at)]})


class AuditParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    record_type: ShortText | None = Field(default=None, max_length=40, description="e.g. activity.")
    record_id: uuid.UUID | None = None
    actor: ShortText | None = Field(default=None, max_length=64, description="A key's key_id, or cli, seed, import.")
    at_from: Timestamp | None = None
    at_to: Timestamp | None = None
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = None


class AuditEntryPublic(BaseModel):
    seq: int
    at: Timestamp
    actor: str
    request_id: str | None
    action: str
    record_type: str
    record_id: uuid.UUID
    changes: dict[str, Any] = Field(description="Each changed field: [before, after].")


class AuditPage(BaseModel):
    items: list[AuditEntryPublic]
    next_cursor: str | None = Field(default=None, exclude_if=lambda v: v is None)


def _cursor(fingerprint: str, seq: int) -> str:
    return seal({"q": fingerprint, "s": seq})


def _after(cursor: str, fingerprint: str) -> int:
    payload = unseal(cursor)
    if payload.get("q") != fingerprint:
        raise BadRequest("The cursor belongs to another query.", code="CURSOR_MISMATCH")
    seq = payload.get("s")
    if not isinstance(seq, int):
        raise BadRequest("The cursor is not one this service issued.", code="INVALID_CURSOR")
    return seq


@router.get("/audit", response_model=AuditPage, responses={**NOT_MODIFIED, **ADMIN_ERRORS, **problems(400)})
def list_audit(request: Request, session: ReadSessionDep, params: Annotated[AuditParams, Query()]) -> Response:
    """Who changed what, newest first (admin): each write with its key, time and fields before and after."""
    entries = read_audit(session, params)
    fingerprint = query_fingerprint(params)
    more = len(entries) > params.limit
    entries = entries[: params.limit]
    next_cursor = _cursor(fingerprint, entries[-1].seq or 0) if more else None
    page = AuditPage(
        items=[AuditEntryPublic.model_validate(e, from_attributes=True) for e in entries], next_cursor=next_cursor
    )
    return page_response(request, page.model_dump(mode="json"), next_cursor)


def read_audit(session: Session, params: AuditParams) -> list[AuditEntry]:
    """Entries matching the filters, newest first, one more than the limit (shared with the CLI)."""
    statement = select(AuditEntry).order_by(col(AuditEntry.seq).desc()).limit(params.limit + 1)
    if params.record_type is not None:
        statement = statement.where(col(AuditEntry.record_type) == params.record_type)
    if params.record_id is not None:
        statement = statement.where(col(AuditEntry.record_id) == params.record_id)
    if params.actor is not None:
        statement = statement.where(col(AuditEntry.actor) == params.actor)
    if params.at_from is not None:
        statement = statement.where(col(AuditEntry.at) >= params.at_from)
    if params.at_to is not None:
        statement = statement.where(col(AuditEntry.at) < params.at_to)
    if params.cursor is not None:
        statement = statement.where(col(AuditEntry.seq) < _after(params.cursor, query_fingerprint(params)))
    return list(session.exec(statement).all())
