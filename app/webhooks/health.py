"""How far behind each subscription is, and what its deliveries came to: read from the database at
each scrape of /metrics, so that the numbers hold whichever process (a `workplan webhooks run`, a
server's thread) delivered."""

from collections.abc import Iterator
from datetime import datetime, timedelta

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from app.kinds import BY_NAME
from app.models.webhooks import DeliveryOutcome, Webhook, WebhookDelivery
from app.records import as_utc, utcnow
from app.sync.feed import after
from app.webhooks.dispatch import position_of

BACKLOG_CAP = 10_000  # counted up to this many changes per type: beyond it, the count says "at least"
RECENT = timedelta(minutes=1)


def backlog(session: Session, webhook: Webhook) -> tuple[int, datetime | None]:
    """The changes after the subscription's position (of its types; each type's counted up to
    BACKLOG_CAP), and when the oldest of them was made (the earliest `updated_at`); None when none.
    One query per type."""
    position = position_of(webhook)
    waiting, oldest = 0, None
    for name in sorted(webhook.types or BY_NAME):
        model = BY_NAME[name].table
        # The first BACKLOG_CAP changes in feed order (the (change_seq, id) index), counted and dated at once.
        pending = (
            select(model.updated_at)
            .where(after(model, name, position))
            .order_by(col(model.change_seq), col(model.id))
            .limit(BACKLOG_CAP)
            .subquery()
        )
        count, first = session.exec(select(func.count(), func.min(pending.c.updated_at))).one()
        waiting += count
        if first is not None and (oldest is None or as_utc(first) < oldest):
            oldest = as_utc(first)
    return waiting, oldest


class WebhookCollector(Collector):
    def __init__(self, session: Session) -> None:
        self.session = session

    def collect(self) -> Iterator[GaugeMetricFamily]:
        outcomes = GaugeMetricFamily(
            "workplan_webhook_deliveries_last_minute",
            "Webhook delivery attempts in the last minute, by outcome (every dispatcher's).",
            labels=["outcome"],
        )
        waiting = GaugeMetricFamily(
            "workplan_webhook_backlog",
            "Changes waiting for delivery to an active subscription (up to 10,000 per type).",
            labels=["webhook"],
        )
        lag = GaugeMetricFamily(
            "workplan_webhook_lag_seconds",
            "Age of the oldest change not yet delivered to an active subscription; 0 when caught up.",
            labels=["webhook"],
        )
        failing = GaugeMetricFamily(
            "workplan_webhook_failures",
            "Consecutive failed attempts of an active subscription (0: healthy).",
            labels=["webhook"],
        )
        try:
            now = utcnow()
            counted = self.session.exec(
                select(WebhookDelivery.outcome, func.count())
                .where(col(WebhookDelivery.at) >= now - RECENT)
                .group_by(col(WebhookDelivery.outcome))
            ).all()
            webhooks = self.session.exec(select(Webhook).where(col(Webhook.active))).all()
            for outcome in DeliveryOutcome:
                outcomes.add_metric([outcome], dict(counted).get(outcome, 0))
            for webhook in webhooks:
                label = [str(webhook.id)]
                count, oldest = backlog(self.session, webhook)
                waiting.add_metric(label, count)
                lag.add_metric(label, max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0)
                failing.add_metric(label, webhook.failures)
        except SQLAlchemyError:
            return
        yield outcomes
        yield waiting
        yield lag
        yield failing


__all__ = ["WebhookCollector", "backlog"]
