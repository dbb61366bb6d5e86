"""Webhook subscriptions: made, read, changed, deleted, and their signing secrets rotated.

The secret is made here and leaves the service twice at most: in the answer to the create and in
the answer to each rotation. It is stored sealed (app/webhooks/secrets.py); reads, lists and the
audit log say only that it was made or rotated, and the audit log's actor says by whom.

The request and response models live here rather than beside the table (app/models/webhooks.py):
`types` names the change feed's types (`SyncType`, app/sync/feed.py), a floor above the tables.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.config import JsonDict
from sqlalchemy import Text, cast, func, or_
from sqlmodel import Session, col, select

from app.access.audit import record_change
from app.access.keys import Principal, owner_for
from app.errors import ErrorItem, ValidationFailed
from app.lists import PageParams, SortKey, keyset_page
from app.models.partners import Partner
from app.models.webhooks import Webhook
from app.records import LongText, Timestamp, as_utc, ensure_exist, format_timestamp, utcnow
from app.sync.feed import SyncType, end_of, head
from app.webhooks.access import webhooks_of
from app.webhooks.filters import check_filter
from app.webhooks.secrets import new_secret, seal_secret
from app.webhooks.targets import TargetRefused, check_target

# What a target must look like before it is checked further (declared for OpenAPI; the check's own
# message says what is wrong).
URL_SCHEMA: JsonDict = {"pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"}
DISTINCT: JsonDict = {"uniqueItems": True}
DEFAULT_GRACE = 86_400
MAX_GRACE = 7 * 86_400
# What the audit log shows in place of a secret.
SECRET_MADE = "(new secret)"  # noqa: S105 (a marker, not a secret)
SECRET_REPLACED = "(previous secret)"  # noqa: S105

EXAMPLE: dict[str, Any] = {
    "url": "https://ecpat.example.org/hooks/workplan",
    "types": ["activity", "government_report"],
    "filter": {"country": ["KHM", "THA"]},
    "description": "ECPAT's mirror of the activities and reports on Cambodia and Thailand",
}
TYPES_DESCRIPTION = "The record types it hears of, each once; empty (the default): every type."
FILTER_DESCRIPTION = (
    "Parameters of the types' lists (`GET /v1/<collection>`) that a changed record must match, e.g. "
    '`{"status": ["planned", "in_progress"], "country": "KHM"}`: each must be a filter of every type '
    "named (of every type, when `types` is empty), and means what it means there. Deletions are sent "
    "whatever the filter. Stored as the list parses it (a single value becomes a list of one)."
)


def _distinct(types: list[SyncType] | None) -> list[SyncType] | None:
    if types is not None:
        for index, name in enumerate(types):
            if name in types[:index]:
                raise ValueError(f"names '{name}' twice")
    return types


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    url: str = Field(
        min_length=1,
        max_length=2000,
        description="Where the service POSTs each change: an http(s) URL it is allowed to reach.",
        json_schema_extra=URL_SCHEMA,
    )
    types: list[SyncType] = Field(default=[], description=TYPES_DESCRIPTION, json_schema_extra=DISTINCT)
    filter: dict[str, Any] = Field(default={}, description=FILTER_DESCRIPTION)
    description: LongText | None = Field(default=None, max_length=500, description="What it is for.")
    active: bool = Field(default=True, description="false: nothing is sent until it is set true again.")
    partner_id: uuid.UUID | None = Field(
        default=None,
        description=(
            "The partner it is for: it hears what that partner's key reads (private fields of the partner's "
            "own records). A partner's key: its own partner (the default). An admin's key: any, or none "
            "(then it hears what an admin reads)."
        ),
    )

    _types_distinct = field_validator("types")(_distinct)


class WebhookUpdate(BaseModel):
    """JSON Merge Patch: absent fields stay as they are; `null` puts a field back to its default
    (`description` none, `types` every type, `filter` none, `active` true); `url` cannot be cleared."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"active": True}]})

    url: str | None = Field(default=None, min_length=1, max_length=2000, json_schema_extra=URL_SCHEMA)
    types: list[SyncType] | None = Field(default=None, description=TYPES_DESCRIPTION, json_schema_extra=DISTINCT)
    filter: dict[str, Any] | None = Field(default=None, description=FILTER_DESCRIPTION)
    description: LongText | None = Field(default=None, max_length=500)
    active: bool | None = Field(
        default=None,
        description="true on a subscription the service disabled clears `disabled_at` and its reason, "
        "and delivery resumes where it stopped.",
    )

    _types_distinct = field_validator("types")(_distinct)


class WebhookPublic(BaseModel):
    """A subscription as its manager reads it: never its secret."""

    id: uuid.UUID
    url: str
    types: list[SyncType] = Field(description=TYPES_DESCRIPTION)
    filter: dict[str, Any] = Field(description=FILTER_DESCRIPTION)
    description: str | None
    active: bool
    partner_id: uuid.UUID | None = Field(description="The partner it is for; null: an admin's.")
    created_by: str = Field(description="The key_id of the key that made it, or `cli`.")
    created_at: Timestamp
    updated_at: Timestamp
    disabled_at: Timestamp | None = Field(
        description="When the service stopped it (`active` false) after failing deliveries for too long."
    )
    disabled_reason: str | None
    failing_since: Timestamp | None = Field(
        description="Deliveries have failed since then, and are being retried; null while they succeed."
    )
    delivered_through: int = Field(
        description=(
            "The change_seq (as in `/v1/changes`) of the last change delivered or passed over by the filter. "
            "A new subscription starts at the feed's head: it hears of the changes made after it."
        )
    )
    previous_secret_expires_at: Timestamp | None = Field(
        description="After a rotation: until then the previous secret signs too; null when only one signs."
    )


class WebhookCreated(WebhookPublic):
    secret: str = Field(
        description=(
            "The signing secret (Standard Webhooks, `whsec_...`). Shown this once: keep it with the receiver. "
            "A lost secret is replaced by rotating it."
        )
    )


class SecretRotation(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"grace_seconds": 3600}]})

    grace_seconds: int = Field(
        default=DEFAULT_GRACE,
        ge=0,
        le=MAX_GRACE,
        description="How long the previous secret signs too (both signatures are sent), 0 to 604800; default a day.",
    )


class WebhookSecret(BaseModel):
    secret: str = Field(description="The new signing secret. Shown this once.")
    previous_secret_expires_at: Timestamp | None = Field(
        description="Until then deliveries carry a signature by the previous secret too; null: not at all."
    )


class WebhookListParams(PageParams):
    active: bool | None = Field(default=None, description="Only active (true) or inactive (false) ones.")
    type: list[SyncType] = Field(
        default=[], description="Only those that hear of one of these types (those for every type included)."
    )


def delivered_through(webhook: Webhook) -> int:
    """The change_seq it has had everything up to: its position is the last change handled, or
    (N, "", None), just before anything stamped N (`end_of(N - 1)`, app/sync/feed.py)."""
    through = webhook.position_seq if webhook.position_type else webhook.position_seq - 1
    return max(through, 0)


def public(webhook: Webhook) -> WebhookPublic:
    grace = webhook.previous_secret_expires_at
    if grace is not None and as_utc(grace) <= utcnow():
        grace = None
    return WebhookPublic.model_validate(
        {
            **webhook.model_dump(include=set(WebhookPublic.model_fields)),
            "delivered_through": delivered_through(webhook),
            "previous_secret_expires_at": grace,
        }
    )


def _invalid(errors: Sequence[ErrorItem], code: str) -> ValidationFailed:
    return ValidationFailed("The request body is not valid.", code=code, errors=errors)


def checked_url(url: str) -> str:
    """The target as the service will call it; 422 TARGET_REFUSED (which may depend on where its
    name resolves to, not on the request alone) with why. Called before the request's transaction
    touches the database: a slow name lookup must not hold SQLite's write lock or a row lock."""
    try:
        return check_target(url)
    except TargetRefused as refusal:
        item = ErrorItem.model_validate({"in": "body", "pointer": "/url", "message": str(refusal)})
        raise _invalid([item], "TARGET_REFUSED") from None


def _checked_filter(types: Sequence[str], filter: dict[str, Any]) -> dict[str, Any]:
    """422 INVALID_FILTER: whether a filter is valid depends on the types it goes with."""
    stored, errors = check_filter(types, filter)
    if errors:
        raise _invalid(errors, "INVALID_FILTER")
    return stored


def _audited(webhook: Webhook) -> dict[str, Any]:
    """The fields the audit log follows, in JSON form: what a manager set, and what the service
    set when it disabled the subscription."""
    return {
        "url": webhook.url,
        "types": list(webhook.types),
        "filter": dict(webhook.filter),
        "description": webhook.description,
        "active": webhook.active,
        "partner_id": str(webhook.partner_id) if webhook.partner_id else None,
        "disabled_at": format_timestamp(webhook.disabled_at) if webhook.disabled_at else None,
        "disabled_reason": webhook.disabled_reason,
    }


def _take_lease(webhook: Webhook) -> None:
    """A dispatcher delivering the subscription stops within 50 ms and the attempt in flight (its
    writes are fenced by the lease token, and it looks at the row: app/webhooks/dispatch.py); the
    next one to lease it delivers it as it is now: a new URL, filter or types, the new secret alone."""
    webhook.lease_token = webhook.lease_until = None


def create_webhook(session: Session, principal: Principal, data: WebhookCreate) -> tuple[Webhook, str]:
    """Make the subscription at the feed's head; returns it and its secret, never seen again."""
    webhooks_of(principal)  # 403 for the roles that manage none
    partner_id = owner_for(principal, data.partner_id)
    url = checked_url(data.url)
    if partner_id is not None:
        ensure_exist(session, Partner, [partner_id], ["/partner_id"])
    types = [str(name) for name in data.types]
    secret = new_secret()
    webhook = Webhook(
        url=url,
        types=types,
        filter=_checked_filter(types, data.filter),
        description=data.description,
        active=data.active,
        partner_id=partner_id,
        created_by=principal.actor,
        secret=seal_secret(secret),
    )
    # Past every change stamped so far: it hears of the changes made after it, not the history.
    start = end_of(head(session))
    webhook.position_seq, webhook.position_type, webhook.position_id = start.seq, start.type, start.id
    session.add(webhook)
    session.flush()
    changes = {name: [None, value] for name, value in _audited(webhook).items() if value not in (None, [], {})}
    record_change(session, "create", "webhook", webhook.id, {**changes, "secret": [None, SECRET_MADE]})
    return webhook, secret


def update_webhook(session: Session, webhook: Webhook, patch: WebhookUpdate, url: str | None) -> Webhook:
    """Apply a merge patch, its `url` already checked (`checked_url`: the caller does it before it
    loads and locks the subscription); a reactivation clears what the dispatcher set when it gave up."""
    changes = patch.model_dump(exclude_unset=True)
    if "url" in changes and changes["url"] is None:
        item = ErrorItem.model_validate({"in": "body", "pointer": "/url", "message": "is required and cannot be null"})
        raise ValidationFailed("Required fields cannot be cleared.", errors=[item])
    if "active" in changes and changes["active"] is None:
        changes["active"] = True  # null: back to the default, as in every merge patch (app/records.py)
    before = _audited(webhook)
    if url is not None:
        webhook.url = url
    if "types" in changes:
        webhook.types = [str(name) for name in changes["types"] or []]
    if "types" in changes or "filter" in changes:
        # A filter stays valid only for the types it was checked with: check it again with the new ones.
        filter = changes.get("filter", webhook.filter)
        webhook.filter = _checked_filter(webhook.types, filter or {})
    if "description" in changes:
        webhook.description = changes["description"]
    if changes.get("active") is True and (not webhook.active or webhook.disabled_at is not None):
        webhook.disabled_at = None
        webhook.disabled_reason = None
        webhook.failures = 0
        webhook.failing_since = None
        webhook.next_attempt_at = utcnow()
    if "active" in changes:
        webhook.active = changes["active"]
    after = _audited(webhook)
    changed = {name: [before[name], after[name]] for name in after if before[name] != after[name]}
    if changed:
        webhook.updated_at = utcnow()
        _take_lease(webhook)
        session.add(webhook)
        session.flush()
        record_change(session, "update", "webhook", webhook.id, changed)
    return webhook


def delete_webhook(session: Session, webhook: Webhook) -> None:
    """Delete it and its delivery log (ON DELETE CASCADE); its secret goes with it. A dispatcher
    delivering it finds the row gone within 50 ms and the attempt in flight, and sends nothing more."""
    gone = {name: [value, None] for name, value in _audited(webhook).items() if value not in (None, [], {})}
    record_change(session, "delete", "webhook", webhook.id, gone)
    session.delete(webhook)
    session.flush()


def rotate_secret(session: Session, webhook: Webhook, grace_seconds: int) -> tuple[Webhook, str]:
    """A new secret; the current one signs too for `grace_seconds` (0: it stops at once).
    Two secrets at most sign: a rotation within another's grace drops the oldest."""
    secret = new_secret()
    until: datetime | None = utcnow() + timedelta(seconds=grace_seconds) if grace_seconds else None
    webhook.previous_secret = webhook.secret if until is not None else None
    webhook.previous_secret_expires_at = until
    webhook.secret = seal_secret(secret)
    webhook.updated_at = utcnow()
    _take_lease(webhook)
    session.add(webhook)
    session.flush()
    grace = format_timestamp(until) if until else None
    record_change(
        session,
        "rotate",
        "webhook",
        webhook.id,
        {"secret": [SECRET_REPLACED, SECRET_MADE], "previous_secret_expires_at": [None, grace]},
    )
    return webhook, secret


KEYS = (
    SortKey("created_at", col(Webhook.created_at), False, False, datetime),
    SortKey("id", col(Webhook.id), False, False, uuid.UUID),
)


def list_webhooks(
    session: Session, principal: Principal, params: WebhookListParams
) -> tuple[list[Webhook], str | None]:
    """One page of the subscriptions the caller manages, oldest first, and the next page's cursor."""
    statement = select(Webhook).where(webhooks_of(principal))
    if params.active is not None:
        statement = statement.where(col(Webhook.active) == params.active)
    if params.type:
        # `types` is a JSON array of names: each name appears in its text quoted, and "[]" is every type.
        text = cast(col(Webhook.types), Text)
        statement = statement.where(
            or_(
                func.json_array_length(col(Webhook.types)) == 0,
                *(text.contains(f'"{name}"', autoescape=True) for name in params.type),
            )
        )
    return keyset_page(session, statement, KEYS, params)
