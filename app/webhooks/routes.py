"""`/v1/webhooks`: push subscriptions, for an admin's key or a partner's key (its own).

Who may call them: app/api.py (a partner's key or above); which subscriptions a key manages, and the
403 for editors' and readers' keys: app/webhooks/access.py.
"""

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request
from starlette.responses import Response

from app.access.keys import caller
from app.db import ReadSessionDep, SessionDep
from app.errors import NOT_MODIFIED, BadRequest, problems
from app.http import if_match, json_response, page_response, require_json
from app.lists import Page
from app.models.webhooks import Webhook
from app.webhooks import service
from app.webhooks.access import load_webhook, webhooks_of
from app.webhooks.service import (
    SecretRotation,
    WebhookCreate,
    WebhookCreated,
    WebhookListParams,
    WebhookPublic,
    WebhookSecret,
    WebhookUpdate,
)

router = APIRouter(prefix="/webhooks", tags=["Webhooks"])
DEFAULT_ROTATION = SecretRotation()

NO_REPLAY = (
    "\n\nNo `Idempotency-Key` (400 if sent): replaying the answer would mean keeping the secret in plain "
    "text. After a failed attempt, list the subscriptions to see whether it was made."
)


async def refuse_idempotency_key(request: Request) -> None:
    """Refused rather than ignored: a client that sends one counts on a retry not making a second."""
    if "idempotency-key" in request.headers:
        raise BadRequest(
            "This operation takes no Idempotency-Key: its answer holds a secret, which is never stored to "
            "replay it. List the subscriptions to see whether an earlier attempt was made.",
            code="IDEMPOTENCY_KEY_NOT_SUPPORTED",
        )


async def json_if_any(request: Request) -> None:
    """A body is optional here; one that is sent must be JSON."""
    if request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers:
        await require_json(request)


def _load(request: Request, session: SessionDep, webhook_id: uuid.UUID) -> Webhook:
    return load_webhook(session, caller(request), webhook_id, for_update=True)


WebhookDep = Annotated[Webhook, Depends(_load)]


def _answer(request: Request, webhook: Webhook, status_code: int = 200) -> Response:
    return json_response(request, service.public(webhook), status_code=status_code)


def _check_if_match(request: Request, webhook: Webhook) -> None:
    if_match(request, lambda: service.public(webhook).model_dump_json().encode(), "subscription")


def _secret_answer(request: Request, model: WebhookCreated | WebhookSecret, **headers: str) -> Response:
    response = json_response(
        request, model, status_code=201 if isinstance(model, WebhookCreated) else 200, headers=headers
    )
    # The answer holds a secret: no cache along the way may keep it.
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("", response_model=Page[WebhookPublic], responses={**NOT_MODIFIED, **problems(400, 403, 422)})
def list_webhooks(request: Request, session: ReadSessionDep, params: Annotated[WebhookListParams, Query()]) -> Response:
    """List the subscriptions the caller manages (an admin: every one), oldest first; never their secrets."""
    rows, next_cursor = service.list_webhooks(session, caller(request), params)
    page = Page[WebhookPublic](items=[service.public(row) for row in rows], next_cursor=next_cursor)
    return page_response(request, page.model_dump(mode="json"), next_cursor)


@router.post(
    "",
    status_code=201,
    response_model=WebhookCreated,
    responses=problems(400, 403, 415, 422),
    dependencies=[Depends(require_json), Depends(refuse_idempotency_key)],
    description=(
        "Subscribe a URL to the changes of the record types named (every type by default) that match "
        "the filter: the service POSTs each change there, signed with the subscription's secret. The "
        "answer shows the secret once. The subscription starts at the head of `/v1/changes`: it hears "
        "of the changes made after it, not the history (a receiver starts from `/v1/changes` itself). "
        "A partner's key subscribes for its own partner; an admin's key for any partner, or none. "
        "Editors' and readers' keys manage no subscriptions (403)." + NO_REPLAY
    ),
)
def create_webhook(request: Request, session: SessionDep, body: WebhookCreate) -> Response:
    webhook, secret = service.create_webhook(session, caller(request), body)
    created = WebhookCreated.model_validate({**service.public(webhook).model_dump(), "secret": secret})
    location = request.url_for("get_webhook", webhook_id=webhook.id).path
    return _secret_answer(request, created, Location=location)


@router.get("/{webhook_id}", response_model=WebhookPublic, responses={**NOT_MODIFIED, **problems(403, 404, 422)})
def get_webhook(request: Request, session: ReadSessionDep, webhook_id: uuid.UUID) -> Response:
    """Fetch one subscription the caller manages (another partner's: 404); never its secret."""
    return _answer(request, load_webhook(session, caller(request), webhook_id))


@router.patch(
    "/{webhook_id}",
    response_model=WebhookPublic,
    responses=problems(400, 403, 404, 412, 415, 422),
    dependencies=[Depends(require_json)],
)
def update_webhook(request: Request, session: SessionDep, webhook_id: uuid.UUID, body: WebhookUpdate) -> Response:
    """Change a subscription with a JSON Merge Patch; `{"active": true}` resumes one the service disabled."""
    principal = caller(request)
    webhooks_of(principal)
    # Before the subscription is locked: checking a target may wait on a name lookup.
    url = service.checked_url(body.url) if body.url is not None else None
    webhook = load_webhook(session, principal, webhook_id, for_update=True)
    _check_if_match(request, webhook)
    return _answer(request, service.update_webhook(session, webhook, body, url))


@router.delete("/{webhook_id}", status_code=204, responses=problems(403, 404, 412, 422))
def delete_webhook(request: Request, session: SessionDep, webhook: WebhookDep) -> Response:
    """Delete a subscription and its delivery log: nothing more is sent to it."""
    _check_if_match(request, webhook)
    service.delete_webhook(session, webhook)
    return Response(status_code=204)


@router.post(
    "/{webhook_id}/rotate-secret",
    response_model=WebhookSecret,
    responses=problems(400, 403, 404, 412, 415, 422),
    dependencies=[Depends(json_if_any), Depends(refuse_idempotency_key)],
    description=(
        "Replace the signing secret; the answer shows the new one once. For `grace_seconds` (a day unless "
        "the body says otherwise, 0 to 7 days) the previous secret signs too: each delivery carries both "
        "signatures, so the receiver can switch to the new secret at its own pace. 0 retires the previous "
        "one at once (a leaked secret). Only two secrets sign at a time: rotating again within the grace "
        "retires the oldest." + NO_REPLAY
    ),
)
def rotate_webhook_secret(
    request: Request,
    session: SessionDep,
    webhook: WebhookDep,
    body: Annotated[SecretRotation, Body()] = DEFAULT_ROTATION,
) -> Response:
    _check_if_match(request, webhook)
    webhook, secret = service.rotate_secret(session, webhook, body.grace_seconds)
    rotated = WebhookSecret(secret=secret, previous_secret_expires_at=webhook.previous_secret_expires_at)
    return _secret_answer(request, rotated)
