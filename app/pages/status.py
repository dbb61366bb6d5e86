"""How a calendar item reads on a page: its status in words and where its date comes from.

`status_words` is the one place that maps an `app.calendar.rules.Expected` to words. It reads
the fields the calendar may carry (`status`, `due_source`, `due_source_document`, `provisional`,
`date_unknown_reason`) with fallbacks, so it reads an item that has only `is_satisfied`,
`is_overdue` and `due_source` (treaty or committee) as well.
"""

from dataclasses import dataclass
from datetime import date
from typing import Any

from app.pages.text import day, lateness

# Status is told by a word and a shape as well as a colour (the key is the CSS class).
ICONS = {
    "submitted": "✓",
    "overdue": "!",
    "due": "○",
    "no_report": "\u2014",
    "unknown": "?",
    "provisional": "~",
}
# The calendar's spellings of a status, as the page groups them.
KEYS = {
    "submitted": "submitted",
    "satisfied": "submitted",
    "overdue": "overdue",
    "due": "due",
    "upcoming": "due",
    "not_yet_due": "due",
    "no_report_on_record": "no_report",
    "no_record": "no_report",
    "not_tracked": "no_report",
    "date_unknown": "unknown",
    "unknown": "unknown",
    "provisional": "provisional",
}


@dataclass(frozen=True)
class StatusWords:
    key: str  # submitted, overdue, due, no_report, unknown, provisional
    icon: str
    words: str  # "Overdue by 261 days", "No report on record", "Date unknown: ..."
    source: str  # "Treaty (CRC art. 44(1)(a))", "Committee, CRC/C/MEX/CO/4-5", "Provisional ..."


def _value(value: Any) -> str | None:
    """An enum's value, a string as it is, None as None."""
    return None if value is None else str(getattr(value, "value", value))


def status_words(item: Any) -> StatusWords:
    """The status and the source of one calendar item, in words a coordinator reads."""
    due: date | None = getattr(item, "due_date", None)
    reason = getattr(item, "date_unknown_reason", None)
    source = _value(getattr(item, "due_source", None))
    provisional = bool(getattr(item, "provisional", False)) or source == "provisional"
    status = _value(getattr(item, "status", None))
    if status is None:  # a calendar that names no status: worked out from its flags
        if reason or due is None:
            status = "date_unknown"
        elif getattr(item, "is_satisfied", False):
            status = "submitted"
        elif getattr(item, "is_overdue", False):
            status = "overdue"
        else:
            status = "provisional" if provisional else "due"
    key = KEYS.get(status, "due")
    submitted = getattr(item, "submitted_date", None)
    days_late = getattr(item, "days_late", None)
    if key == "submitted":
        words = f"Submitted {day(submitted)}" if submitted else "Submitted"
    elif key == "overdue":
        words = f"Overdue by {lateness(days_late)}" if days_late else "Overdue"
    elif key == "no_report":
        words = "No report on record"
    elif key == "unknown":
        words = f"Date unknown: {reason}" if reason else "Date unknown"
    elif key == "provisional":
        words = "Provisional: never called overdue"
    else:
        words = "Due"
    return StatusWords(key, ICONS[key], words, _source(item, source, provisional))


def _source(item: Any, source: str | None, provisional: bool) -> str:
    if getattr(item, "date_unknown_reason", None) or getattr(item, "due_date", None) is None:
        return "None: no date is computed"
    if provisional:
        return "Provisional: the treaty's date, after the latest date the Committee set"
    if source == "committee":
        document = getattr(item, "due_source_document", None)
        return f"Committee, {document}" if document else "Committee (document not recorded)"
    # The rule cites the article before its colon: "CRC art. 44(1)(a): within two years ...".
    rule = str(getattr(item, "rule", "") or "")
    return f"Treaty ({rule.split(':', 1)[0]})" if rule else "Treaty"
