"""The engine, and one session and one transaction per request."""

from collections.abc import AsyncIterator, Callable, Iterator
from functools import lru_cache
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import Depends, Request
from sqlalchemy import Engine, create_engine, event
from sqlmodel import Session

from app.config import get_settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control from the sqlite3 module so that the "begin" hook
    # below decides how each transaction starts (and SAVEPOINT works).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "foreign_keys = ON",
        "journal_mode = WAL",
        "synchronous = NORMAL",
        "busy_timeout = 30000",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


# Page cache per connection, in KiB (negative: SQLite's unit). Bulk writes touch many indexes and
# get 64 MiB. Every pooled connection has its own cache, one per concurrent request: at 64 MiB,
# 40 of them held gigabytes once a load had touched the whole database, and even SQLite's default
# 2 MiB x 16 concurrent reads put the server over 150 MB. Reads miss into the OS page cache instead
# (about 10 % slower on a list page than with 2 MiB).
_CACHE_KIB = {"IMMEDIATE": 65536, "DEFERRED": 512}


def _sqlite_on_begin(connection: Any) -> None:
    # A deferred transaction that later writes fails with "database is locked"
    # when another writer got there first; IMMEDIATE queues for the lock up front.
    mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
    cache = _CACHE_KIB.get(mode, _CACHE_KIB["DEFERRED"])
    info = connection.connection.info
    if info.get("cache_kib") != cache:
        # Shrinking frees the pages beyond the new size at once.
        connection.exec_driver_sql(f"PRAGMA cache_size = -{cache}")
        info["cache_kib"] = cache
    connection.exec_driver_sql(f"BEGIN {mode}")


def create_db_engine(
    url: str, *, pool_size: int = 40, echo: bool = False, connect_timeout: int = 5, pool_timeout: float = 10
) -> Engine:
    """An engine whose every wait for the database is bounded: a connection attempt (PostgreSQL)
    and a free connection in the pool; both raise, and the request answers 503 (app/errors.py)."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=pool_timeout,
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    engine = create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=0,
        # A connection the server dropped (a restart) is replaced before use, not failed on.
        pool_pre_ping=True,
        pool_timeout=pool_timeout,
        connect_args={
            "connect_timeout": connect_timeout,
            # A server that vanishes without closing the socket (a network cut) is noticed within
            # about the same bound: unacknowledged sends give up, and an idle socket is probed.
            "tcp_user_timeout": connect_timeout * 1000,
            "keepalives_idle": connect_timeout,
            "keepalives_interval": 1,
            "keepalives_count": 3,
        },
    )
    if engine.dialect.driver == "psycopg":
        event.listen(engine, "connect", _psycopg_on_connect)
    return engine


def _psycopg_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Embedded lists come as JSON (app/reads.py): orjson parses them in a third of json's time.
    # Imported here, not with the module: a SQLite server never loads psycopg (about 9 MB).
    import orjson
    from psycopg.types.json import set_json_loads

    set_json_loads(orjson.loads, dbapi_connection)


@lru_cache
def get_engine() -> Engine:
    settings = get_settings()
    return create_db_engine(
        settings.database_url,
        pool_size=settings.connections,
        echo=settings.echo_sql,
        connect_timeout=settings.db_connect_timeout,
        pool_timeout=settings.db_pool_timeout,
    )


def write_engine(engine: Engine) -> Engine:
    """The same engine (and pool) whose transactions take the write lock at BEGIN on SQLite."""
    return engine.execution_options(sqlite_begin="IMMEDIATE")


@lru_cache
def get_write_engine() -> Engine:
    return write_engine(get_engine())


def tag(session: Session, request: Request) -> Session:
    """Who writes in this session, for the audit log: the caller's key, and the request's id."""
    principal = getattr(request.state, "principal", None)
    session.info["actor"] = getattr(principal, "actor", "anonymous")
    session.info["request_id"] = getattr(request.state, "request_id", None)
    return session


def get_session(request: Request) -> Iterator[Session]:
    bind = get_engine() if request.method in SAFE_METHODS else get_write_engine()
    with tag(Session(bind, expire_on_commit=False), request) as session, session.begin():
        yield session


# scope="function": the commit happens before the response is sent, so a failed
# commit becomes an error response instead of a 201 for data that was not saved.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def get_read_session(request: Request) -> AsyncIterator[Session]:
    """A session for a read, made and closed on the event loop, not in a worker thread.

    Making a session does no I/O (its connection is taken at the first query, in the endpoint's
    thread), and neither does closing one on SQLite or one that `run_read` already closed, so a
    read pays one thread-pool hop (the endpoint) instead of three: on SQLite the hops were most of
    a get's cost (bench/README.md). Closing a session that still holds a PostgreSQL connection
    (a streamed list) returns it to the pool with a rollback, a network round trip, which stays
    off the event loop.
    """
    engine = get_engine()
    session = tag(Session(engine, expire_on_commit=False), request)
    try:
        yield session
    finally:
        if engine.dialect.name == "sqlite" or not session.in_transaction():
            session.close()
        else:
            # Shielded: a client that goes away must not leave the connection checked out.
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(session.close)


# scope="request": the session outlives the endpoint, so a streamed list can keep reading.
ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="request")]


T = TypeVar("T")


async def run_read(session: Session, read: Callable[[], T], *, bounded: bool = True, streamed: bool = False) -> T:
    """Run a read endpoint's work: on the event loop when it is a bounded read of SQLite, else in a thread.

    SQLite answers inside this process, and the GIL serialises its reads whichever thread runs them,
    so for a read whose cost is bounded (one record, one page of a list) the hand-off to a worker
    thread and back costs more than it buys: it held a get by id on SQLite near a tenth of a raw
    Starlette app's rate (bench/README.md). Unbounded reads (full-text search, exports) and every
    read of PostgreSQL (a network round trip) run in a worker thread, so one long request never
    stalls the others. That thread also closes the session once a response that is not `streamed`
    is made, so that returning its connection costs no second hop.
    """
    database = session.get_bind().dialect.name
    if bounded and database == "sqlite":
        return read()
    if streamed:
        return await anyio.to_thread.run_sync(read)

    def read_and_close() -> T:
        try:
            # Autocommit: no BEGIN before the first statement and no ROLLBACK after the last, two
            # round trips of four on a get. Nothing is lost: at READ COMMITTED (PostgreSQL's
            # default) every statement takes its own snapshot inside a transaction too. (A
            # stream's server-side cursor needs a transaction: streams keep theirs. A session
            # bound to a connection, as in the tests, reads in that connection's transaction.)
            if database == "postgresql" and isinstance(session.bind, Engine):
                session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            return read()
        finally:
            session.close()

    return await anyio.to_thread.run_sync(read_and_close)


# Every session writes its audit log entries: register the hooks wherever sessions are made.
from app.access import audit as _audit  # noqa: E402, F401
