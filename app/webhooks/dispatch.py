"""The dispatcher: delivers each subscription's changes, in feed order, at least once.

A worker leases one due subscription (active, `next_attempt_at` passed, no live lease) with a fresh
`lease_token` in a short transaction (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so that dispatchers in
several processes never take the same one; SQLite serialises writers itself). It then reads the
changes after the subscription's position in one snapshot, through the same code as
`GET /v1/changes` (app/sync/feed.py `changes_after`), and delivers them one by one, in order, over
a kept-alive client. Records the filter lets through are delivered; the others, and nothing else,
are passed over (a tombstone is always delivered: app/webhooks/filters.py).

The position moves past a change only after the receiver answered 2xx, and only `WHERE lease_token`
is still the worker's own: a worker whose lease lapsed and was taken over moves nothing, and its
attempts are merely recorded. Attempts are recorded, and the position moved, in one transaction
per batch (at most `BATCH` items, and at least every third of a lease, which also renews it): a
dispatcher killed mid-batch leaves the position where it was, its lease lapses after
`webhook_lease_seconds`, and another redelivers from there under the same `webhook-id`s.

A failed attempt (not 2xx, a timeout, a refused address) stops the subscription's queue: it is
retried after an exponential backoff with jitter (from `retry_base` seconds, at most an hour),
until it has failed for `webhook_retry_hours` (then it is disabled, with the last error); a 410
disables it at once. A success resets the count.

A change to the subscription while it is being delivered takes effect within RECHECK (50 ms) and
the attempt in flight: a PATCH, a DELETE, a rotation or a replay clears its lease
(app/webhooks/service.py), and the worker looks at the row (one read by primary key) before its
turn's first attempt and then whenever RECHECK has passed since it last looked, and stops its turn
when the lease is no longer its own or the row changed. Not before every attempt: delivering one
subscription's backlog on SQLite, that read made each delivery take 3.4 ms instead of 2.4
(bench/README.md); and before an attempt that follows a slow receiver's answer the worker looks
anyway.

A subscription whose partner was deleted is delivered nothing more: the worker that would lease it
disables it instead, with the reason, and a worker delivering it stops before its next attempt.

Idle polling costs one small query: a worker remembers, per subscription, the feed head, the
position and the row's `updated_at` at which it last found nothing to deliver, and reads the
subscription's changes again only once one of them moved (a PATCH that widens `types` moves the
last).
"""

import logging
import random
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, or_, select

from app.config import get_settings
from app.db import write_engine
from app.kinds import BY_NAME
from app.models.partners import Partner
from app.models.webhooks import DeliveryOutcome, DeliveryTrigger, Webhook, WebhookDelivery
from app.records import as_utc, format_timestamp, utcnow
from app.sync.feed import Position, changes_after, head, one_snapshot
from app.webhooks import targets
from app.webhooks.delivery import reader_for, send
from app.webhooks.filters import matching

log = logging.getLogger("workplan.webhooks")

BATCH = 100  # changes read at once for one subscription
TURN = 5.0  # seconds a worker keeps one subscription before giving the others a turn
RECHECK = 0.05  # seconds between two looks at a subscription's row while delivering it
MAX_BACKOFF = 3600.0


def backoff(failures: int, base: float) -> float:
    """Seconds before the next try after `failures` consecutive failures: exponential, at most an
    hour, jittered between half and all of it (so that a retry never follows at once, and a
    receiver that came back is not hit by every subscription in the same second)."""
    ceiling = min(MAX_BACKOFF, base * 2 ** min(failures - 1, 30))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret


def position_of(webhook: Webhook) -> Position:
    # Floor 0: a subscription is owed every tombstone after its position.
    return Position(seq=webhook.position_seq, type=webhook.position_type, id=webhook.position_id, floor=0)


def fenced(webhook_id: uuid.UUID, token: uuid.UUID) -> Any:
    """An UPDATE of a subscription that takes effect only while `token` holds its lease."""
    return update(Webhook).where(col(Webhook.id) == webhook_id, col(Webhook.lease_token) == token)


@dataclass
class Batch:
    """What a worker did since its last write: attempts to record, and where the position got to."""

    deliveries: list[WebhookDelivery] = field(default_factory=list)
    position: Position | None = None
    failed: WebhookDelivery | None = None


class Dispatcher:
    """Delivers every subscription's changes with `concurrency` worker threads (each works one
    subscription at a time). `run` until `stop` is set; `run_once` until nothing is due."""

    def __init__(
        self,
        engine: Engine,
        *,
        concurrency: int = 4,
        poll: float = 0.1,
        retry_base: float = 5.0,
        batch: int = BATCH,
    ) -> None:
        self.engine = write_engine(engine)
        self.reads = engine
        self.concurrency = concurrency
        self.poll = poll
        self.retry_base = retry_base
        self.batch = batch
        self.stop = threading.Event()
        self._idle: dict[uuid.UUID, tuple[int, tuple[int, str, uuid.UUID | None], datetime]] = {}
        self._idle_lock = threading.Lock()
        self._postgres = engine.dialect.name == "postgresql"

    # The loop.

    def run(self) -> None:
        """Work until `stop` is set: each worker finishes the attempt in flight, records it, and
        releases its lease."""
        workers = [
            threading.Thread(target=self._work, name=f"webhooks-{n}", daemon=True) for n in range(self.concurrency)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    def run_once(self) -> int:
        """Deliver what is due now, in this thread, until nothing is; the subscriptions worked."""
        worked = 0
        with targets.new_client() as client:
            while not self.stop.is_set() and self.step(client):
                worked += 1
        return worked

    def _work(self) -> None:
        with targets.new_client() as client:
            while not self.stop.is_set():
                try:
                    busy = self.step(client)
                except Exception:
                    log.exception("webhook dispatch failed; trying again")
                    busy = False
                if not busy:
                    self.stop.wait(self.poll)

    def step(self, client: httpx.Client) -> bool:
        """Lease one subscription with work to do and deliver its changes for one turn; False when
        none has any."""
        leased = self.lease()
        if leased is None:
            return False
        webhook, token = leased
        self.deliver(client, webhook, token)
        return True

    # Leasing.

    def lease(self) -> tuple[Webhook, uuid.UUID] | None:
        now = utcnow()
        due = (
            col(Webhook.active),
            col(Webhook.next_attempt_at) <= now,
            or_(col(Webhook.lease_until).is_(None), col(Webhook.lease_until) < now),
        )
        # First a look without a write transaction (on SQLite a write would queue with the
        # service's writers): is any subscription due, and not known to be caught up?
        with Session(self.reads) as session, session.begin():
            feed_head = head(session)
            candidates = session.execute(
                sa_select(
                    col(Webhook.id),
                    col(Webhook.updated_at),
                    col(Webhook.position_seq),
                    col(Webhook.position_type),
                    col(Webhook.position_id),
                )
                .where(*due)
                .order_by(col(Webhook.next_attempt_at))
            ).all()
        with self._idle_lock:
            ids = [
                webhook_id
                for webhook_id, updated_at, *position in candidates
                if self._idle.get(webhook_id) != (feed_head, tuple(position), as_utc(updated_at))
            ]
        if not ids:
            return None
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            statement = (
                select(Webhook).where(col(Webhook.id).in_(ids[:50]), *due).order_by(col(Webhook.next_attempt_at))
            )
            if self._postgres:
                statement = statement.with_for_update(skip_locked=True)
            while True:
                webhook = session.exec(statement.limit(1)).first()
                if webhook is None:
                    return None
                if not self._orphaned(session, webhook, now):
                    break
            token = uuid.uuid4()
            webhook.lease_token = token
            webhook.lease_until = now + timedelta(seconds=get_settings().webhook_lease_seconds)
            session.add(webhook)
        return webhook, token

    def _orphaned(self, session: Session, webhook: Webhook, now: datetime) -> bool:
        """Disable the subscription if its partner was deleted (it would push that partner's private
        fields to nobody's account); True if it was."""
        if webhook.partner_id is None:
            return False
        partner = session.get(Partner, webhook.partner_id)
        if partner is not None and partner.deleted_at is None:
            return False
        webhook.active = False
        webhook.disabled_at = webhook.updated_at = now
        webhook.disabled_reason = f"Its partner was deleted; disabled at {format_timestamp(now)}."
        webhook.lease_token = webhook.lease_until = None
        session.add(webhook)
        session.flush()
        log.warning("disabled webhook %s: its partner %s was deleted", webhook.id, webhook.partner_id)
        return True

    def still_mine(self, webhook: Webhook, token: uuid.UUID) -> bool:
        """Whether the worker may make another attempt: it still holds the lease, nobody changed the
        subscription since it was leased, and its partner was not deleted. One read by primary key."""
        # On a bare connection: setting up a session cost more than the query itself.
        with self.reads.connect() as connection:
            row = connection.execute(
                sa_select(col(Webhook.lease_token), col(Webhook.updated_at), col(Partner.deleted_at))
                .outerjoin(Partner, col(Partner.id) == col(Webhook.partner_id))
                .where(col(Webhook.id) == webhook.id)
            ).first()
        if row is None:
            return False
        lease_token, updated_at, partner_deleted = row
        return lease_token == token and as_utc(updated_at) == as_utc(webhook.updated_at) and partner_deleted is None

    # Delivering.

    def read(self, webhook: Webhook, position: Position) -> tuple[list[dict[str, Any]], set[int], bool, int]:
        """The next batch of changes after `position` in one snapshot; which of them the filter
        passes over (by index); whether more wait; the feed head."""
        types = sorted(webhook.types or BY_NAME)
        with Session(self.reads) as session, session.begin():
            one_snapshot(session)
            feed_head = head(session)
            items, _, has_more = changes_after(session, types, position, self.batch, reader_for(webhook))
            skipped: set[int] = set()
            if webhook.filter:
                for name in {item["type"] for item in items}:
                    live = {uuid.UUID(item["id"]) for item in items if item["type"] == name and not item["deleted"]}
                    passed = {str(record_id) for record_id in matching(session, name, webhook.filter, live)}
                    skipped.update(
                        n
                        for n, item in enumerate(items)
                        if item["type"] == name and not item["deleted"] and item["id"] not in passed
                    )
        return items, skipped, has_more, feed_head

    def deliver(self, client: httpx.Client, webhook: Webhook, token: uuid.UUID) -> None:
        """Deliver the leased subscription's changes in order until it is caught up, fails, loses
        its lease, has had its turn, or the dispatcher stops; then release it."""
        settings = get_settings()
        # A third of the lease, and short enough that an attempt started just before the renewal
        # would be due ends inside the lease (when the lease is longer than the timeout).
        renew_every = max(
            0.5, min(settings.webhook_lease_seconds / 3, settings.webhook_lease_seconds - settings.webhook_timeout - 1)
        )
        started = utcnow()
        looked = -RECHECK  # the first attempt looks: the lease may be older than it seems (a stalled worker)
        position = position_of(webhook)
        failures = webhook.failures
        while True:
            items, skipped, has_more, feed_head = self.read(webhook, position)
            batch = Batch()
            written = utcnow()
            for n, item in enumerate(items):
                item_position = Position(item["change_seq"], item["type"], uuid.UUID(item["id"]), 0)
                if n in skipped:
                    batch.position = position = item_position
                    continue
                if self.stop.is_set():
                    break
                if time.monotonic() - looked >= RECHECK:
                    if not self.still_mine(webhook, token):
                        # Changed, deleted, or taken over: what was done is recorded (fenced), nothing more is sent.
                        self.write(webhook, token, batch, release=True)
                        return
                    looked = time.monotonic()
                if (utcnow() - written).total_seconds() > renew_every:
                    # Renewed before the attempt: the lease outlasts an attempt that takes its whole timeout.
                    if not self.write(webhook, token, batch, release=False):
                        return
                    batch, written = Batch(), utcnow()
                trigger = DeliveryTrigger.RETRY if failures else DeliveryTrigger.DISPATCH
                delivery = send(client, webhook, item, trigger=trigger, attempt=failures + 1)
                batch.deliveries.append(delivery)
                if delivery.outcome != DeliveryOutcome.DELIVERED:
                    batch.failed = delivery
                    break
                failures = 0
                batch.position = position = item_position
            done = (
                batch.failed is not None
                or self.stop.is_set()
                or not has_more
                or (utcnow() - started).total_seconds() > TURN
            )
            if not self.write(webhook, token, batch, release=done):
                return
            if done:
                if batch.failed is None and not has_more and not self.stop.is_set():
                    with self._idle_lock:
                        self._idle[webhook.id] = (
                            feed_head,
                            (position.seq, position.type, position.id),
                            as_utc(webhook.updated_at),
                        )
                return

    def write(self, webhook: Webhook, token: uuid.UUID, batch: Batch, *, release: bool) -> bool:
        """Record the batch's attempts and move the position, if the lease is still ours; renew the
        lease, or release it. False when the lease was lost (nothing moved)."""
        settings = get_settings()
        now = utcnow()
        values: dict[str, Any] = {}
        if batch.position is not None:
            values.update(
                position_seq=batch.position.seq, position_type=batch.position.type, position_id=batch.position.id
            )
        failed = batch.failed
        if failed is None:
            if batch.deliveries:
                values.update(failures=0, failing_since=None)
            values.update(next_attempt_at=now)
        else:
            failures = webhook.failures + 1 if failed.trigger == DeliveryTrigger.RETRY else 1
            since = (
                as_utc(webhook.failing_since)
                if webhook.failing_since and failed.trigger == DeliveryTrigger.RETRY
                else now
            )
            values.update(failures=failures, failing_since=since)
            values.update(next_attempt_at=now + timedelta(seconds=backoff(failures, self.retry_base)))
            reason = None
            if failed.outcome == DeliveryOutcome.GONE:
                reason = f"The receiver answered 410 Gone at {format_timestamp(now)}."
            elif now - since >= timedelta(hours=settings.webhook_retry_hours):
                reason = (
                    f"Deliveries failed for {settings.webhook_retry_hours:g} hours, {failures} attempts in a row; "
                    f"the last at {format_timestamp(now)}: {failed.error or failed.outcome}"
                )[:500]
            if reason is not None:
                values.update(active=False, disabled_at=now, disabled_reason=reason, updated_at=now)
        if release:
            values.update(lease_token=None, lease_until=None)
        else:
            values.update(lease_until=now + timedelta(seconds=settings.webhook_lease_seconds))
        with Session(self.engine) as session, session.begin():
            held = bool(session.exec(fenced(webhook.id, token).values(**values)).rowcount == 1)
            if not held:
                log.warning("lost the lease of webhook %s: another dispatcher delivers it now", webhook.id)
            if batch.deliveries and (held or session.get(Webhook, webhook.id) is not None):
                session.add_all(batch.deliveries)
        if held and failed is not None:
            webhook.failures = values["failures"]
            webhook.failing_since = values["failing_since"]
        return held


def dispatcher_thread(engine: Engine, **options: Any) -> tuple[Dispatcher, threading.Thread]:
    """A dispatcher running in a thread of this process (`workplan serve --webhooks`), started."""
    dispatcher = Dispatcher(engine, **options)
    thread = threading.Thread(target=dispatcher.run, name="webhooks", daemon=True)
    thread.start()
    return dispatcher, thread


__all__: Sequence[str] = ["Dispatcher", "backoff", "dispatcher_thread"]
