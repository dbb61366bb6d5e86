"""A calendar item's status and source in words: the one mapping the pages use."""

from dataclasses import replace
from datetime import date
from types import SimpleNamespace

import pytest

from app.calendar.rules import DueSource, Expected
from app.pages.status import status_words
from app.vocabularies import Instrument

ITEM = Expected(
    country="MEX",
    instrument=Instrument.CRC,
    cycle=3,
    nominal_due_date=date(2002, 10, 20),
    committee_due_date=None,
    due_date=date(2002, 10, 20),
    due_source=DueSource.TREATY,
    rule="CRC art. 44(1)(b): every five years thereafter",
)


def test_an_item_with_the_flags_of_todays_calendar_reads_in_words() -> None:
    upcoming = status_words(ITEM)
    assert (upcoming.key, upcoming.words, upcoming.source) == ("due", "Due", "Treaty (CRC art. 44(1)(b))")
    late = status_words(replace(ITEM, is_overdue=True, days_late=800))
    assert (late.key, late.icon, late.words) == ("overdue", "!", "Overdue by 800 days (about 2 years)")
    done = status_words(replace(ITEM, satisfied_by="x", submitted_date=date(2003, 1, 2)))
    assert (done.key, done.words) == ("submitted", "Submitted 2 Jan 2003")
    committee = status_words(replace(ITEM, due_source=DueSource.COMMITTEE, committee_due_date=date(2004, 1, 1)))
    assert committee.source == "Committee (document not recorded)"


@pytest.mark.parametrize(
    ("fields", "key", "words", "source"),
    [
        ({"status": "no_report_on_record"}, "no_report", "No report on record", "Treaty (CRC art. 44(1)(b))"),
        (
            {"status": "overdue", "due_source": "committee", "due_source_document": "CRC/C/MEX/CO/4-5"},
            "overdue",
            "Overdue by 800 days (about 2 years)",
            "Committee, CRC/C/MEX/CO/4-5",
        ),
        (
            {"status": "due", "provisional": True},
            "due",
            "Due",
            "Provisional: the treaty's date, after the latest date the Committee set",
        ),
        (
            {"due_source": "provisional"},
            "provisional",
            "Provisional: never called overdue",
            "Provisional: the treaty's date, after the latest date the Committee set",
        ),
        (
            {"status": "date_unknown", "due_date": None, "date_unknown_reason": "no date of succession on record"},
            "unknown",
            "Date unknown: no date of succession on record",
            "None: no date is computed",
        ),
        (
            {"due_date": None, "date_unknown_reason": "disputed deposit"},
            "unknown",
            "Date unknown: disputed deposit",
            "None: no date is computed",
        ),
    ],
)
def test_the_fields_the_calendar_adds_read_in_words(
    fields: dict[str, object], key: str, words: str, source: str
) -> None:
    # An item as the calendar will carry it: a status, a document for the Committee's date, a
    # provisional flag, a reason for a missing date. Unknown to today's `Expected`, read with getattr.
    item = SimpleNamespace(**{**vars(ITEM), "days_late": 800, **fields})
    found = status_words(item)
    assert (found.key, found.words, found.source) == (key, words, source)
