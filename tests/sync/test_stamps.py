"""Every synced table is stamped by the database, whatever writes to it."""

from sqlalchemy import Engine, text
from sqlmodel import Session, SQLModel, select

import app.models  # noqa: F401  (every table on the metadata)
from app.db import write_engine
from app.kinds import KINDS
from app.models.activities import Activity
from app.models.writes import SyncState
from app.records import RecordTable
from tests.factories import make_ratification, make_report

# Tables that are not in the feed, and why: child rows travel inside their owner's
# representation (a change to them is a change of the owner), the rest is bookkeeping.
NOT_SYNCED = {
    "activity_participant": "activity.participants",
    "activity_country": "activity.countries",
    "activity_government_report": "activity.government_report_ids",
    "report_article": "government_report.articles",
    "report_monitor": "government_report.monitored_by",
    "sync_state": "the change counter",
    "idempotency_key": "replays of POST responses",
    "api_key": "credentials, never mirrored",
    "audit_entry": "the audit log (GET /v1/audit)",
    "webhook": "push subscriptions: what reads the feed, not in it",
    "webhook_delivery": "delivery attempts (GET /v1/webhooks/{id}/deliveries)",
}


def _record_tables(cls: type = RecordTable) -> set[str]:
    tables: set[str] = set()
    sub: type
    for sub in cls.__subclasses__():
        if getattr(sub, "__table__", None) is not None:
            tables.add(str(getattr(sub, "__tablename__")))  # noqa: B009
        tables |= _record_tables(sub)
    return tables


def test_every_table_is_in_the_feed_or_says_why_not() -> None:
    synced = {kind.table.__tablename__ for kind in KINDS}
    assert set(SQLModel.metadata.tables) == synced | set(NOT_SYNCED)
    assert not synced & set(NOT_SYNCED)
    assert _record_tables() == synced


def _triggers(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        else:
            rows = connection.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"))
        return {row[0] for row in rows}


def test_every_synced_table_has_its_stamping_triggers(sync_engine: Engine) -> None:
    triggers = _triggers(sync_engine)
    for kind in KINDS:
        table = kind.table.__tablename__
        expected = (
            {f"{table}_stamp_insert", f"{table}_stamp_update"}
            if sync_engine.dialect.name == "sqlite"
            else {f"{table}_stamp"}
        )
        assert expected <= triggers, table


def test_the_seed_stamped_every_record(sync_engine: Engine) -> None:
    with Session(sync_engine) as session:
        for kind in KINDS:
            assert not session.exec(select(kind.table).where(kind.table.change_seq == 0)).all()


def test_raw_sql_is_stamped_too_on_every_synced_table(sync_engine: Engine) -> None:
    with Session(write_engine(sync_engine)) as session, session.begin():
        make_report(session, country="KEN")  # the seed has no government report
        make_ratification(session, country="KEN")  # nor ratification
    for kind in KINDS:
        table = kind.table.__tablename__
        with Session(write_engine(sync_engine)) as session, session.begin():
            counter = session.exec(select(SyncState.change_seq)).one()
            record_id = session.exec(select(kind.table.id).limit(1)).one()
            session.execute(text(f"UPDATE {table} SET version = version WHERE id = :id"), {"id": record_id.hex})
        with Session(sync_engine) as session:
            stamped = session.exec(select(kind.table.change_seq).where(kind.table.id == record_id)).one()
            assert stamped is not None
            assert stamped > counter, table


def test_each_transaction_stamps_after_the_last_committed_one(sync_engine: Engine) -> None:
    seqs: list[int | None] = []
    for _ in range(3):
        with Session(write_engine(sync_engine)) as session, session.begin():
            activity = session.exec(select(Activity).limit(1)).one()
            activity.version += 1
            activity_id = activity.id
        with Session(sync_engine) as session:
            seqs.append(session.exec(select(Activity.change_seq).where(Activity.id == activity_id)).one())
    assert None not in seqs
    assert seqs == sorted(s or 0 for s in seqs)
    assert len(set(seqs)) == 3
