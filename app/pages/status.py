"""How a calendar item reads on a page: its status in words and where its date comes from.

`status_words` is the one place that maps an `app.calendar.rules.Expected` to words; the list,
a State's page and its timeline all take "overdue" from here, so the shapes and words agree.
"""

from dataclasses import dataclass

from app.calendar.rules import DueSource, Expected, Status
from app.pages.text import day, lateness

# Status is told by a word and a shape as well as a colour (the key is the CSS class).
KEYS = {
    Status.SUBMITTED: ("submitted", "✓"),
    Status.OVERDUE: ("overdue", "!"),
    Status.DUE: ("due", "○"),
    Status.NO_REPORT_ON_RECORD: ("no_report", "\u2014"),
    Status.DATE_UNKNOWN: ("unknown", "?"),
    Status.PROVISIONAL: ("provisional", "~"),
}


@dataclass(frozen=True)
class StatusWords:
    key: str  # submitted, overdue, due, no_report, unknown, provisional
    icon: str
    words: str  # "Overdue by 261 days", "No report on record", "Date unknown: ..."
    source: str  # "Treaty (CRC art. 44(1)(a))", "Committee, CRC/C/MEX/CO/4-5", "Provisional ..."


def status_words(item: Expected) -> StatusWords:
    """The status and the source of one calendar item, in words a coordinator reads."""
    key, icon = KEYS[item.status]
    match item.status:
        case Status.SUBMITTED:
            words = f"Submitted {day(item.submitted_date)}" if item.submitted_date else "Submitted"
        case Status.OVERDUE:
            words = f"Overdue by {lateness(item.days_late)}" if item.days_late else "Overdue"
        case Status.NO_REPORT_ON_RECORD:
            words = "No report on record"
        case Status.DATE_UNKNOWN:
            words = f"Date unknown: {item.date_unknown_reason}" if item.date_unknown_reason else "Date unknown"
        case Status.PROVISIONAL:
            words = "Provisional: never called overdue"
        case _:
            words = "Due"
    return StatusWords(key, icon, words, _source(item))


def _source(item: Expected) -> str:
    if item.due_date is None:
        return "None: no date is computed"
    if item.provisional:
        return "Provisional: the treaty's date, after the latest date the Committee set"
    if item.due_source is DueSource.COMMITTEE:
        document = item.due_source_document
        return f"Committee, {document}" if document else "Committee (document not recorded)"
    # The rule cites the article before its colon: "CRC art. 44(1)(a): within two years ...".
    return f"Treaty ({item.rule.split(':', 1)[0]})" if item.rule else "Treaty"
