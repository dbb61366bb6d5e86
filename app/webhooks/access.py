"""Who manages which subscription: an admin's key every one, a partner's key its partner's own.

Another partner's subscription answers 404, not 403, so that a partner cannot learn which ids
exist. Editors and readers manage none (403): a subscription reads private fields as its owner
does, and what an admin's subscription reads is the admin's business.
"""

import uuid

from sqlalchemy import ColumnElement, true
from sqlmodel import Session, col, select

from app.access.keys import Forbidden, Principal
from app.errors import NotFound
from app.models.access import Role
from app.models.webhooks import Webhook


def webhooks_of(principal: Principal) -> ColumnElement[bool]:
    """The subscriptions this caller manages, as a WHERE clause."""
    if principal.role is Role.ADMIN:
        return true()
    if principal.role is Role.PARTNER and principal.partner_id is not None:
        return col(Webhook.partner_id) == principal.partner_id
    raise Forbidden("Webhooks are managed with an admin's key, or a partner's key for its own.")


def load_webhook(session: Session, principal: Principal, webhook_id: uuid.UUID, *, for_update: bool = False) -> Webhook:
    statement = select(Webhook).where(Webhook.id == webhook_id, webhooks_of(principal))
    if for_update:
        statement = statement.with_for_update()
    webhook = session.exec(statement).first()
    if webhook is None:
        raise NotFound(f"No webhook with id {webhook_id}.")
    return webhook
