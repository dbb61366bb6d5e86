"""The yardstick: a minimal Starlette app serving the benchmark's scenarios with hand-written SQL.

    BENCH_DATABASE_URL=sqlite:///bench/data/workplan_bench.db uv run uvicorn bench.baseline:app

It answers the same JSON shape as the API for what the scenarios ask (`status`, `sort=-updated_at`,
`limit`, `cursor`, `q`, `format=ndjson` on /v1/activities, and GET by id) and nothing more.
Handlers are `async` and SQLite calls run inline (a cached read takes microseconds, less than a
thread hop); PostgreSQL goes through psycopg's async connections. The SQL is the API's
(app/reads.py): on SQLite, the page, then its three embedded lists in one UNION ALL; on
PostgreSQL, one statement whose rows carry the lists as JSON arrays (correlated json_agg
subqueries) and the UUIDs, timestamps and dates as text.
"""

import asyncio
import base64
import hashlib
import hmac
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import psycopg
from psycopg.types.json import set_json_loads
from sqlalchemy import make_url
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

FIELDS = (
    "id",
    "version",
    "created_at",
    "updated_at",
    "objective_id",
    "code",
    "title",
    "description",
    "status",
    "type",
    "level",
    "planned_start",
    "planned_end",
    "actual_start",
    "actual_end",
    "work_plan_id",
)
SECRET = os.environ.get("BENCH_SECRET_KEY", "bench-baseline").encode()
EXPORT_CHUNK = 1_000
Row = Sequence[Any]
Item = dict[str, Any]
# Every query returns the public fields first, then the sort key and id as stored (for cursors).
SQLITE_COLUMNS = "a." + ", a.".join(FIELDS)
PG_TIME = """to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"""
PG_COLUMNS = ", ".join(
    [
        "a.id::text, a.version",
        PG_TIME.format("a.created_at"),
        PG_TIME.format("a.updated_at"),
        "a.objective_id::text, a.code, a.title, a.description, a.status, a.type, a.level",
        "a.planned_start::text, a.planned_end::text, a.actual_start::text, a.actual_end::text",
        "a.work_plan_id::text",
        # The three embedded lists, as JSON arrays in each list's order ('[]' when empty).
        "coalesce((SELECT json_agg(c.country ORDER BY c.country) FROM activity_country c "
        "WHERE c.activity_id = a.id), '[]'::json)",
        "coalesce((SELECT json_agg(json_build_object('partner_id', p.partner_id, 'role', p.role) "
        "ORDER BY p.position) FROM activity_participant p WHERE p.activity_id = a.id), '[]'::json)",
        "coalesce((SELECT json_agg(r.government_report_id ORDER BY r.government_report_id) "
        "FROM activity_government_report r WHERE r.activity_id = a.id), '[]'::json)",
        "a.updated_at::text",
    ]
)
LISTS = ("countries", "participants", "government_report_ids")
# SQLite: the three embedded lists of a whole page in one statement,
# (list number, activity id, order key, values...), in each list's order.
SQLITE_CHILDREN = (
    "SELECT 0, activity_id, country, country, NULL FROM activity_country WHERE activity_id IN ({ids}) "
    "UNION ALL SELECT 1, activity_id, position, partner_id, role FROM activity_participant "
    "WHERE activity_id IN ({ids}) "
    "UNION ALL SELECT 2, activity_id, government_report_id, government_report_id, NULL "
    "FROM activity_government_report WHERE activity_id IN ({ids}) "
    "ORDER BY 1, 3"
)


def select(columns: str, rest: str) -> str:
    # The column lists are constants and every value is a bound parameter.
    return f"SELECT {columns} {rest}"


def dashed(hex_id: str) -> str:
    """SQLAlchemy stores a UUID on SQLite as 32 hex digits; the API prints it with dashes."""
    return f"{hex_id[:8]}-{hex_id[8:12]}-{hex_id[12:16]}-{hex_id[16:20]}-{hex_id[20:]}"


def sqlite_time(stored: str) -> str:
    return f"{stored[:10]}T{stored[11:23]}Z"


def assemble(items: list[Item], keys: list[str], children: Sequence[Row]) -> list[Item]:
    """Fill the SQLite page's lists from the rows of SQLITE_CHILDREN."""
    by_key = dict(zip(keys, items, strict=True))
    for item in items:
        item["countries"], item["participants"], item["government_report_ids"] = [], [], []
    for number, activity_id, _order, value, role in children:
        item = by_key[activity_id]
        if number == 0:
            item["countries"].append(value)
        elif number == 1:
            item["participants"].append({"partner_id": dashed(value), "role": role})
        else:
            item["government_report_ids"].append(dashed(value))
    return items


def words(q: str) -> list[str]:
    return re.findall(r"\w+", q.lower())


@dataclass
class Rows:
    """Items of a page, and the stored (sort key, id) of the last one, for a cursor."""

    items: list[Item]
    keys: list[tuple[str, str]]


class Store(Protocol):
    has_search: bool

    async def page(self, statuses: list[str], after: tuple[str, str] | None, limit: int) -> Rows: ...
    async def search(self, q: str, limit: int) -> Rows: ...
    async def get(self, activity_id: str) -> Rows: ...
    def export(self) -> AsyncIterator[list[Item]]: ...
    async def close(self) -> None: ...


class SqliteStore:
    def __init__(self, path: str, size: int = 4) -> None:
        self.pool: asyncio.Queue[sqlite3.Connection] = asyncio.Queue()
        for _ in range(size):
            connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            connection.execute("PRAGMA busy_timeout = 30000")
            self.pool.put_nowait(connection)
        probe = self.pool.get_nowait()
        self.has_search = (
            probe.execute("SELECT 1 FROM sqlite_master WHERE name = 'activity_fts'").fetchone() is not None
        )
        self.pool.put_nowait(probe)

    @staticmethod
    def _rows(connection: sqlite3.Connection, rows: list[Row]) -> Rows:
        items: list[Item] = []
        for row in rows:
            item = dict(zip(FIELDS, row, strict=False))
            item["id"], item["objective_id"] = dashed(row[0]), dashed(row[4])
            item["work_plan_id"] = dashed(row[15])
            item["created_at"], item["updated_at"] = sqlite_time(row[2]), sqlite_time(row[3])
            items.append(item)
        ids = [row[0] for row in rows]
        children = connection.execute(SQLITE_CHILDREN.format(ids=", ".join("?" * len(ids))), ids * 3).fetchall()
        return Rows(assemble(items, ids, children), [(row[3], row[0]) for row in rows])

    async def _query(self, sql: str, params: Sequence[Any]) -> Rows:
        connection = await self.pool.get()
        try:
            return self._rows(connection, connection.execute(sql, params).fetchall())
        finally:
            self.pool.put_nowait(connection)

    async def page(self, statuses: list[str], after: tuple[str, str] | None, limit: int) -> Rows:
        sql = select(SQLITE_COLUMNS, "FROM activity a WHERE a.deleted_at IS NULL")
        params: list[Any] = []
        if statuses:
            sql += f" AND a.status IN ({', '.join('?' * len(statuses))})"
            params += statuses
        if after is not None:
            # `updated_at <= ?` alone is the index range, so page N costs what page 1 costs.
            sql += " AND a.updated_at <= ? AND (a.updated_at < ? OR a.id < ?)"
            params += [after[0], after[0], after[1]]
        return await self._query(sql + " ORDER BY a.updated_at DESC, a.id DESC LIMIT ?", [*params, limit])

    async def search(self, q: str, limit: int) -> Rows:
        match = " AND ".join(f'"{word}"' for word in words(q))
        sql = select(
            SQLITE_COLUMNS,
            "FROM activity_fts JOIN activity a ON a.rowid = activity_fts.rowid "
            "WHERE activity_fts MATCH ? AND a.deleted_at IS NULL ORDER BY activity_fts.rank, a.id DESC LIMIT ?",
        )
        return await self._query(sql, [match, limit])

    async def get(self, activity_id: str) -> Rows:
        sql = select(SQLITE_COLUMNS, "FROM activity a WHERE a.id = ? AND a.deleted_at IS NULL")
        return await self._query(sql, [activity_id.replace("-", "").lower()])

    async def export(self) -> AsyncIterator[list[Item]]:
        connection = await self.pool.get()
        try:
            cursor = connection.execute(select(SQLITE_COLUMNS, "FROM activity a WHERE a.deleted_at IS NULL"))
            while rows := cursor.fetchmany(EXPORT_CHUNK):
                yield self._rows(connection, rows).items
            cursor.close()
        finally:
            self.pool.put_nowait(connection)

    async def close(self) -> None:
        while not self.pool.empty():
            self.pool.get_nowait().close()


class PostgresStore:
    def __init__(self, conninfo: str, size: int = 8) -> None:
        self.conninfo, self.size = conninfo, size
        self.pool: asyncio.Queue[psycopg.AsyncConnection[Any]] = asyncio.Queue()
        self.has_search = False

    async def open(self) -> None:
        for _ in range(self.size):
            connection = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
            set_json_loads(orjson.loads, connection)  # the embedded lists, parsed as the API parses them
            self.pool.put_nowait(connection)
        connection = await self.pool.get()
        probe = (
            "SELECT 1 FROM information_schema.columns WHERE table_name = 'activity' AND column_name = 'search_vector'"
        )
        self.has_search = bool(await (await connection.execute(probe)).fetchall())
        self.pool.put_nowait(connection)

    @staticmethod
    def _rows(rows: list[Row]) -> Rows:
        width = len(FIELDS)
        items = []
        for row in rows:
            item = dict(zip(FIELDS, row, strict=False))
            item.update(zip(LISTS, row[width : width + len(LISTS)], strict=True))
            items.append(item)
        return Rows(items, [(row[-1], row[0]) for row in rows])

    async def _query(self, sql: str, params: Sequence[Any]) -> Rows:
        connection = await self.pool.get()
        try:
            cursor = await connection.execute(sql.encode(), params)
            return self._rows(await cursor.fetchall())
        finally:
            self.pool.put_nowait(connection)

    async def page(self, statuses: list[str], after: tuple[str, str] | None, limit: int) -> Rows:
        sql = select(PG_COLUMNS, "FROM activity a WHERE a.deleted_at IS NULL")
        params: list[Any] = []
        if statuses:
            sql += " AND a.status = ANY(%s)"
            params.append(statuses)
        if after is not None:
            sql += " AND a.updated_at <= %s::timestamptz AND (a.updated_at < %s::timestamptz OR a.id < %s::uuid)"
            params += [after[0], after[0], after[1]]
        return await self._query(sql + " ORDER BY a.updated_at DESC, a.id DESC LIMIT %s", [*params, limit])

    async def search(self, q: str, limit: int) -> Rows:
        sql = select(
            PG_COLUMNS,
            "FROM activity a, to_tsquery('simple', %s) query WHERE a.search_vector @@ query "
            "AND a.deleted_at IS NULL ORDER BY ts_rank(a.search_vector, query) DESC, a.id DESC LIMIT %s",
        )
        return await self._query(sql, [" & ".join(words(q)), limit])

    async def get(self, activity_id: str) -> Rows:
        sql = select(PG_COLUMNS, "FROM activity a WHERE a.id = %s::uuid AND a.deleted_at IS NULL")
        return await self._query(sql, [activity_id])

    async def export(self) -> AsyncIterator[list[Item]]:
        connection = await self.pool.get()
        try:
            # A server-side cursor: the rows come in chunks, so memory stays flat.
            async with connection.transaction(), connection.cursor(name="export") as cursor:
                await cursor.execute(select(PG_COLUMNS, "FROM activity a WHERE a.deleted_at IS NULL").encode())
                while rows := await cursor.fetchmany(EXPORT_CHUNK):
                    yield self._rows(rows).items
        finally:
            self.pool.put_nowait(connection)

    async def close(self) -> None:
        while not self.pool.empty():
            await self.pool.get_nowait().close()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def encode_cursor(fingerprint: str, key: tuple[str, str]) -> str:
    data = orjson.dumps([fingerprint, *key])
    return _b64(data) + "." + _b64(hmac.new(SECRET, data, hashlib.sha256).digest()[:16])


def decode_cursor(cursor: str, fingerprint: str) -> tuple[str, str] | None:
    try:
        body, signature = cursor.split(".")
        data = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        expected = _b64(hmac.new(SECRET, data, hashlib.sha256).digest()[:16])
        issued, updated_at, activity_id = orjson.loads(data)
    except (ValueError, orjson.JSONDecodeError):
        return None
    if not hmac.compare_digest(signature, expected) or issued != fingerprint:
        return None
    return str(updated_at), str(activity_id)


def problem(status: int, detail: str) -> Response:
    body = {"type": "about:blank", "title": "Bad request", "status": status, "detail": detail}
    return Response(orjson.dumps(body), status_code=status, media_type="application/problem+json")


def json(data: Any) -> Response:
    body = orjson.dumps(data)
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return Response(body, media_type="application/json", headers={"ETag": etag})


@dataclass
class State:
    store: Store


STATE: list[State] = []


async def list_activities(request: Request) -> Response:
    store = STATE[0].store
    query = request.query_params
    if query.get("format") == "ndjson":
        return StreamingResponse(export_lines(store), media_type="application/x-ndjson")
    limit = int(query.get("limit", "50"))
    if not 1 <= limit <= 200:
        return problem(422, "limit must be 1 to 200")
    if q := query.get("q"):
        if not store.has_search:
            return problem(422, "search is not available on this database")
        rows = await store.search(q, limit + 1)
        fingerprint = "q:" + q  # the baseline issues search cursors but does not page through search
    else:
        if query.get("sort", "-updated_at") != "-updated_at":
            return problem(400, "the baseline sorts by -updated_at only")
        statuses = query.getlist("status")
        fingerprint = ",".join(statuses)
        after = None
        if cursor := query.get("cursor"):
            after = decode_cursor(cursor, fingerprint)
            if after is None:
                return problem(400, "bad cursor")
        rows = await store.page(statuses, after, limit + 1)
    page: dict[str, Any] = {"items": rows.items[:limit]}
    if len(rows.items) > limit:
        page["next_cursor"] = encode_cursor(fingerprint, rows.keys[limit - 1])
    return json(page)


async def export_lines(store: Store) -> AsyncIterator[bytes]:
    async for items in store.export():
        yield b"".join(orjson.dumps(item) + b"\n" for item in items)


async def get_activity(request: Request) -> Response:
    rows = await STATE[0].store.get(request.path_params["activity_id"])
    if not rows.items:
        return problem(404, "no such activity")
    return json(rows.items[0])


async def open_store(url: str) -> Store:
    target = make_url(url)
    if target.get_backend_name() == "sqlite":
        return SqliteStore(target.database or "")
    store = PostgresStore(target.set(drivername="postgresql").render_as_string(hide_password=False))
    await store.open()
    return store


@asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    STATE.append(State(await open_store(os.environ["BENCH_DATABASE_URL"])))
    yield
    await STATE.pop().store.close()


app = Starlette(
    routes=[
        Route("/v1/activities", list_activities),
        Route("/v1/activities/{activity_id}", get_activity),
        Route("/healthz", lambda _request: Response(b'{"status":"ok"}', media_type="application/json")),
    ],
    lifespan=lifespan,
)
