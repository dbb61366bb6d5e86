"""The audit log is written by the sessions of whatever registered it: the service and the
command line each do, and nothing else does it for them (no import with a side effect)."""

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, select

from app.access import audit
from app.main import create_app
from app.models.access import AuditEntry


@pytest.fixture
def unregistered() -> Iterator[None]:
    """Sessions without the audit hooks, as in a process that has not registered them yet."""
    for name, hook in audit.HOOKS:
        event.remove(OrmSession, name, hook)
    try:
        yield
    finally:
        audit.register()


def test_sessions_write_no_audit_log_until_it_is_registered(unregistered: None, session: Session) -> None:
    assert not any(event.contains(OrmSession, name, hook) for name, hook in audit.HOOKS)
    audit.register()
    audit.register()  # twice is once
    assert all(event.contains(OrmSession, name, hook) for name, hook in audit.HOOKS)


def test_create_app_registers_the_audit_log_for_api_writes(
    unregistered: None, client: TestClient, session: Session
) -> None:
    create_app()
    response = client.post("/v1/partners", json={"name": "Audited", "kind": "ngo"})
    assert response.status_code == 201, response.text
    entries = session.exec(select(AuditEntry).where(AuditEntry.record_id == uuid.UUID(response.json()["id"]))).all()
    assert [(e.action, e.actor) for e in entries] == [("create", "test-editor")]
