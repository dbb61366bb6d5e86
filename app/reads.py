"""Lean reads: public representations built straight from table rows, in a few queries per batch.

A `Reader` selects the columns of a record table that its Public model shows, with its embedded
lists (participants, countries, ...): on PostgreSQL in the same statement, as JSON arrays (for
every Reader whose values PostgreSQL can write as the API does: see `Reader`); otherwise in one
more statement for the whole batch of rows on SQLite (a UNION ALL), one per list on PostgreSQL.
It assembles plain dicts that are
already in JSON form: what `Public.model_validate(...).model_dump(mode="json")`
would give, in the same field order, without ORM objects or per-row validation (the rows were
validated when written). Which columns, and how each value is written, is worked out once from
the Public model's fields, so a column added to both the table and the Public model flows through.

`to_json` writes such dicts with pydantic's own serializer, so the bytes are the same as
`model_dump_json()`; tests/records/test_reads.py holds the two paths to that.
"""

import copy
import functools
import itertools
import json
import types
import typing
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import Enum
from typing import Any

from pydantic import BaseModel, PlainSerializer, TypeAdapter
from pydantic.fields import FieldInfo
from pydantic_core import to_json
from sqlalchemy import (
    Column,
    ColumnElement,
    CompoundSelect,
    Connection,
    Date,
    DateTime,
    Dialect,
    Row,
    Select,
    Table,
    Text,
    Uuid,
    any_,
    bindparam,
    cast,
    func,
    literal_column,
    null,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute, RelationshipProperty
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import NullType
from sqlmodel import Session, SQLModel

from app.csv_cells import CellForm
from app.errors import NotFound
from app.records import format_timestamp, label

__all__ = ["Child", "PrivateReaders", "Reader", "to_json"]

Converter = Callable[[Any], Any] | None  # None: the stored value is already its JSON form
Item = dict[str, Any]


def _unwrap(annotation: Any, metadata: list[Any]) -> tuple[Any, list[Any], bool]:
    """(bare type, metadata, optional) of `X`, `X | None`, `Annotated[X, ...]` and their mixes."""
    optional = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation, *extra = typing.get_args(annotation)
            metadata = [*metadata, *extra]
        elif origin in (typing.Union, types.UnionType):
            args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(args) != 1:
                return annotation, metadata, optional
            optional = True
            annotation = args[0]
        else:
            return annotation, metadata, optional


def _fallback(annotation: Any, metadata: list[Any]) -> Callable[[Any], Any]:
    """Any other type: validate and dump it as the model would (slower, but exact)."""
    adapter: TypeAdapter[Any] = TypeAdapter(typing.Annotated[annotation, *metadata] if metadata else annotation)

    def convert(value: Any) -> Any:
        return adapter.dump_python(adapter.validate_python(value), mode="json")

    return convert


def converter(annotation: Any, metadata: Sequence[Any] = ()) -> Converter:
    """How a stored value of this annotation becomes what model_dump(mode="json") writes."""
    bare, extra, _optional = _unwrap(annotation, list(metadata))
    serializers = [m for m in extra if isinstance(m, PlainSerializer) and m.when_used in ("json", "always")]
    if serializers:
        return serializers[-1].func  # type: ignore[return-value]
    if any(type(m).__name__.endswith("Serializer") for m in extra):
        return _fallback(annotation, list(metadata))
    if bare is uuid.UUID:
        return str
    if bare is date:
        return date.isoformat
    if isinstance(bare, type) and issubclass(bare, Enum) and issubclass(bare, str):
        return None  # stored as its string value
    if bare in (str, int, bool):
        return None
    return _fallback(annotation, list(metadata))  # datetime without Timestamp, float, anything else


def _field_converter(field: FieldInfo) -> Converter:
    return converter(field.annotation, field.metadata)


def _json_value(convert: Converter, value: Any) -> Any:
    return value if value is None or convert is None else convert(value)


def _sqlite_uuid(process: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    """SQLite keeps a UUID as 32 hex digits: dash them, as str(UUID) would."""

    def read(raw: Any) -> Any:
        if isinstance(raw, str) and len(raw) == 32:
            return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}".lower()
        return str(process(raw) if process else raw)

    return read


def _remembered(column: ColumnElement[Any], read: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """References repeat (a few objectives and plans, 2,000 partners on 100,000 activities): the
    last thousand are remembered, which makes a repeat one C-level dictionary hit. Not ids of
    the rows themselves, which never repeat: a cache of them would only hold memory."""
    if isinstance(column, Column) and column.foreign_keys:
        return functools.lru_cache(maxsize=1024)(read)
    return read


def _sqlite_timestamp(process: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    """SQLite keeps '2026-11-28 17:46:14.123000' (UTC): cut it to the API's form."""

    def read(raw: Any) -> Any:
        # (A year below 1000 takes format_timestamp's path, which does not pad it.)
        if isinstance(raw, str) and len(raw) == 26 and raw[10] == " " and raw[19] == "." and raw[0] != "0":
            return f"{raw[:10]}T{raw[11:23]}Z"
        return format_timestamp(process(raw) if process else raw)

    return read


def _sqlite_date(process: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    """SQLite keeps a date as its ISO text already."""

    def read(raw: Any) -> Any:
        if isinstance(raw, str) and len(raw) == 10:
            return raw
        return (process(raw) if process else raw).isoformat()

    return read


def _reader(column: ColumnElement[Any], convert: Converter, dialect: Dialect) -> Converter:
    """How a value as the driver returns it (before SQLAlchemy's own processing) becomes JSON."""
    column_type = column.type
    process = column_type.dialect_impl(dialect).result_processor(dialect, None)
    if dialect.name == "sqlite":
        if isinstance(column_type, Uuid) and convert is str:
            return _remembered(column, _sqlite_uuid(process))
        if isinstance(column_type, DateTime) and convert is format_timestamp:
            return _sqlite_timestamp(process)
        if isinstance(column_type, Date) and convert is date.isoformat:
            return _sqlite_date(process)
    if process is None:
        return _remembered(column, convert) if convert is str and isinstance(column_type, Uuid) else convert
    if convert is None:
        return process
    return lambda raw: convert(process(raw))


class _Dialectal(FunctionElement[Any]):
    """`plain` on most databases, `postgresql` on PostgreSQL: a column of `Reader.columns` whose SQL
    suits the database the statement is compiled for, so one list of columns serves both."""

    inherit_cache = True  # its state is its two clauses, as for any function
    type = NullType()
    name = "dialectal"  # never rendered


@compiles(_Dialectal)
def _compile_plain(element: _Dialectal, compiler: SQLCompiler, **kw: Any) -> str:
    plain, _postgresql = element.clauses.clauses
    return compiler.process(plain, **kw)


@compiles(_Dialectal, "postgresql")
def _compile_postgresql(element: _Dialectal, compiler: SQLCompiler, **kw: Any) -> str:
    _plain, postgresql = element.clauses.clauses
    return compiler.process(postgresql, **kw)


_PG = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]

# The API's timestamp (format_timestamp): UTC, milliseconds cut, not rounded, as to_char's MS does.
_PG_TIMESTAMP: ColumnElement[str] = literal_column("""'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'""")
_PG_DATE: ColumnElement[str] = literal_column("'YYYY-MM-DD'")


def _postgresql_json_form(column: Column[Any], convert: Converter) -> ColumnElement[Any] | None:
    """The column written by PostgreSQL as the API writes it (a UUID, a timestamp, a date as text),
    or None when the driver's value is already that (text, numbers) or PostgreSQL cannot write it."""
    column_type = column.type
    if isinstance(column_type, Uuid) and convert is str:
        return cast(column, Text)
    if isinstance(column_type, DateTime) and column_type.timezone and convert is format_timestamp:
        return func.to_char(func.timezone(literal_column("'UTC'"), column), _PG_TIMESTAMP)
    if isinstance(column_type, Date) and convert is date.isoformat:
        return func.to_char(column, _PG_DATE)
    return None


def raw(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """The column as the driver returns it: no per-value processing by SQLAlchemy."""
    return type_coerce(column, NullType())


def among(column: ColumnElement[Any], dialect: Dialect) -> ColumnElement[bool]:
    """`column IN (:among)` with one parameter however many values (see `among_value`).

    Built once per statement and dialect: a statement made anew for each batch costs more to
    compile-cache than to run.
    """
    values = bindparam("among", type_=NullType())
    if dialect.name == "postgresql":
        return raw(column) == any_(values)
    if dialect.name == "sqlite":
        return raw(column).in_(select(func.json_each(values).table_valued("value").c.value))
    return raw(column).in_(bindparam("among", type_=NullType(), expanding=True))


def among_value(values: list[Any], dialect: Dialect) -> Any:
    """The parameter of `among`: a JSON array on SQLite (json_each), else the list."""
    return json.dumps(values) if dialect.name == "sqlite" else values


@dataclass(frozen=True)
class Child:
    """An embedded list: `field` of the Public model, read through the table model's `relationship`.

    `column` names the child column whose value makes each entry (`countries` -> `country`);
    without it each entry is an object of the list's item model, one key per field. `cell` is how
    the list is written in a CSV cell (app/csv_cells.py): its values joined with ';' (the default
    for a list of values), `partner:role` pairs, or JSON text (the default for a list of objects).
    """

    field: str
    relationship: InstrumentedAttribute[Any]
    column: InstrumentedAttribute[Any] | None = None
    cell: CellForm | None = None

    @property
    def cell_form(self) -> CellForm:
        return self.cell or ("joined" if self.column is not None else "json")


class _ChildPlan:
    def __init__(self, child: Child, public: type[BaseModel]) -> None:
        prop = child.relationship.property
        assert isinstance(prop, RelationshipProperty)
        ((parent_column, child_column),) = prop.synchronize_pairs
        self.field = child.field
        self.parent: Column[Any] = child_column  # type: ignore[assignment]
        self.parent_key: Column[Any] = parent_column  # type: ignore[assignment]
        table: Table = prop.mapper.local_table  # type: ignore[assignment]
        (item_type,) = typing.get_args(public.model_fields[child.field].annotation)
        if child.column is None:
            assert isinstance(item_type, type)
            assert issubclass(item_type, BaseModel)
            self.keys: tuple[str, ...] | None = tuple(item_type.model_fields)
            self.columns: list[Column[Any]] = [table.c[name] for name in self.keys]
            self.converters = [_field_converter(item_type.model_fields[name]) for name in self.keys]
        else:
            self.keys = None
            self.columns = [table.c[child.column.key]]
            self.converters = [converter(item_type)]
        # The relationship's own order, so the lists come out as the ORM loads them.
        self.order_by = list(prop.order_by or ())
        self._readers: dict[Dialect, list[Converter]] = {}

    def readers(self, dialect: Dialect) -> list[Converter]:
        readers = self._readers.get(dialect)
        if readers is None:
            readers = self._readers[dialect] = [
                _reader(column, convert, dialect) for column, convert in zip(self.columns, self.converters, strict=True)
            ]
        return readers

    def statement(self, dialect: Dialect) -> Select[Any]:
        return (
            select(raw(self.parent), *map(raw, self.columns))
            .where(among(self.parent, dialect))
            .order_by(*self.order_by)
        )

    def postgresql_json(self) -> ColumnElement[Any] | None:
        """This list of one parent as a JSON array that PostgreSQL writes (a subquery correlated to
        the parent's row), entries in the list's order; None when an entry holds a value whose JSON
        PostgreSQL writes differently from the API (only text, numbers, UUIDs and dates qualify)."""
        if not all(convert in (None, str, date.isoformat) for convert in self.converters):
            return None
        # Nor when SQLAlchemy would change the stored value on the way out (an Enum stores the
        # member's name, a TypeDecorator may do anything): PostgreSQL writes what is stored.
        if any(column.type.dialect_impl(_PG).result_processor(_PG, None) is not None for column in self.columns):
            return None
        entry: ColumnElement[Any]
        if self.keys is None:
            (entry,) = self.columns
        else:
            assert all(key.isidentifier() for key in self.keys)  # safe as SQL string literals
            entry = func.json_build_object(
                *itertools.chain.from_iterable(
                    (literal_column(f"'{key}'"), column) for key, column in zip(self.keys, self.columns, strict=True)
                )
            )
        aggregate = func.json_agg(aggregate_order_by(entry, *self.order_by) if self.order_by else entry)
        parent = self.parent_key.table
        entries = select(aggregate).where(self.parent == self.parent_key).correlate(parent).scalar_subquery()
        return func.coalesce(entries, literal_column("'[]'::json"))

    def add(self, by_id: dict[Any, Item], rows: Iterable[Sequence[Any]], readers: list[Converter]) -> None:
        """Append each (parent id, *values) row's entry to its parent's list; `by_id` has raw ids."""
        field, keys = self.field, self.keys
        if keys is None:
            (read,) = readers
            for parent_id, value, *_padding in rows:
                by_id[parent_id][field].append(value if value is None or read is None else read(value))
            return
        for parent_id, *values in rows:
            by_id[parent_id][field].append(
                {
                    key: value if value is None or read is None else read(value)
                    for key, read, value in zip(keys, readers, values, strict=False)
                }
            )


def _children_union(children: Sequence[_ChildPlan], dialect: Dialect) -> CompoundSelect[Any] | None:
    """All embedded lists in one statement on SQLite (a UNION ALL padded with NULLs, which SQLite's
    loose typing allows): (list number, parent id, order keys..., values...), in each list's order.
    """
    if dialect.name != "sqlite" or len(children) < 2:
        return None
    if not all(isinstance(term, Column) for child in children for term in child.order_by):
        return None
    orders = max(len(child.order_by) for child in children)
    width = max(len(child.columns) for child in children)
    branches = []
    for number, child in enumerate(children):
        keys = [raw(term) for term in child.order_by] + [null()] * (orders - len(child.order_by))
        values = [raw(column) for column in child.columns] + [null()] * (width - len(child.columns))
        branches.append(
            select(
                literal_column(str(number)).label("child"),
                raw(child.parent).label("parent"),
                *(key.label(f"o{i}") for i, key in enumerate(keys)),
                *(value.label(f"v{i}") for i, value in enumerate(values)),
            ).where(among(child.parent, dialect))
        )
    union = union_all(*branches)
    return union.order_by(*(union.selected_columns[name] for name in ["child", *(f"o{i}" for i in range(orders))]))


@dataclass(frozen=True)
class _Plan:
    """A Reader's statements and value readers for one dialect."""

    layout: list[tuple[str, int, Converter]]  # (field, index in the row or -1 for a list to fill, reader)
    python: list[Callable[[Any], Any] | None]  # driver value -> Python value, for computed fields
    by_ids: Select[Any]
    live_by_ids: Select[Any]
    live_by_id: Select[Any]  # one record: `id = :id`, a plain parameter instead of a list to encode
    bind_id: Callable[[Any], Any] | None
    children: list[Select[Any]]  # one statement per embedded list...
    children_union: CompoundSelect[Any] | None  # ...or all of them at once...
    embedded: bool  # ...or none: the rows hold them (PostgreSQL)


class Reader:
    """The public representation of one record table, read in batches."""

    def __init__(self, public: type[BaseModel], model: type[SQLModel], children: Sequence[Child] = ()) -> None:
        self.public = public
        self.model = model
        self.table: Table = model.__table__  # type: ignore[attr-defined]
        plans = {child.field: _ChildPlan(child, public) for child in children}
        self.children = list(plans.values())
        self.table_columns: list[Column[Any]] = []
        self.converters: list[Converter] = []
        # (name, index in the row, or -1 for an embedded list) in the Public model's order.
        self.layout: list[tuple[str, int]] = []
        for name, field in public.model_fields.items():
            if name in plans:
                self.layout.append((name, -1))
            elif name in self.table.c:
                self.layout.append((name, len(self.table_columns)))
                self.table_columns.append(self.table.c[name])
                self.converters.append(_field_converter(field))
            else:
                raise TypeError(f"{public.__name__}.{name} is neither a column of {self.table.name} nor a Child")
        self.id_index = [c.key for c in self.table_columns].index("id")
        self.computed = [(name, converter(info.return_type)) for name, info in public.model_computed_fields.items()]
        # What a page or a stream selects: the columns as the driver returns them. On PostgreSQL,
        # the database writes each value in its JSON form and each embedded list as a JSON array,
        # in the same statement: one query per page or record instead of one more per list, and
        # no parsing of UUIDs and timestamps only to print them again. Computed fields need the
        # stored values, and a list PostgreSQL cannot write needs its own query: such readers
        # select the stored values, and query each list, on every database.
        lists = [child.postgresql_json() for child in self.children]
        self.postgresql_json = not self.computed and all(entries is not None for entries in lists)
        self.json_forms: list[ColumnElement[Any] | None] = [
            _postgresql_json_form(column, convert) if self.postgresql_json else None
            for column, convert in zip(self.table_columns, self.converters, strict=True)
        ]
        self.columns: list[ColumnElement[Any]] = [
            raw(column) if form is None else _Dialectal(raw(column), form)
            for column, form in zip(self.table_columns, self.json_forms, strict=True)
        ]
        if self.postgresql_json:
            self.columns += [_Dialectal(null(), entries) for entries in lists]
        self.fields = [*public.model_fields, *public.model_computed_fields]
        # How each embedded list is written in a CSV cell; other fields by their value's type.
        self.cell_forms: dict[str, CellForm] = {child.field: child.cell_form for child in children}
        self.plans: dict[Dialect, _Plan] = {}
        # Set by `showing_only`: (fields, item field, value) drops `fields` from rows whose item
        # field is not `value`.
        self.shown_only: tuple[tuple[str, ...], str, str] | None = None

    def showing_only(self, fields: Sequence[str], where: str, value: str) -> "Reader":
        """This reader, but `fields` are left out of each item whose `where` is not `value`: a
        decision per row, made on the items, with no other query. Shares the plans."""
        reader = copy.copy(self)
        reader.shown_only = (tuple(fields), where, value)
        return reader

    def select(self) -> Select[Any]:
        return select(*self.columns)

    def _plan(self, dialect: Dialect) -> "_Plan":
        plan = self.plans.get(dialect)
        if plan is None:
            table = self.table
            by_ids = self.select().where(among(table.c.id, dialect))
            embedded = self.postgresql_json and dialect.name == "postgresql"
            lists = {child.field: len(self.table_columns) + n for n, child in enumerate(self.children)}
            layout: list[tuple[str, int, Converter]] = []
            for name, index in self.layout:
                if index < 0:
                    layout.append((name, lists[name] if embedded else -1, None))
                elif embedded and self.json_forms[index] is not None:
                    layout.append((name, index, None))
                else:
                    layout.append((name, index, _reader(self.table_columns[index], self.converters[index], dialect)))
            plan = self.plans[dialect] = _Plan(
                layout=layout,
                python=[c.type.dialect_impl(dialect).result_processor(dialect, None) for c in self.table_columns],
                by_ids=by_ids,
                live_by_ids=by_ids.where(table.c.deleted_at.is_(None)),
                live_by_id=self.select().where(
                    raw(table.c.id) == bindparam("id", type_=NullType()), table.c.deleted_at.is_(None)
                ),
                bind_id=table.c.id.type.dialect_impl(dialect).bind_processor(dialect),
                children=[child.statement(dialect) for child in self.children],
                children_union=_children_union(self.children, dialect),
                embedded=embedded,
            )
        return plan

    def build(self, session: Session, rows: Iterable[Sequence[Any] | Row[Any]]) -> list[Item]:
        """Items for rows that start with `self.columns` (more columns after them are ignored)."""
        connection = session.connection()
        plan = self._plan(connection.dialect)
        layout, python = plan.layout, plan.python
        items: list[Item] = []
        by_id: dict[Any, Item] = {}
        id_index, computed = self.id_index, self.computed
        for row in rows:
            item: Item = {}
            for name, index, read in layout:
                if index < 0:
                    item[name] = []
                else:
                    value = row[index]
                    item[name] = value if value is None or read is None else read(value)
            if computed:
                values = {}
                for index, column in enumerate(self.table_columns):
                    process, value = python[index], row[index]
                    values[column.key] = value if process is None or value is None else process(value)
                record = self.public.model_construct(**values)
                for name, convert in computed:
                    item[name] = _json_value(convert, getattr(record, name))
            items.append(item)
            by_id[row[id_index]] = item
        if by_id and self.children and not plan.embedded:
            self._fill(connection, plan, by_id)
        if self.shown_only is not None:
            fields, where, value = self.shown_only
            for item in items:
                if item[where] != value:
                    for name in fields:
                        del item[name]
        return items

    def _fill(self, connection: Connection, plan: _Plan, by_id: dict[Any, Item]) -> None:
        dialect = connection.dialect
        parameters = {"among": among_value(list(by_id), dialect)}
        if plan.children_union is not None:
            rows = connection.execute(plan.children_union, parameters).all()
            # (list number, parent id, order keys..., values...): the values are the last `width`.
            width = max(len(child.columns) for child in self.children)
            for number, group in itertools.groupby(rows, key=lambda row: row[0]):
                child = self.children[number]
                child.add(by_id, ((row[1], *row[len(row) - width :]) for row in group), child.readers(dialect))
            return
        for child, statement in zip(self.children, plan.children, strict=True):
            child.add(by_id, connection.execute(statement, parameters).all(), child.readers(dialect))

    def by_ids(self, session: Session, ids: Iterable[uuid.UUID], *, include_deleted: bool = False) -> list[Item]:
        """Items of these records, in the order of `ids`; ids with no (live) record are left out."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        connection = session.connection()
        dialect = connection.dialect
        plan = self._plan(dialect)
        bind = plan.bind_id
        values = [bind(i) for i in wanted] if bind else wanted
        statement = plan.by_ids if include_deleted else plan.live_by_ids
        rows = connection.execute(statement, {"among": among_value(values, dialect)}).all()
        items = {item["id"]: item for item in self.build(session, rows)}
        return [items[key] for key in map(str, wanted) if key in items]

    def get(self, session: Session, record_id: uuid.UUID) -> Item:
        """One live record's item, or NotFound (the same 404 as loading the record)."""
        connection = session.connection()
        plan = self._plan(connection.dialect)
        value = plan.bind_id(record_id) if plan.bind_id else record_id
        rows = connection.execute(plan.live_by_id, {"id": value}).all()
        if not rows:
            raise NotFound(f"No {label(self.model)} with id {record_id}.")
        return self.build(session, rows)[0]


@dataclass(frozen=True)
class PrivateReaders:
    """A record type with private fields (contact details, internal notes): read without them
    (`public`), with them (`full`), or with them on one partner's records only (`owned_by`).

    `owner` is the item field naming the partner whose key reads a record's private fields: `id`
    on a partner itself, `owner_partner_id` on the records partners own. `full`'s fields are
    `public`'s with the private ones added, so an item without them is the public item, byte for
    byte (and has its ETag).
    """

    public: Reader
    full: Reader
    owner: str

    def __post_init__(self) -> None:
        if [name for name in self.full.fields if name in self.public.fields] != self.public.fields:
            raise TypeError(f"{self.full.public.__name__} must hold {self.public.public.__name__}'s fields, in order")

    def owned_by(self, partner_id: uuid.UUID) -> Reader:
        private = [name for name in self.full.fields if name not in self.public.fields]
        return self.full.showing_only(private, self.owner, str(partner_id))
