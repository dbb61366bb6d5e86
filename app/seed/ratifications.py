"""Every State party's deposit for the CRC, OPSC and OPAC, shipped as the project's reference data.

`untc-ratifications.csv` (next to this file) is the data as collected, with its sources and
confidence per row, never edited by hand (DOMAIN.md, "Ratifications, shipped"). A cell holding two
values separated by `;` is disputed: the field stays null and `disputed` keeps both, so that
neither is used silently. Ids are uuid5 of (country, instrument): a re-seed updates the shipped
records it still owns (`origin` shipped) and never touches one an editor created or changed, nor
one someone deleted.
"""

import csv
from collections import Counter
from pathlib import Path

from pydantic import BaseModel
from sqlmodel import Session, col, select

from app.models.ratifications import Origin, Ratification, RatificationCreate
from app.ratifications.service import create_ratification
from app.records import apply_changes
from app.seed.service import seed_id

DATA_FILE = Path(__file__).with_name("untc-ratifications.csv")
# The file's columns, by the field each fills.
COLUMNS = {
    "country": "country",
    "instrument": "instrument",
    "action": "action",
    "deposited_on": "deposited_on",
    "succession_effective_on": "succession_effective_on",
    "entry_into_force_published": "entry_into_force_on_published",
    "sources": "sources",
    "confidence": "confidence",
}
DISPUTABLE = ("succession_effective_on", "entry_into_force_published")


class ShippedRatifications(BaseModel):
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_editor: int = 0  # created or changed by an editor: left as they are
    skipped_deleted: int = 0


def shipped_rows() -> list[tuple[RatificationCreate, dict[str, list[str]]]]:
    """Each row of the file as what the API would take, and its disputed fields with both values."""
    rows = []
    with DATA_FILE.open(encoding="utf-8", newline="") as file:
        for row in csv.DictReader(file):
            fields: dict[str, str | None] = {field: row[column] or None for field, column in COLUMNS.items()}
            disputed: dict[str, list[str]] = {}
            for field in DISPUTABLE:
                value = fields[field]
                if value is not None and ";" in value:
                    disputed[field] = [candidate.strip() for candidate in value.split(";")]
                    fields[field] = None
            rows.append((RatificationCreate.model_validate(fields), disputed))
    return rows


def load_ratifications(session: Session) -> ShippedRatifications:
    """Create or refresh the shipped ratifications; the caller owns the transaction."""
    counts: Counter[str] = Counter()
    taken = {
        (country, instrument): record_id
        for record_id, country, instrument in session.execute(
            select(col(Ratification.id), col(Ratification.country), col(Ratification.instrument)).where(
                col(Ratification.deleted_at).is_(None)
            )
        )
    }
    for data, disputed in shipped_rows():
        record_id = seed_id("ratification", f"{data.country}/{data.instrument.value}")
        existing = session.get(Ratification, record_id, with_for_update=True)
        if existing is None:
            if (data.country, data.instrument.value) in taken:
                counts["kept_editor"] += 1  # an editor's own record of this State and instrument
                continue
            create_ratification(session, data, record_id, origin=Origin.SHIPPED, disputed=disputed)
            counts["created"] += 1
        elif existing.deleted_at is not None:
            counts["skipped_deleted"] += 1
        elif existing.origin != Origin.SHIPPED:
            counts["kept_editor"] += 1
        else:
            changed = apply_changes(existing, data.model_dump() | {"disputed": disputed or None})
            counts["updated" if changed else "unchanged"] += 1
    session.flush()
    return ShippedRatifications(**counts)
