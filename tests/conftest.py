"""Real databases: SQLite always, PostgreSQL too when WORKPLAN_TEST_POSTGRES_URL is set.

The schema is built by the migrations; each test runs inside an outer transaction that is
rolled back, and the app's sessions join it through savepoints: the test client's database (the
lifespan's state, `request.state.database`) is bound to the test's connection.
"""

import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from fastapi import Request
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, make_url, text
from sqlmodel import Session

os.environ.setdefault("WORKPLAN_SECRET_KEY", "test-signing-key")
# The suite (its live servers included) makes thousands of requests a minute from one address and
# one key; tests/test_limits.py sets the limits it tests.
os.environ.setdefault("WORKPLAN_RATE_LIMIT_PER_MINUTE", "0")
os.environ.setdefault("WORKPLAN_ANONYMOUS_RATE_LIMIT_PER_MINUTE", "0")

from app.access import audit
from app.access.keys import Principal, current_principal
from app.db import Database, create_db_engine, get_read_session, get_session, open_database
from app.main import app
from app.migrations import alembic_config
from app.models.access import Role

POSTGRES_URL = os.environ.get("WORKPLAN_TEST_POSTGRES_URL")
DATABASES = ["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"]


def recreate_postgres_database(url: str) -> None:
    """Drop and create the database named in `url`, through the server's maintenance database."""
    target = make_url(url)
    admin = create_db_engine(target.set(database="postgres").render_as_string(hide_password=False), pool_size=1)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def fresh_database_url(kind: str, directory: Path, suffix: str = "") -> str:
    if kind == "sqlite":
        return f"sqlite:///{directory / f'workplan{suffix}.db'}"
    assert POSTGRES_URL is not None
    base = make_url(POSTGRES_URL)
    url = base.set(database=f"{base.database}{suffix}").render_as_string(hide_password=False)
    recreate_postgres_database(url)
    return url


def migrate(engine: Engine, revision: str = "head") -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        config.attributes["configure_logger"] = False
        command.upgrade(config, revision)


def editor(request: Request) -> Principal:
    principal = Principal(key_id="test-editor", role=Role.EDITOR)
    request.state.principal = principal
    return principal


@pytest.fixture(scope="session", params=DATABASES)
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    url = fresh_database_url(request.param, tmp_path_factory.mktemp(request.param))
    engine = create_db_engine(url, pool_size=5)
    migrate(engine)
    audit.register()  # the tests' own sessions write the audit log, as the service's do
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        transaction = connection.begin()
        yield connection
        transaction.rollback()


@pytest.fixture
def session(connection: Connection) -> Iterator[Session]:
    with Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False) as session:
        yield session


def use_sessions(
    sessions: Callable[..., Iterator[Session]], reads: Callable[..., Iterator[Session]] | None = None
) -> None:
    """Serve every request with sessions from `sessions` (the app's two session dependencies,
    overridden together), or its reads' with sessions from `reads`: as the service's own read
    sessions, those hold no transaction of their own, so a read may close one and read on (an
    export does, chunk by chunk)."""
    app.dependency_overrides[get_session] = sessions
    app.dependency_overrides[get_read_session] = reads or sessions


def client_on(engine: Engine, **options: Any) -> Generator[TestClient]:
    """A test client, acting as an editor, whose requests use `engine` as the service uses its own:
    reads on it (bounded reads of PostgreSQL on its asyncio twin), writes on its write engine, each
    request committing for real. `options` go to `open_database` (the read time limit...)."""
    app.dependency_overrides[current_principal] = editor
    try:
        with (
            TestClient(app, raise_server_exceptions=False) as client,
            # On the client's event loop, as the service's lifespan opens its own engine's.
            client.portal.wrap_async_context_manager(open_database(engine, **options)) as database,  # type: ignore[union-attr]
        ):
            client.app_state["database"] = database
            yield client
    finally:
        app.dependency_overrides.clear()


@pytest.fixture
def root_path() -> str:
    """The prefix a proxy serves the app under (`serve --root-path`): none, unless a directory's
    conftest.py parametrizes it (tests/access/ runs under /wp too)."""
    return ""


@pytest.fixture
def client(connection: Connection, root_path: str) -> Iterator[TestClient]:
    # Most tests are about the records, not access: they act as an editor. tests/access/ uses real keys.
    app.dependency_overrides[current_principal] = editor
    # As uvicorn's --root-path does, the prefix is in each request's path and its root_path; the tests
    # write "/v1/...", which the base URL prefixes.
    with TestClient(
        app, raise_server_exceptions=False, root_path=root_path, base_url=f"http://testserver{root_path}"
    ) as test_client:
        # Every session of the app (reads, writes, the look-up of keys) joins the test's transaction.
        test_client.app_state["database"] = Database(connection, connection)
        yield test_client
    app.dependency_overrides.clear()


@pytest.fixture
def anonymous_client(client: TestClient) -> TestClient:
    """The test client without the editor the other tests act as: keys are checked for real."""
    app.dependency_overrides.pop(current_principal)
    return client
