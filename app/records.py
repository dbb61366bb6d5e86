"""What every record shares: ids, versions, timestamps, soft delete, and the field types."""

import re
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any, Self, TypeVar

import pycountry
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainSerializer,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError, core_schema
from sqlalchemy import BigInteger, DateTime, FetchedValue, Index, event, func, inspect, text
from sqlmodel import Field, Session, SQLModel, select

from app.errors import Conflict, ErrorItem, InUse, NotFound, ValidationFailed, validation_failed


def utcnow() -> datetime:
    # Millisecond precision: what the API prints is exactly what is stored.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is outside the range of dates this service stores") from None


def format_timestamp(value: datetime) -> str:
    value = as_utc(value)
    return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}Z"


def _clean_text(value: str) -> str:
    # PostgreSQL refuses NUL in text and UTF-8 refuses lone surrogates: both would
    # otherwise surface as a 500 at flush time.
    if "\x00" in value:
        raise ValueError("Text must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("Text must be valid Unicode") from None
    return value


# The days the domain needs (API.md): bodies older than the CRC, and reporting cycles well past any plan.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2199, 12, 31)
# The same range as a pattern of whole years, for OpenAPI (JSON Schema has no bounds for a date;
# `format: date` rules out the days a month lacks).
DAY_PATTERN = r"^(19[0-9]{2}|2[01][0-9]{2})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
_DAY_FORM = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _parse_day(value: object) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value  # one the service holds already: see Day
    if not isinstance(value, str) or not _DAY_FORM.fullmatch(value):
        raise PydanticCustomError("day_format", "must be a date written YYYY-MM-DD")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError("day_value", "'{value}' is not a date in the calendar", {"value": value}) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise PydanticCustomError(
            "day_range", "must be between {first} and {last}", {"first": str(FIRST_DAY), "last": str(LAST_DAY)}
        )
    return day


def _check_country(value: str) -> str:
    code = value.upper()
    if pycountry.countries.get(alpha_3=code) is None:
        raise ValueError(f"'{value}' is not an ISO 3166-1 alpha-3 country code")
    return code


# RFC 3339's date-time only (API.md), with its seconds and its offset (`Z` or +hh:mm). Pydantic
# alone would also read a number (or a string of digits) as seconds since 1970, so
# `updated_after=0` meant 1970. Any year from 0001 to 9999: a sync client may ask for all since its
# platform's first instant, and no date is computed from it.
TIMESTAMP_PATTERN = (
    r"^(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
_TIMESTAMP_FORM = re.compile(TIMESTAMP_PATTERN)


def _parse_timestamp(value: object) -> object:
    if isinstance(value, datetime):
        return value  # one the service holds already
    if not isinstance(value, str) or not _TIMESTAMP_FORM.fullmatch(value):
        raise PydanticCustomError("timestamp_format", "must be a timestamp written YYYY-MM-DDTHH:MM:SSZ (RFC 3339)")
    return value  # pydantic parses it, and refuses a day the month lacks


Timestamp = Annotated[
    datetime,
    BeforeValidator(_parse_timestamp),
    AfterValidator(as_utc),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": TIMESTAMP_PATTERN,
            "description": "An instant written in RFC 3339, with its offset (`Z` for UTC).",
        },
        mode="validation",
    ),
]
Day = Annotated[
    date,
    BeforeValidator(_parse_day),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date",
            "pattern": DAY_PATTERN,
            "description": f"A day written YYYY-MM-DD, from {FIRST_DAY} to {LAST_DAY}.",
        },
        mode="validation",
    ),
]
"""A calendar date as clients send it: `YYYY-MM-DD` text within [FIRST_DAY, LAST_DAY], never a
number nor a datetime. A `date` the service already holds (read from the database, or made by
its own code) passes as it is: a stored day outside the range is still read, exported, and kept
by a PATCH that leaves it alone."""
Code = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$"),
]


class _NoNul:
    """Declares `_clean_text`'s refusal of NUL in OpenAPI (a pattern), leaving its message to it."""

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        return {**handler(schema), "pattern": "^[^\\x00]*$"}


Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=300),
    AfterValidator(_clean_text),
    _NoNul,
]
ShortText = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=300), AfterValidator(_clean_text), _NoNul
]
LongText = Annotated[str, StringConstraints(max_length=20_000), AfterValidator(_clean_text), _NoNul]
ExternalRef = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:~\-]*$"),
]
COUNTRY_CODES = sorted(country.alpha_3 for country in pycountry.countries)


class _CountryCodeSchema:
    """Declares the codes the service takes as one named enum (`CountryCode` in OpenAPI): a pattern
    alone would promise that `AAA` is taken, and a client or fuzzer believing it gets 422."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(_check_country, handler(source), ref="CountryCode")

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        reference = handler(schema)
        definition = handler.resolve_ref_schema(reference)
        definition.clear()
        definition.update(
            type="string",
            enum=COUNTRY_CODES,
            description="An ISO 3166-1 alpha-3 code (the service upper-cases the letters it is sent).",
        )
        return reference


CountryCode = Annotated[
    str,
    StringConstraints(min_length=3, max_length=3, pattern=r"^[A-Za-z]{3}$"),
    _CountryCodeSchema,
]


# For a list field whose items must differ (its validator refuses a repeat): OpenAPI's `uniqueItems`.
DISTINCT: dict[str, Any] = {"json_schema_extra": {"uniqueItems": True}}


def check_order(start: date | None, end: date | None, start_name: str) -> None:
    if start is not None and end is not None and end < start:
        raise ValueError(f"must not be before {start_name} ({start.isoformat()})")


class InputModel(SQLModel):
    """Request bodies: unknown and server-owned fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]


class Owned(SQLModel):
    """Records a partner system may own and name by its own reference (`PUT .../by-ref/{ref}`)."""

    owner_partner_id: uuid.UUID | None = Field(
        default=None,
        foreign_key="partner.id",
        index=True,
        description="The partner whose system owns this record, if any.",
    )
    external_ref: ExternalRef | None = Field(
        default=None,
        max_length=200,
        description=(
            "The owner's own reference: 1 to 200 letters, digits and `._:~-`, unique per owner. Needs owner_partner_id."
        ),
    )

    @model_validator(mode="after")
    def _ref_needs_owner(self) -> Self:
        if self.external_ref is not None and self.owner_partner_id is None:
            raise ValueError("external_ref needs owner_partner_id: a reference is unique per owner")
        return self


def owner_ref_index(table: str) -> Index:
    """(owner, external_ref) is unique among live records."""
    return Index(
        f"uq_{table}_owner_partner_id_external_ref_live",
        "owner_partner_id",
        "external_ref",
        unique=True,
        sqlite_where=text("deleted_at IS NULL AND external_ref IS NOT NULL"),
        postgresql_where=text("deleted_at IS NULL AND external_ref IS NOT NULL"),
    )


def change_seq_index(table: str) -> Index:
    """The order of /v1/changes within one type."""
    return Index(f"ix_{table}_change_seq_id", "change_seq", "id")


class RecordTable(SQLModel):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    deleted_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    # Set by the database on every insert and update (triggers of migration 0003), never by
    # the application: every write path stamps, raw SQL included. See app/sync/stamps.py.
    change_seq: int | None = Field(
        default=None,
        nullable=False,
        sa_type=BigInteger,
        sa_column_kwargs={"server_default": text("0"), "server_onupdate": FetchedValue()},
    )


# Columns the database owns: not part of any representation, and not worth a refresh to read.
SERVER_COLUMNS = frozenset({"change_seq"})


@event.listens_for(RecordTable, "before_insert", propagate=True)
def _created_is_updated(_mapper: Any, _connection: Any, record: RecordTable) -> None:
    # Two default factories would read the clock twice; a new record was updated when created.
    record.updated_at = record.created_at


class RecordPublic(SQLModel):
    id: uuid.UUID
    version: int = Field(description="Starts at 1 and goes up by one with each change of content.")
    created_at: Timestamp
    updated_at: Timestamp


RecordT = TypeVar("RecordT", bound=RecordTable)


def label(model: type[SQLModel]) -> str:
    """'government report' for GovernmentReport: how messages name a record type."""
    return str(model.__tablename__).replace("_", " ")


CreateT = TypeVar("CreateT", bound=SQLModel)


def get_record(
    session: Session,
    model: type[RecordT],
    record_id: uuid.UUID,
    *,
    for_update: bool = False,
    include_deleted: bool = False,
) -> RecordT:
    """Load a record that exists (and is not deleted, unless asked), or raise NotFound."""
    statement = select(model).where(model.id == record_id)
    if not include_deleted:
        statement = statement.where(model.deleted_at.is_(None))  # type: ignore[union-attr]
    if for_update:
        statement = statement.with_for_update()
    record = session.exec(statement).first()
    if record is None:
        raise NotFound(f"No {label(model)} with id {record_id}.")
    return record


def column_values(record: SQLModel) -> dict[str, Any]:
    """The row's stored values, as they are (a table model's model_dump warns on str-for-enum)."""
    return {
        attr.key: getattr(record, attr.key)
        for attr in inspect(type(record)).column_attrs
        if attr.key not in SERVER_COLUMNS
    }


def apply_changes(record: RecordTable, values: dict[str, Any], *, children_changed: bool = False) -> bool:
    """Set the values that differ; bump version and updated_at only when something did."""
    changed = children_changed
    for name, value in values.items():
        if getattr(record, name) != value:
            setattr(record, name, value)
            changed = True
    if changed:
        record.version += 1
        record.updated_at = utcnow()
    return changed


def mark_deleted(record: RecordTable) -> None:
    if record.deleted_at is None:
        record.deleted_at = utcnow()
        record.updated_at = record.deleted_at
        record.version += 1


def ensure_unique(
    session: Session,
    model: type[RecordT],
    conditions: list[Any],
    pointer: str,
    what: str,
    exclude_id: uuid.UUID | None = None,
) -> None:
    """409 when a live record other than `exclude_id` already matches `conditions`."""
    statement = select(model.id).where(*conditions, model.deleted_at.is_(None))  # type: ignore[union-attr]
    if exclude_id is not None:
        statement = statement.where(model.id != exclude_id)
    if session.exec(statement).first() is not None:
        raise Conflict(
            f"{what} is already taken.",
            code="DUPLICATE",
            errors=[
                ErrorItem.model_validate({"in": "body", "pointer": pointer, "message": f"{what} is already taken"})
            ],
        )


def ensure_exist(session: Session, model: type[RecordT], ids: Sequence[uuid.UUID], pointers: Sequence[str]) -> None:
    """422 naming each id that is not a live record of `model`."""
    if not ids:
        return
    statement = select(model.id).where(model.id.in_(set(ids)), model.deleted_at.is_(None))  # type: ignore[attr-defined,union-attr]
    found = set(session.exec(statement).all())
    missing = [
        ErrorItem.model_validate(
            {
                "in": "body",
                "pointer": pointer,
                "message": f"No {label(model)} with id {record_id}",
            }
        )
        for record_id, pointer in zip(ids, pointers, strict=True)
        if record_id not in found
    ]
    if missing:
        raise ValidationFailed(
            "The body refers to records that do not exist.", code="UNKNOWN_REFERENCE", errors=missing
        )


BLOCKERS_SHOWN = 20


def ensure_unused(session: Session, what: str, usages: Sequence[tuple[str, str, Any]]) -> None:
    """409 IN_USE when live records still refer to the one being deleted. Each usage is the records'
    label, their collection's path, and a statement selecting their ids; the answer names up to
    20 of them, so that an owner sees what blocks it even where another partner's records do."""
    for label, collection, statement in usages:
        count = session.exec(select(func.count()).select_from(statement.subquery())).one()
        if count:
            ids = session.exec(statement.order_by(None).limit(BLOCKERS_SHOWN)).all()
            raise InUse(
                f"{what} is still used by {count} {label}; move or delete them first.",
                blocked_by=sorted(f"{collection}/{record_id}" for record_id in ids),
            )


def merge_patch(current: dict[str, Any], patch: SQLModel, create_model: type[CreateT]) -> CreateT:
    """RFC 7396 over a flat record: the patch's fields replace the current ones, then all is validated."""
    changes = patch.model_dump(exclude_unset=True)
    required = [
        name for name, value in changes.items() if value is None and create_model.model_fields[name].is_required()
    ]
    if required:
        raise ValidationFailed(
            "Required fields cannot be cleared.",
            errors=[
                ErrorItem.model_validate(
                    {"in": "body", "pointer": f"/{name}", "message": "is required and cannot be null"}
                )
                for name in required
            ],
        )
    for name, value in changes.items():
        if value is None:
            # null removes the member: the field falls back to its default ([] for lists).
            changes[name] = create_model.model_fields[name].get_default(call_default_factory=True)
    try:
        return create_model.model_validate({**current, **changes})
    except ValidationError as exc:
        raise validation_failed(exc) from None
