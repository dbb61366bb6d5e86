"""An import chunk's writes: new records and their child rows inserted with Core, in bulk; records
that change loaded as ORM objects and updated as the API would."""

from enum import Enum
from typing import Any

from sqlalchemy import Table, insert
from sqlmodel import Session, col, select

from app.access.audit import log_bulk_creates
from app.models.activities import (
    Activity,
    ActivityCountry,
    ActivityCreate,
    ActivityGovernmentReport,
    ActivityParticipant,
)
from app.models.reports import GovernmentReport, GovernmentReportCreate, ReportArticle, ReportMonitor
from app.records import RecordTable, apply_changes, utcnow
from app.transfer.rows import Row
from app.transfer.specs import SPECS, Spec, table_of


def write_rows(session: Session, updates: dict[str, list[Row]], creates: dict[str, list[Row]]) -> None:
    """Per resource in dependency order: its updates, then its new rows and their children."""
    for spec in SPECS:
        changed = updates[spec.resource]
        if changed:
            # Only records that change are loaded as ORM objects, with their children.
            statement = select(spec.table).where(col(spec.table.id).in_([row.id for row in changed]))
            records = {record.id: record for record in session.exec(statement)}
            for row in changed:
                _update(records[row.id], row)
            session.flush()
        _insert(session, spec, creates[spec.resource])


def _update(record: RecordTable, row: Row) -> None:
    old_version = record.version
    links_changed = _stored_links(row.spec, record) != row.links()
    if links_changed:
        _set_links(record, row)
    values = row.scalars() | ({"deleted_at": None} if record.deleted_at is not None else {})
    apply_changes(record, values, children_changed=links_changed)
    version = row.server.version
    if version is not None and version > old_version:
        record.version = version
        if row.server.updated_at is not None:
            record.updated_at = row.server.updated_at


def _insert(session: Session, spec: Spec, rows: list[Row]) -> None:
    if not rows:
        return
    now = utcnow()
    records = []
    children: dict[str, tuple[Table, list[dict[str, Any]]]] = {}
    for row in rows:
        created_at = row.server.created_at or now
        values = {name: _plain(value) for name, value in row.scalars().items()}
        values |= {
            "id": row.id,
            "version": row.server.version or 1,
            "created_at": created_at,
            "updated_at": row.server.updated_at or created_at,
            "deleted_at": None,
        }
        records.append(values)
        for table, child_rows in _child_rows(row):
            children.setdefault(table.name, (table, []))[1].extend(child_rows)
    # Core inserts: the ORM's before_insert hook would overwrite updated_at with created_at.
    session.execute(insert(table_of(spec.table)), records)
    log_bulk_creates(session, table_of(spec.table).name, records)
    for table, child_rows in children.values():
        if child_rows:
            session.execute(insert(table), child_rows)


def _stored_links(spec: Spec, record: RecordTable) -> dict[str, list[Any]]:
    return {link.name: [link.value(child) for child in getattr(record, link.relationship)] for link in spec.links}


def _set_links(record: RecordTable, row: Row) -> None:
    """Replace the owned lists, keeping the child rows whose key stays (no delete-then-insert clash)."""
    data = row.data
    if isinstance(record, Activity):
        countries = {c.country: c for c in record.countries}
        record.countries = [countries.get(code) or ActivityCountry(country=code) for code in data.countries]
        participants = {(p.partner_id, p.role): p for p in record.participants}
        kept = []
        for i, p in enumerate(data.participants):
            key = (p.partner_id, p.role.value)
            child = participants.get(key) or ActivityParticipant(partner_id=p.partner_id, role=p.role.value)
            child.position = i
            kept.append(child)
        record.participants = kept
        links = {g.government_report_id: g for g in record.government_reports}
        record.government_reports = [
            links.get(r) or ActivityGovernmentReport(government_report_id=r) for r in data.government_report_ids
        ]
    elif isinstance(record, GovernmentReport):
        articles = {(a.instrument, a.article): a for a in record.articles}
        kept_articles = []
        for i, a in enumerate(data.articles):
            article = articles.get((a.instrument.value, a.article)) or ReportArticle(
                instrument=a.instrument.value, article=a.article, assessment=a.assessment.value
            )
            article.assessment, article.note, article.position = a.assessment.value, a.note, i
            kept_articles.append(article)
        record.articles = kept_articles
        monitors = {m.partner_id: m for m in record.monitors}
        record.monitors = [monitors.get(p) or ReportMonitor(partner_id=p) for p in data.monitored_by]


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _child_rows(row: Row) -> list[tuple[Table, list[dict[str, Any]]]]:
    data, record_id = row.data, row.id
    if isinstance(data, ActivityCreate):
        return [
            (table_of(ActivityCountry), [{"activity_id": record_id, "country": c} for c in data.countries]),
            (
                table_of(ActivityParticipant),
                [
                    {"activity_id": record_id, "partner_id": p.partner_id, "role": p.role.value, "position": i}
                    for i, p in enumerate(data.participants)
                ],
            ),
            (
                table_of(ActivityGovernmentReport),
                [{"activity_id": record_id, "government_report_id": r} for r in data.government_report_ids],
            ),
        ]
    if isinstance(data, GovernmentReportCreate):
        articles = [
            {
                "government_report_id": record_id,
                "instrument": a.instrument.value,
                "article": a.article,
                "assessment": a.assessment.value,
                "note": a.note,
                "position": i,
            }
            for i, a in enumerate(data.articles)
        ]
        monitors = [{"government_report_id": record_id, "partner_id": p} for p in data.monitored_by]
        return [(table_of(ReportArticle), articles), (table_of(ReportMonitor), monitors)]
    return []
