"""The engine, and one session and one transaction per request."""

import asyncio
import os
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import anyio
from fastapi import Depends, Request
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from app.config import get_settings

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


def create_db_engine(
    url: str,
    *,
    pool_size: int = 40,
    echo: bool = False,
    connect_timeout: int = 5,
    pool_timeout: float = 10,
    read_pool_size: int = 10,
) -> Engine:
    """An engine whose every wait for the database is bounded: a connection attempt (PostgreSQL)
    and a free connection in the pool; both raise, and the request answers 503 (app/errors.py).

    On PostgreSQL through psycopg, `read_pool_size` sizes the pool of its asyncio twin, which
    `reads_on_this_loop` opens for bounded reads."""
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
    connect_args = {
        "connect_timeout": connect_timeout,
        # A server that vanishes without closing the socket (a network cut) is noticed within
        # about the same bound: unacknowledged sends give up, and an idle socket is probed.
        "tcp_user_timeout": connect_timeout * 1000,
        "keepalives_idle": connect_timeout,
        "keepalives_interval": 1,
        "keepalives_count": 3,
    }
    engine = create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=0,
        # A connection the server dropped (a restart) is replaced before use, not failed on.
        pool_pre_ping=True,
        pool_timeout=pool_timeout,
        connect_args=connect_args,
    )
    if engine.dialect.driver == "psycopg":
        event.listen(engine, "connect", _psycopg_on_connect)
        _TWINS[engine] = {
            "echo": echo,
            "pool_size": read_pool_size,
            "max_overflow": 0,
            "pool_timeout": pool_timeout,
            "connect_args": connect_args,
            # Every statement on the twin is a bounded read: no BEGIN and no ROLLBACK around it.
            # Nothing is lost at READ COMMITTED (PostgreSQL's default), where every statement
            # takes its own snapshot inside a transaction too. With no ping (`_read_on_twin`), a
            # get is one round trip instead of four.
            "isolation_level": "AUTOCOMMIT",
        }
    return engine


def _psycopg_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Embedded lists come as JSON (app/reads.py): orjson parses them in a third of json's time.
    # Imported here, not with the module: a SQLite server never loads psycopg (about 9 MB).
    import orjson
    from psycopg.types.json import set_json_loads

    # The asyncio twin's connections are adapted; psycopg's own is beneath.
    set_json_loads(orjson.loads, getattr(dbapi_connection, "driver_connection", dbapi_connection))


# How to make each PostgreSQL engine's asyncio twin, and the twins open on each event loop: an
# asyncio engine's connections belong to the loop they were made on (one per worker under uvicorn;
# one per TestClient in the tests).
_TWINS: "weakref.WeakKeyDictionary[Engine, dict[str, Any]]" = weakref.WeakKeyDictionary()
_OPEN_TWINS: "dict[tuple[Engine, asyncio.AbstractEventLoop], AsyncEngine]" = {}


@asynccontextmanager
async def reads_on_this_loop(engine: Engine) -> AsyncIterator["AsyncEngine | None"]:
    """While open, `run_read` runs the bounded reads of `engine` on this event loop.

    A PostgreSQL read in a worker thread costs two thread hops and the GIL's hand-offs, more CPU
    than the read itself (bench/README.md). psycopg's asyncio connections wait for the server on
    the loop instead; SQLAlchemy's asyncio engine runs the same synchronous read code over them (in
    a greenlet), so `Reader` and the services stay as they are. The twin has its own small pool
    (`WORKPLAN_READ_POOL_SIZE`): a read on the loop holds its connection while it makes its answer,
    not while the answer is sent.
    Yields the twin, or None for an engine that has none (SQLite, other PostgreSQL drivers).
    """
    options = _TWINS.get(engine)
    if options is None:
        yield None
        return
    from sqlalchemy.ext.asyncio import create_async_engine

    twin = create_async_engine(engine.url, **options)
    event.listen(twin.sync_engine, "connect", _psycopg_on_connect)
    key = (engine, asyncio.get_running_loop())
    _OPEN_TWINS[key] = twin
    try:
        yield twin
    finally:
        del _OPEN_TWINS[key]
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
        read_pool_size=settings.read_pool_size,
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

    Making a session does no I/O (its connection is taken at the first query, where `run_read`
    runs the read), and neither does closing one on SQLite or one that `run_read` already closed,
    so a read pays no thread-pool hop for its session: on SQLite the hops were most of a get's cost
    (bench/README.md). Closing a session that still holds a PostgreSQL connection (a streamed list)
    returns it to the pool with a rollback, a network round trip, which stays off the event loop.
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


async def run_read(session: Session, read: Callable[[], T], *, bounded: bool = True) -> T:
    """Run a read endpoint's work where it costs least without holding up other requests.

    - A bounded read (one record, one page of a list) of SQLite runs on the event loop: SQLite
      answers inside this process, and the GIL serialises its reads whichever thread runs them, so
      the hand-off to a worker thread and back costs more than it buys (it held a get by id on
      SQLite near a tenth of a raw Starlette app's rate: bench/README.md).
    - A bounded read of PostgreSQL runs on the event loop too, through the engine's asyncio twin
      (`reads_on_this_loop`), which waits for the server without blocking the loop.
    - Everything else runs in a worker thread, so one long request never stalls the others:
      unbounded reads (full-text search, each chunk of an export), and PostgreSQL reads with no
      twin open (the CLI, and the tests' sessions bound to one connection).

    Every read closes its session where it ran, so that returning its connection costs no second
    hop, and nothing holds a connection between two reads (an export reads chunk by chunk).
    """
    bind = session.get_bind()
    database = bind.dialect.name
    if bounded and database == "sqlite":
        return read()
    if bounded and isinstance(bind, Engine) and not session.in_transaction():
        twin = _OPEN_TWINS.get((bind, asyncio.get_running_loop()))
        if twin is not None:
            return await _read_on_twin(twin, session, read)

    def read_in_autocommit() -> T:
        # Autocommit, as on the twin. (A session bound to a connection, as in the tests, reads in
        # that connection's transaction.)
        if database == "postgresql" and isinstance(session.bind, Engine) and not session.in_transaction():
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        return read()

    work = _closing(session, read_in_autocommit)
    if database != "sqlite":
        return await anyio.to_thread.run_sync(work)
    # Unbounded reads of SQLite (searches, the chunks of exports) take turns on a few of the route
    # threads: they run in this process, on its cores, so more of them at once only share those,
    # and each thread and connection that ran an FTS5 search keeps about a megabyte after it
    # (bench/README.md). Each also holds its route thread, and so its place in the pool.
    async with _sqlite_limiter():
        return await anyio.to_thread.run_sync(work)


def _closing(session: Session, read: Callable[[], T]) -> Callable[..., T]:
    """`read`, then the session closed where it ran: its connection goes back with no second hop."""

    def read_and_close(*_args: Any) -> T:
        try:
            return read()
        finally:
            session.close()

    return read_and_close


def _cores() -> int:
    """The CPUs this process may run on (its affinity, which containers set), where that is known."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# Unbounded SQLite reads at once: one per core, at least two.
SQLITE_READS_AT_ONCE = max(2, _cores())
_SQLITE_LIMITERS: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter]" = (
    weakref.WeakKeyDictionary()
)


def _sqlite_limiter() -> anyio.CapacityLimiter:
    """This event loop's limiter of unbounded SQLite reads (a limiter belongs to one loop)."""
    loop = asyncio.get_running_loop()
    limiter = _SQLITE_LIMITERS.get(loop)
    if limiter is None:
        limiter = _SQLITE_LIMITERS[loop] = anyio.CapacityLimiter(SQLITE_READS_AT_ONCE)
    return limiter


async def _read_on_twin(twin: "AsyncEngine", session: Session, read: Callable[[], T]) -> T:
    """`read`, with `session` on a connection of the asyncio twin.

    The twin's pool does not ping a connection before each use, a round trip per read. A read is
    safe to repeat instead: one that finds its connection dropped (the server restarted) runs once
    more, on a new connection (SQLAlchemy invalidated the pool's older ones when the first failed).
    """
    try:
        return await _read_once_on_twin(twin, session, read)
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
    return await _read_once_on_twin(twin, session, read)


async def _read_once_on_twin(twin: "AsyncEngine", session: Session, read: Callable[[], T]) -> T:
    bind = session.bind
    async with twin.connect() as connection:
        # The session has not read yet (or was closed after a dropped connection): for this read,
        # its statements go through this connection; then it is closed, and bound as it was.
        session.bind = connection.sync_connection
        try:
            return await connection.run_sync(_closing(session, read))
        finally:
            session.bind = bind
