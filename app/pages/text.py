"""How values read on a page: labels for codes, country names, dates, and error sentences."""

from datetime import date
from typing import Any

import pycountry
from pydantic_core import ErrorDetails

# Status is told by a word and a shape as well as a colour.
STATUS_ICONS = {
    "planned": "○",
    "in_progress": "◐",
    "completed": "●",
    "cancelled": "✕",
    "suspended": "‖",
}
ROLE_LABELS = {"co_lead": "Co-lead", "focal_point": "Focal point", "target": "Addressed to"}
SPECIAL = {"un_entity": "UN entity", "ngo": "NGO", "OPSC": "OPSC", "CRC": "CRC", "OPAC": "OPAC"}
FIELD_NAMES = {"q": "Search", "partner_id": "Partner", "as_of": "As of", "due_from": "Due from", "due_to": "Due to"}


def label(value: Any) -> str:
    """`in_progress` reads "In progress"."""
    code = str(value)
    if code in SPECIAL:
        return SPECIAL[code]
    return code.replace("_", " ").capitalize()


def country_name(code: str) -> str:
    country = pycountry.countries.get(alpha_3=code)
    return str(getattr(country, "common_name", None) or country.name) if country else code


def day(value: str | date | None) -> str:
    """`2003-12-31` reads "31 Dec 2003"."""
    if value is None:
        return ""
    parsed = date.fromisoformat(value) if isinstance(value, str) else value
    return f"{parsed.day} {parsed:%b %Y}"


def lateness(days: int) -> str:
    """8307 days reads "8307 days (about 22 years)"."""
    years = days // 365
    return f"{days} days" + (f" (about {years} {'year' if years == 1 else 'years'})" if years else "")


def error_sentence(error: ErrorDetails) -> str:
    name = str(error["loc"][0]) if error["loc"] else "query"
    field = FIELD_NAMES.get(name, name.replace("_", " ").capitalize())
    if error["type"] == "extra_forbidden":
        return f"'{name}' is not a filter of this page."
    return f"{field}: {error['msg']} (got '{error.get('input')}')."
