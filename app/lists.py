"""Lists: typed filters, sort, and keyset pagination with signed cursors bound to their query."""

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from sqlalchemy import ColumnElement, Row, Select, and_, false, literal, or_, true, tuple_, type_coerce
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.types import NullType
from sqlmodel import Session
from sqlmodel.sql.expression import SelectOfScalar

from app.config import get_settings
from app.errors import BadRequest

ItemT = TypeVar("ItemT")
RowT = TypeVar("RowT")
StatementT = TypeVar("StatementT", bound=Select[Any])


class Format(StrEnum):
    JSON = "json"
    CSV = "csv"
    NDJSON = "ndjson"


class PageParams(BaseModel):
    """What pages a list; unknown parameters are refused."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=200, description="Items per page, 1 to 200.")
    cursor: str | None = Field(
        default=None,
        max_length=2000,
        description="The `next_cursor` of the previous page; opaque, and valid only with the same filters and sort.",
    )


class ListParams(PageParams):
    """Query parameters every list of records takes."""

    sort: str | None = Field(
        default=None,
        max_length=200,
        description="Comma-separated fields, `-` for descending, e.g. `-updated_at,code`.",
    )
    format: Format = Field(
        default=Format.JSON,
        description="`csv` or `ndjson` stream every matching row (no pages); see the README for the CSV columns.",
    )
    bom: bool = Field(default=False, description="With format=csv: start with a UTF-8 byte order mark (for Excel).")

    @property
    def bounded(self) -> bool:
        """Whether answering costs at most a page of work: a stream reads every row, a search ranks every match."""
        return self.format is Format.JSON and getattr(self, "q", None) is None

    @property
    def streamed(self) -> bool:
        """Whether the answer streams rows after the endpoint returns (CSV, NDJSON)."""
        return self.format is not Format.JSON

    @field_validator("*")
    @classmethod
    def _range_in_order(cls, value: Any, info: ValidationInfo) -> Any:
        # Each `_from` is declared before its `_to`, so the error can point at the `_to`.
        if info.field_name is not None and info.field_name.endswith("_to"):
            start_name = info.field_name.removesuffix("_to") + "_from"
            start = info.data.get(start_name)
            if start is not None and value is not None and value < start:
                raise ValueError(f"must not be before {start_name} ({start})")
        return value


def sort_by(sortable: Mapping[str, Any]) -> Any:
    """The `sort` parameter of a list that sorts by `sortable`: its pattern names the fields, so a
    client (or a fuzzer) knows which are taken. Each field may appear once (400 INVALID_SORT)."""
    names = "|".join(name for name in sortable if name != "id")
    return Field(
        default=None,
        max_length=200,
        description=(
            "Comma-separated fields, each at most once, `-` for descending, e.g. `-updated_at,code`; "
            f"sortable: {names.replace('|', ', ')}."
        ),
        json_schema_extra={"pattern": f"^-?({names})(,-?({names}))*$"},
    )


class SearchParams(ListParams):
    q: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description='Full-text search: words (all must match), "a phrase", prefix*; best matches first.',
    )


class Page(BaseModel, Generic[ItemT]):
    items: list[ItemT]
    next_cursor: str | None = Field(
        default=None, exclude_if=lambda cursor: cursor is None, description="Absent on the last page, and only there."
    )


@dataclass(frozen=True)
class SortKey:
    name: str
    column: Any  # a mapped column, or an expression such as a search score
    descending: bool
    nullable: bool
    python_type: type


def _key(name: str, column: InstrumentedAttribute[Any], descending: bool) -> SortKey:
    mapped = column.property.columns[0]
    return SortKey(name, column, descending, bool(mapped.nullable), mapped.type.python_type)


def parse_sort(sort: str | None, sortable: Mapping[str, InstrumentedAttribute[Any]], default: str) -> list[SortKey]:
    keys: list[SortKey] = []
    # An empty `sort=` names no field: 400 like any other it cannot sort by, not the default order.
    for part in (default if sort is None else sort).split(","):
        part = part.strip()
        name = part.removeprefix("-")
        if name not in sortable or name == "id":
            raise BadRequest(
                f"Cannot sort by '{name}'; sortable fields: {', '.join(k for k in sortable if k != 'id')}.",
                code="INVALID_SORT",
            )
        if any(key.name == name for key in keys):
            raise BadRequest(f"'{name}' appears twice in sort.", code="INVALID_SORT")
        keys.append(_key(name, sortable[name], part.startswith("-")))
    return keys


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _decode_value(value: Any, key: SortKey) -> Any:
    if value is None:
        return None
    if key.python_type is datetime:
        return datetime.fromisoformat(value)
    if key.python_type is date:
        return date.fromisoformat(value)
    if key.python_type is uuid.UUID:
        return uuid.UUID(value)
    return value


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(payload: bytes) -> str:
    return _b64(hmac.new(get_settings().signing_key, payload, hashlib.sha256).digest()[:16])


def query_fingerprint(params: BaseModel) -> str:
    """What a cursor is bound to: every parameter except the cursor and the page size."""
    bound = params.model_dump(mode="json", exclude={"cursor", "limit"})
    return hashlib.sha256(json.dumps(bound, sort_keys=True).encode()).hexdigest()[:16]


def seal(payload: Mapping[str, Any]) -> str:
    """An opaque token carrying `payload` as signed JSON: what every cursor of the service is."""
    data = json.dumps(payload, separators=(",", ":")).encode()
    return f"{_b64(data)}.{_sign(data)}"


def unseal(token: str) -> dict[str, Any]:
    """The payload of a token `seal` made; 400 INVALID_CURSOR for anything else."""
    payload: Any = None
    try:
        body, signature = token.split(".")
        data = _unb64(body)
        if signature.isascii() and hmac.compare_digest(signature, _sign(data)):
            payload = json.loads(data)
    except (ValueError, UnicodeEncodeError):
        pass
    if not isinstance(payload, dict):
        raise BadRequest("The cursor is not one this service issued.", code="INVALID_CURSOR")
    return payload


def encode_cursor(fingerprint: str, values: Sequence[Any]) -> str:
    return seal({"q": fingerprint, "k": [_encode_value(v) for v in values]})


def decode_cursor(cursor: str, fingerprint: str, keys: Sequence[SortKey]) -> list[Any]:
    payload = unseal(cursor)
    if payload.get("q") != fingerprint:
        # Another list's cursor, or another kind of cursor altogether (the feed's, the audit's).
        raise BadRequest(
            "The cursor belongs to another query: keep the filters and sort it was issued with.",
            code="CURSOR_MISMATCH",
        )
    return [_decode_value(v, k) for v, k in zip(payload["k"], keys, strict=True)]


def _after(key: SortKey, value: Any) -> ColumnElement[bool]:
    """Rows strictly after `value` in this key's order (NULLs always last)."""
    column: ColumnElement[Any] = key.column
    if value is None:
        return false()
    beyond = column < value if key.descending else column > value
    return or_(beyond, column.is_(None)) if key.nullable else beyond


def _equal(key: SortKey, value: Any) -> ColumnElement[bool]:
    column: ColumnElement[Any] = key.column
    return column.is_(None) if value is None else column == value


def keyset_condition(keys: Sequence[SortKey], values: Sequence[Any]) -> ColumnElement[bool]:
    if len({k.descending for k in keys}) == 1 and not any(k.nullable for k in keys):
        # One direction, no NULLs: a row-value comparison, which both databases match to an index.
        columns, bound = tuple_(*(k.column for k in keys)), tuple_(*(literal(v) for v in values))
        return columns < bound if keys[0].descending else columns > bound
    # (k1 > v1) OR (k1 = v1 AND k2 > v2) OR ...: lexicographic order over mixed directions.
    clauses = []
    prefix: list[ColumnElement[bool]] = []
    for key, value in zip(keys, values, strict=True):
        clauses.append(and_(*prefix, _after(key, value)) if prefix else _after(key, value))
        prefix.append(_equal(key, value))
    return or_(*clauses) if clauses else true()


def order_by(keys: Sequence[SortKey]) -> list[Any]:
    # NULLS LAST only where NULLs can occur: on other keys it would stop PostgreSQL from
    # reading a descending order straight off an index (whose backward order is NULLS FIRST).
    terms = [k.column.desc() if k.descending else k.column.asc() for k in keys]
    return [term.nulls_last() if k.nullable else term for term, k in zip(terms, keys, strict=True)]


@dataclass(frozen=True)
class Listing(Generic[RowT]):
    """A filtered list, ready to be read one page at a time or streamed whole."""

    statement: SelectOfScalar[RowT]
    params: "ListParams"
    sortable: Mapping[str, Any]
    default_sort: str
    # A search score: with no explicit sort, the best matches come first.
    score: Any = None

    def keys(self) -> list[SortKey]:
        if self.score is not None and self.params.sort is None:
            keys = [SortKey("score", self.score, True, False, float)]
        else:
            keys = parse_sort(self.params.sort, self.sortable, self.default_sort)
        # The id breaks ties, in the direction of the last key, so the order is total.
        keys.append(_key("id", self.sortable["id"], keys[-1].descending))
        return keys

    def page_statement(self, columns: Sequence[Any] = (), after: Sequence[Any] | None = None) -> Select[Any]:
        """The query of one page: one row more than asked, to know whether another page follows.

        With `columns`, the rows hold those columns instead of the record (then the key values).
        `after`: the sort key values of the row before the page (default: the cursor's).
        """
        keys = self.keys()
        statement: Select[Any] = self.statement.with_only_columns(*columns) if columns else self.statement
        if after is None and self.params.cursor is not None:
            after = decode_cursor(self.params.cursor, query_fingerprint(self.params), keys)
        if after is not None:
            statement = statement.where(keyset_condition(keys, after))
        # The key values ride along with each row, so the cursor needs no attribute lookups; with
        # `columns`, as the driver returns them: only the last row's become Python values.
        key_columns = [key.column for key in keys]
        if columns:
            key_columns = [type_coerce(column, NullType()) for column in key_columns]
        return statement.add_columns(*key_columns).order_by(*order_by(keys)).limit(self.params.limit + 1)

    def page(self, session: Session, columns: Sequence[Any]) -> tuple[Sequence[Row[Any]], str | None]:
        """The rows of one page (`columns`, then the sort key values), and the next page's cursor."""
        rows, last = self.rows_after(session, columns, None, self.params.limit)
        return rows, None if last is None else encode_cursor(query_fingerprint(self.params), last)

    def rows_after(
        self, session: Session, columns: Sequence[Any], after: Sequence[Any] | None, limit: int
    ) -> tuple[Sequence[Row[Any]], list[Any] | None]:
        """Up to `limit` rows after the sort key values `after` (the cursor's when None), and the
        last row's key values if more rows follow (None on the last page)."""
        statement = self.page_statement(columns, after).limit(limit + 1)
        connection = session.connection()
        result = connection.execute(statement)
        description = result.cursor.description if result.cursor is not None else None
        rows = result.all()
        if len(rows) <= limit:
            return rows, None
        dialect, width = connection.dialect, len(columns)
        values = []
        for index, (key, value) in enumerate(zip(self.keys(), rows[limit - 1][width:], strict=True)):
            # The driver's type code: some processors (PostgreSQL floats, such as a search score) need it.
            type_code = description[width + index][1] if description else None
            process = key.column.type.dialect_impl(dialect).result_processor(dialect, type_code)
            values.append(value if process is None or value is None else process(value))
        return rows[:limit], values


def where_in(statement: StatementT, column: Any, values: Sequence[Any]) -> StatementT:
    return statement.where(column.in_(values)) if values else statement


def where_range(statement: StatementT, column: Any, start: Any, end: Any) -> StatementT:
    if start is not None:
        statement = statement.where(column >= start)
    if end is not None:
        statement = statement.where(column <= end)
    return statement


def keyset_page(
    session: Session, statement: SelectOfScalar[RowT], keys: Sequence[SortKey], params: PageParams
) -> tuple[list[RowT], str | None]:
    """One page of a list that is not a record type's (its rows objects with an attribute per key;
    the last key unique), after `params.cursor`, and the next page's cursor (None on the last)."""
    fingerprint = query_fingerprint(params)
    if params.cursor is not None:
        statement = statement.where(keyset_condition(keys, decode_cursor(params.cursor, fingerprint, keys)))
    rows = list(session.exec(statement.order_by(*order_by(keys)).limit(params.limit + 1)))
    if len(rows) <= params.limit:
        return rows, None
    last = rows[params.limit - 1]
    return rows[: params.limit], encode_cursor(fingerprint, [getattr(last, key.name) for key in keys])
