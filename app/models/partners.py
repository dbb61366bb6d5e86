from datetime import date
from typing import Any

import email_validator
from pydantic import EmailStr, ValidationInfo, field_validator
from sqlalchemy import Index, String, text
from sqlmodel import Field, SQLModel

from app.records import (
    CountryCode,
    Day,
    InputModel,
    LongText,
    RecordPublic,
    RecordTable,
    ShortText,
    Title,
    change_seq_index,
    check_order,
)
from app.vocabularies import PartnerKind

EXAMPLE: dict[str, Any] = {
    "name": "Special Rapporteur on the sale of children, child prostitution and child pornography",
    "acronym": None,
    "kind": "special_procedure",
    "country": None,
    "website": None,
    "description": None,
    "active_from": None,
    "active_to": None,
    "mandate_holder": "Dr. Juan Miguel Petit",
}

Website = ShortText
# What `_http_url` takes, for OpenAPI (declared only: its own message says what is wrong).
WEBSITE_SCHEMA = {"pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"}
# What EmailStr (email-validator) refuses beyond `format: email`'s syntax: the domains reserved for
# special use (RFC 6761: `.test`, `.invalid`, `.localhost`...), which can never receive mail.
_SPECIAL_USE = "|".join(
    "".join(f"[{c.upper()}{c}]" if c.isalpha() else c for c in name)
    for name in email_validator.SPECIAL_USE_DOMAIN_NAMES
)
EMAIL_SCHEMA = {"not": {"type": "string", "pattern": f"[@.]({_SPECIAL_USE})$"}}


class PartnerBase(SQLModel):
    name: Title = Field(max_length=300, description="Unique among partners.")
    acronym: ShortText | None = Field(default=None, max_length=40)
    kind: PartnerKind = Field(sa_type=String(40))
    country: CountryCode | None = Field(
        default=None, sa_type=String(3), description="ISO 3166-1 alpha-3, for national bodies."
    )
    website: Website | None = Field(
        default=None,
        max_length=300,
        description="An http(s) address.",
        schema_extra={"json_schema_extra": WEBSITE_SCHEMA},
    )
    description: LongText | None = Field(default=None, max_length=20_000)
    active_from: Day | None = Field(default=None, description="When the body or mandate began.")
    active_to: Day | None = Field(default=None, description="When it ended (the Commission on Human Rights: 2006).")
    mandate_holder: ShortText | None = Field(default=None, max_length=300, description="For a mandate: who holds it.")

    @field_validator("website")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("active_to")
    @classmethod
    def _end_after_start(cls, value: date | None, info: ValidationInfo) -> date | None:
        check_order(info.data.get("active_from"), value, "active_from")
        return value


class PartnerPrivate(SQLModel):
    """Contact details and internal notes: for editors, admins and the partner's own key only."""

    contact_name: ShortText | None = Field(default=None, max_length=300)
    contact_email: EmailStr | None = Field(
        default=None, max_length=320, schema_extra={"json_schema_extra": EMAIL_SCHEMA}
    )
    notes: LongText | None = Field(default=None, max_length=20_000)


class Partner(PartnerPrivate, PartnerBase, RecordTable, table=True):
    __tablename__ = "partner"
    __table_args__ = (
        change_seq_index("partner"),
        Index(
            "uq_partner_name_live",
            "name",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index("ix_partner_kind", "kind"),
        Index("ix_partner_updated_at", "updated_at"),
        Index("ix_partner_active_from", "active_from"),
        Index("ix_partner_active_to", "active_to"),
        Index("ix_partner_country", "country"),
        Index("ix_partner_created_at", "created_at"),
    )


class PartnerCreate(PartnerPrivate, PartnerBase, InputModel):
    model_config = {"json_schema_extra": {"examples": [EXAMPLE]}}


class PartnerPublic(RecordPublic, PartnerBase):
    pass


class PartnerWithContacts(PartnerPrivate, PartnerPublic):
    """The public fields and the contact details and notes: what editors, admins and its own key read."""


class PartnerUpdate(InputModel):
    """JSON Merge Patch: absent fields stay as they are, null clears an optional field."""

    model_config = {"json_schema_extra": {"examples": [{"active_to": "2006-06-16"}]}}

    name: Title | None = None
    acronym: ShortText | None = Field(default=None, max_length=40)
    kind: PartnerKind | None = None
    country: CountryCode | None = None
    website: Website | None = Field(default=None, schema_extra={"json_schema_extra": WEBSITE_SCHEMA})
    description: LongText | None = None
    active_from: Day | None = None
    active_to: Day | None = None
    mandate_holder: ShortText | None = None
    contact_name: ShortText | None = None
    contact_email: EmailStr | None = Field(
        default=None, max_length=320, schema_extra={"json_schema_extra": EMAIL_SCHEMA}
    )
    notes: LongText | None = None
