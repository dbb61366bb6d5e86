"""The engine; the database as a worker process's requests reach it (the lifespan's state); one
session and one transaction per request; and where each read runs."""

import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import anyio
from fastapi import Depends, Request
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import QueuePool
from sqlmodel import Session

from app.config import get_settings
from app.errors import DATABASE_RETRY_AFTER, AppError

if TYPE_CHECKING:  # imported where used: a SQLite server never loads the asyncio extension
    from sqlalchemy.ext.asyncio import AsyncEngine

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


# Set while a read on the event loop takes its connection: there, no checkout may wait.
_ON_THE_LOOP: ContextVar[bool] = ContextVar("on_the_loop", default=False)


class LoopSafePool(QueuePool):
    """A QueuePool whose checkouts from a read on the event loop never wait: when every connection
    is in use, such a checkout fails at once (`TimeoutError`, as a pool timeout) and `run_read`
    runs the read in a worker thread instead, where waiting for a connection holds up no other
    request. Every other checkout waits up to the pool timeout, as QueuePool's do."""

    @property
    def _timeout(self) -> float:
        return 0.0 if _ON_THE_LOOP.get() else self._wait

    @_timeout.setter
    def _timeout(self, value: float) -> None:
        self._wait = value


def create_db_engine(
    url: str,
    *,
    pool_size: int = 40,
    echo: bool = False,
    connect_timeout: int = 5,
    pool_timeout: float = 10,
) -> Engine:
    """An engine whose every wait for the database is bounded: a connection attempt (PostgreSQL)
    and a free connection in the pool; both raise, and the request answers 503 (app/errors.py).

    On PostgreSQL through psycopg, `open_database` gives it an asyncio twin for bounded reads."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=LoopSafePool,
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
        connect_args=_connect_args(connect_timeout),
    )
    if engine.dialect.driver == "psycopg":
        event.listen(engine, "connect", _psycopg_on_connect)
    return engine


def _connect_args(connect_timeout: int) -> dict[str, Any]:
    return {
        "connect_timeout": connect_timeout,
        # A server that vanishes without closing the socket (a network cut) is noticed within
        # about the same bound: unacknowledged sends give up, and an idle socket is probed.
        "tcp_user_timeout": connect_timeout * 1000,
        "keepalives_idle": connect_timeout,
        "keepalives_interval": 1,
        "keepalives_count": 3,
    }


def _psycopg_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Embedded lists come as JSON (app/reads.py): orjson parses them in a third of json's time.
    # Imported here, not with the module: a SQLite server never loads psycopg (about 9 MB).
    import orjson
    from psycopg.types.json import set_json_loads

    # The asyncio twin's connections are adapted; psycopg's own is beneath.
    set_json_loads(orjson.loads, getattr(dbapi_connection, "driver_connection", dbapi_connection))


def _cores() -> int:
    """The CPUs this process may run on (its affinity, which containers set), where that is known."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# Unbounded SQLite reads at once: one per core, at least two.
SQLITE_READS_AT_ONCE = max(2, _cores())


@dataclass(eq=False)
class Database:
    """The database as one worker process's requests reach it: made by the lifespan
    (`open_database`) and found in each request's state (`request.state.database`).

    - `bind`: reads, and the look-up of API keys; `writes`: write transactions (on SQLite the
      same pool, whose transactions take the write lock at BEGIN). An engine each in the service;
      the tests bind both to one connection, whose transaction they roll back.
    - `twin`: the asyncio twin of a PostgreSQL engine, on which bounded reads run (`run_read`).
    - `read_time_limit`: seconds a read on the event loop may run before it is stopped.
    - `sqlite_reads`: how many unbounded SQLite reads run at once (`run_read`).
    """

    bind: Engine | Connection
    writes: Engine | Connection
    twin: "AsyncEngine | None" = None
    read_time_limit: float = 5.0
    sqlite_reads: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(SQLITE_READS_AT_ONCE))

    def session(self, *, write: bool = False) -> Session:
        """A session on `writes` (or `bind`); on a connection, it joins its transaction with a savepoint."""
        return Session(
            self.writes if write else self.bind, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )


@asynccontextmanager
async def open_database(
    engine: Engine, *, read_pool_size: int = 10, read_time_limit: float = 5.0, connect_timeout: int = 5
) -> AsyncIterator[Database]:
    """`engine` as this event loop's requests use it, with the asyncio twin of a PostgreSQL engine
    open (and closed on the way out).

    A PostgreSQL read in a worker thread costs two thread hops and the GIL's hand-offs, more CPU
    than the read itself (bench/README.md). psycopg's asyncio connections wait for the server on
    the loop instead; SQLAlchemy's asyncio engine runs the same synchronous read code over them (in
    a greenlet), so `Reader` and the services stay as they are. The twin has its own small pool
    (`WORKPLAN_READ_POOL_SIZE`): a read on the loop holds its connection while it makes its answer,
    not while the answer is sent. Its connections belong to this event loop (one per worker under
    uvicorn; one per TestClient in the tests), which is why the lifespan makes it.
    """
    twin = None
    if engine.dialect.driver == "psycopg":
        from sqlalchemy.ext.asyncio import create_async_engine

        connect_args = _connect_args(connect_timeout)
        # Set once per connection, when it is made: the server stops a read that runs past the limit.
        connect_args["options"] = f"-c statement_timeout={max(1, round(read_time_limit * 1000))}"
        twin = create_async_engine(
            engine.url,
            echo=engine.echo,
            pool_size=read_pool_size,
            max_overflow=0,
            pool_timeout=engine.pool.timeout(),  # type: ignore[attr-defined]  # a QueuePool
            connect_args=connect_args,
            # Every statement on the twin is a bounded read: no BEGIN and no ROLLBACK around it.
            # Nothing is lost at READ COMMITTED (PostgreSQL's default), where every statement
            # takes its own snapshot inside a transaction too. With no ping (`_read_on_twin`), a
            # get is one round trip instead of four.
            isolation_level="AUTOCOMMIT",
        )
        event.listen(twin.sync_engine, "connect", _psycopg_on_connect)
    try:
        yield Database(engine, write_engine(engine), twin, read_time_limit)
    finally:
        if twin is not None:
            await twin.dispose()


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


SessionT = TypeVar("SessionT", bound=Session)


def tag(session: SessionT, request: Request) -> SessionT:
    """Who writes in this session, for the audit log: the caller's key, and the request's id."""
    principal = getattr(request.state, "principal", None)
    session.info["actor"] = getattr(principal, "actor", "anonymous")
    session.info["request_id"] = getattr(request.state, "request_id", None)
    return session


def get_database(request: Request) -> Database:
    database: Database = request.state.database
    return database


def get_session(request: Request) -> Iterator[Session]:
    session = get_database(request).session(write=request.method not in SAFE_METHODS)
    with tag(session, request), session.begin():
        yield session


# scope="function": the commit happens before the response is sent, so a failed
# commit becomes an error response instead of a 201 for data that was not saved.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


class ReadSession(Session):
    """A read endpoint's session, which knows its database: `run_read` decides where it reads."""

    def __init__(self, database: Database) -> None:
        super().__init__(database.bind, expire_on_commit=False, join_transaction_mode="create_savepoint")
        self.database = database


async def get_read_session(request: Request) -> AsyncIterator[ReadSession]:
    """A session for a read, made and closed on the event loop, not in a worker thread.

    Making a session does no I/O (its connection is taken at the first query, where `run_read`
    runs the read), and neither does closing one on SQLite or one that `run_read` already closed,
    so a read pays no thread-pool hop for its session: on SQLite the hops were most of a get's cost
    (bench/README.md). Closing a session that still holds a PostgreSQL connection (a streamed list)
    returns it to the pool with a rollback, a network round trip, which stays off the event loop.
    """
    session = tag(ReadSession(get_database(request)), request)
    try:
        yield session
    finally:
        if session.get_bind().dialect.name == "sqlite" or not session.in_transaction():
            session.close()
        else:
            # Shielded: a client that goes away must not leave the connection checked out.
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(session.close)


# scope="request": the session outlives the endpoint, so a streamed list can keep reading.
ReadSessionDep = Annotated[ReadSession, Depends(get_read_session, scope="request")]


class ReadTimedOut(AppError):
    """A read on the event loop ran past `WORKPLAN_READ_TIME_LIMIT` and was stopped."""

    status, code = 503, "QUERY_TIMEOUT"

    def __init__(self, limit: float) -> None:
        super().__init__(
            f"The read took longer than {limit:g} seconds, the most this service gives one, and was stopped; "
            "nothing was changed. Retry after `Retry-After` seconds.",
            headers={"Retry-After": DATABASE_RETRY_AFTER},
        )


T = TypeVar("T")


async def run_read(session: ReadSession, read: Callable[[Session], T], *, bounded: bool = True) -> T:
    """`read(s)`: a read endpoint's work, run where it costs least without holding up other
    requests, in a session `s` on the connection it runs on: `session` itself, or on the asyncio
    twin a session of its own (`session` is never rebound under its feet).

    - A bounded read (one record, one page of a list) of SQLite runs on the event loop, in
      `session`: SQLite answers inside this process, and the GIL serialises its reads whichever
      thread runs them, so the hand-off to a worker thread and back costs more than it buys (it held
      a get by id on SQLite near a tenth of a raw Starlette app's rate: bench/README.md). It never
      waits there for a connection: with none free, it runs in a worker thread as below.
    - A bounded read of PostgreSQL runs on the event loop too, in a session on a connection of the
      database's asyncio twin (`open_database`), which waits for the server without blocking the loop.
    - Everything else runs in a worker thread, in `session`, so one long request never stalls the
      others: unbounded reads (full-text search, each chunk of an export), and PostgreSQL reads
      with no twin (the CLI, and the tests' sessions bound to one connection).

    A read on the event loop runs under `read_time_limit` (`ReadTimedOut` past it). Every read
    closes its session where it ran, so that returning its connection costs no second hop, and
    nothing holds a connection between two reads (an export reads chunk by chunk).
    """
    database = session.database
    kind = session.get_bind().dialect.name
    if bounded and kind == "sqlite":
        connection = _connection_at_once(session)
        if connection is not None:
            with _sqlite_time_limit(connection, database.read_time_limit):
                return read(session)
    elif bounded and database.twin is not None and isinstance(session.bind, Engine) and not session.in_transaction():
        try:
            return await _read_on_twin(database.twin, read)
        except OperationalError as error:
            if getattr(error.orig, "sqlstate", None) == _QUERY_CANCELED:
                raise ReadTimedOut(database.read_time_limit) from error
            raise

    def read_in_autocommit(session: Session) -> T:
        # Autocommit, as on the twin. (A session bound to a connection, as in the tests, reads in
        # that connection's transaction.)
        if kind == "postgresql" and isinstance(session.bind, Engine) and not session.in_transaction():
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        return read(session)

    work = _closing(session, read_in_autocommit)
    if kind != "sqlite" or bounded:  # a bounded SQLite read here waits for a connection
        return await anyio.to_thread.run_sync(work)
    # Unbounded reads of SQLite (searches, the chunks of exports) take turns on a few of the route
    # threads: they run in this process, on its cores, so more of them at once only share those,
    # and each thread and connection that ran an FTS5 search keeps about a megabyte after it
    # (bench/README.md). Each also holds its route thread, and so its place in the pool.
    async with database.sqlite_reads:
        return await anyio.to_thread.run_sync(work)


def _connection_at_once(session: Session) -> Connection | None:
    """The session's connection, taken from the pool only if one is free now: None if every one
    is in use (the session is then as it was)."""
    token = _ON_THE_LOOP.set(True)
    try:
        return session.connection()
    except PoolTimeout:
        session.close()
        return None
    finally:
        _ON_THE_LOOP.reset(token)


# SQLite virtual machine instructions between two looks at the clock: about a millisecond of a read.
_STEPS_PER_CHECK = 50_000


@contextmanager
def _sqlite_time_limit(connection: Connection, seconds: float) -> Iterator[None]:
    """Stop a statement of `connection` that runs past `seconds` from now, as datasette's
    `sqlite_timelimit` does: SQLite calls the progress handler every few thousand instructions of
    its virtual machine, and a true answer interrupts the statement ("interrupted")."""
    driver = connection.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    deadline = time.monotonic() + seconds

    def past_deadline() -> bool:
        return time.monotonic() > deadline

    driver.set_progress_handler(past_deadline, _STEPS_PER_CHECK)
    try:
        yield
    except OperationalError as error:
        if isinstance(error.orig, sqlite3.OperationalError) and str(error.orig) == "interrupted":
            raise ReadTimedOut(seconds) from error
        raise
    finally:
        driver.set_progress_handler(None, 0)


# PostgreSQL's SQLSTATE for a statement the server cancelled: here, past `statement_timeout`.
_QUERY_CANCELED = "57014"


def _closing(session: Session, read: Callable[[Session], T]) -> Callable[..., T]:
    """`read(session)`, then the session closed where it ran: its connection goes back with no second hop."""

    def read_and_close(*_args: Any) -> T:
        try:
            return read(session)
        finally:
            session.close()

    return read_and_close


async def _read_on_twin(twin: "AsyncEngine", read: Callable[[Session], T]) -> T:
    """`read`, in a session of its own on a connection of the asyncio twin.

    The twin's pool does not ping a connection before each use, a round trip per read. A read is
    safe to repeat instead: one that finds its connection dropped (the server restarted) runs once
    more, on a new connection (SQLAlchemy invalidated the pool's older ones when the first failed).
    """
    try:
        return await _read_once_on_twin(twin, read)
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
    return await _read_once_on_twin(twin, read)


async def _read_once_on_twin(twin: "AsyncEngine", read: Callable[[Session], T]) -> T:
    async with twin.connect() as connection:
        session = Session(connection.sync_connection, expire_on_commit=False)
        return await connection.run_sync(_closing(session, read))
