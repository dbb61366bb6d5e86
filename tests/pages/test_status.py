"""A calendar item's status and source in words: the one mapping the pages use."""

from dataclasses import replace
from datetime import date

import pytest

from app.calendar.rules import DueSource, Expected, Status
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


def test_an_item_reads_in_words_by_its_status() -> None:
    upcoming = status_words(ITEM)
    assert (upcoming.key, upcoming.words, upcoming.source) == ("due", "Due", "Treaty (CRC art. 44(1)(b))")
    late = status_words(replace(ITEM, status=Status.OVERDUE, days_late=800))
    assert (late.key, late.icon, late.words) == ("overdue", "!", "Overdue by 800 days (about 2 years)")
    done = status_words(replace(ITEM, status=Status.SUBMITTED, satisfied_by="x", submitted_date=date(2003, 1, 2)))
    assert (done.key, done.words) == ("submitted", "Submitted 2 Jan 2003")
    committee = status_words(replace(ITEM, due_source=DueSource.COMMITTEE, committee_due_date=date(2004, 1, 1)))
    assert committee.source == "Committee (document not recorded)"


@pytest.mark.parametrize(
    ("fields", "key", "words", "source"),
    [
        (
            {"status": Status.NO_REPORT_ON_RECORD},
            "no_report",
            "No report on record",
            "Treaty (CRC art. 44(1)(b))",
        ),
        (
            {"status": Status.OVERDUE, "due_source": DueSource.COMMITTEE, "due_source_document": "CRC/C/MEX/CO/4-5"},
            "overdue",
            "Overdue by 800 days (about 2 years)",
            "Committee, CRC/C/MEX/CO/4-5",
        ),
        (
            {"status": Status.PROVISIONAL, "provisional": True},
            "provisional",
            "Provisional: never called overdue",
            "Provisional: the treaty's date, after the latest date the Committee set",
        ),
        (
            {
                "status": Status.DATE_UNKNOWN,
                "due_date": None,
                "nominal_due_date": None,
                "due_source": None,
                "date_unknown_reason": "no date of succession on record",
            },
            "unknown",
            "Date unknown: no date of succession on record",
            "None: no date is computed",
        ),
    ],
)
def test_each_status_and_source_reads_in_words(fields: dict[str, object], key: str, words: str, source: str) -> None:
    found = status_words(replace(ITEM, days_late=800, **fields))  # type: ignore[arg-type]
    assert (found.key, found.words, found.source) == (key, words, source)
