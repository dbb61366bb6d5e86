import uuid
from datetime import date
from typing import Annotated, Any

from dateutil.relativedelta import relativedelta
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from app.activities.kind import ACTIVITY
from app.calendar import service
from app.calendar.models import (
    DEFAULT_WINDOW_MONTHS,
    CalendarPage,
    CalendarParams,
    ExpectedReport,
    GapPage,
    GapParams,
    item_json,
)
from app.db import ReadSessionDep
from app.errors import LIST_ERRORS, BadRequest
from app.http import etag_of, json_response, none_match
from app.models.activities import ActivityPublic
from app.models.ratifications import RatificationPublic
from app.models.reports import GovernmentReportWithNotes
from app.ratifications.kind import RATIFICATION
from app.ratifications.service import RatificationListParams, list_ratifications
from app.records import LAST_DAY, CountryCode, Day, utcnow
from app.reports.routes import reader as report_reader
from app.reports.service import GovernmentReportListParams, list_reports

router = APIRouter(tags=["Reporting calendar"])


@router.get("/reporting-calendar", response_model=CalendarPage, responses=LIST_ERRORS)
def get_reporting_calendar(
    request: Request, session: ReadSessionDep, params: Annotated[CalendarParams, Query()]
) -> Response:
    """Every report each State owes under the CRC and its protocols, when, why, and whether it is overdue."""
    check_range(params.due_from, params.due_to, "due_to")
    calendar = service.reporting_calendar(
        session,
        countries=params.country,
        instruments=params.instrument,
        as_of=params.as_of,
        overdue=params.overdue,
        statuses=params.status,
        due_from=params.due_from,
        due_to=params.due_to,
    )
    body = {
        "as_of": calendar.as_of.isoformat(),
        "until": calendar.until.isoformat(),
        "items": [item_json(item) for item in calendar.items],
    }
    return json_response(request, body)


@router.get("/reporting-calendar/gaps", response_model=GapPage, responses=LIST_ERRORS)
def get_coverage_gaps(request: Request, session: ReadSessionDep, params: Annotated[GapParams, Query()]) -> Response:
    """Reports due, submitted or reviewed in the period that no activity monitors yet.

    Without a period: from `as_of` (default today) to 12 months later, "which reports fall due in
    the next 12 months that no activity monitors"."""
    period_from = params.period_from or params.as_of or utcnow().date()
    period_to = params.period_to or min(period_from + relativedelta(months=DEFAULT_WINDOW_MONTHS), LAST_DAY)
    check_range(period_from, period_to, "period_to")
    gaps = service.coverage_gaps(
        session,
        period_from,
        period_to,
        countries=params.country,
        instruments=params.instrument,
        statuses=params.status,
        as_of=params.as_of,
    )
    body = {
        "period_from": period_from.isoformat(),
        "period_to": period_to.isoformat(),
        "items": [item_json(gap.item) | {"reasons": gap.reasons} for gap in gaps],
    }
    return json_response(request, body)


ICS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/calendar": {"schema": {"type": "string"}}}, "description": "An RFC 5545 calendar."},
    **LIST_ERRORS,
}


@router.get("/calendar.ics", response_class=Response, responses=ICS_RESPONSES)
def get_calendar_feed(
    request: Request, session: ReadSessionDep, params: Annotated[CalendarParams, Query()]
) -> Response:
    """Due dates, Committee reviews and activity dates as an iCalendar file to subscribe to.

    The filters are the calendar's; `due_from`/`due_to` bound every event's date, and with
    `overdue`, `status` or `instrument` the file holds report dates only. Without `due_from` and
    `due_to`, report due dates run from 12 months before `as_of` (default today) to 12 months
    after it; each event says its status and where its date comes from (treaty or Committee)."""
    # Imported here: the icalendar package costs every worker 0.3 s of start-up and 4 MB, for this
    # one endpoint (bench/README.md: the export's memory budget, the workers' start-up deadline).
    from app.calendar.ics import build_calendar

    check_range(params.due_from, params.due_to, "due_to")
    body = build_calendar(session, params)
    etag = etag_of(body)
    headers = {"ETag": etag, "Vary": "Authorization", "Content-Disposition": 'inline; filename="workplan.ics"'}
    if none_match(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/calendar; charset=utf-8", headers=headers)


class CountryReporting(BaseModel):
    country: str
    as_of: date
    ratifications: list[RatificationPublic]
    expected: list[ExpectedReport] = Field(description="The reporting calendar of the State.")
    reports: list[GovernmentReportWithNotes] = Field(
        description="Its reports on record, by due date, as their GETs show them to the caller."
    )
    activities: list[ActivityPublic] = Field(description="The live activities that monitor them.")


@router.get("/countries/{code}/reporting", response_model=CountryReporting, responses=LIST_ERRORS)
def get_country_reporting(
    request: Request,
    session: ReadSessionDep,
    code: Annotated[CountryCode, Path(description="ISO 3166-1 alpha-3.")],
    as_of: Annotated[Day | None, Query(description="Judge overdue as of this day (default today).")] = None,
) -> Response:
    """One State's ratifications, reporting calendar, reports and the activities that monitor them."""
    calendar = service.reporting_calendar(session, countries=[code], as_of=as_of)
    ratifications = list_ratifications(session, RatificationListParams(country=[code], limit=200))
    reports = list_reports(session, GovernmentReportListParams(country=[code], limit=200))
    reader = report_reader(request)
    report_rows, _ = reports.page(session, reader.columns)
    ratification_rows, _ = ratifications.page(session, RATIFICATION.reader.columns)
    activity_ids = sorted({a for item in calendar.items for a in item.activity_ids})
    body: dict[str, Any] = {
        "country": code,
        "as_of": calendar.as_of.isoformat(),
        "ratifications": RATIFICATION.reader.build(session, ratification_rows),
        "expected": [item_json(item) for item in calendar.items],
        "reports": reader.build(session, report_rows),
        "activities": ACTIVITY.reader.by_ids(session, [uuid.UUID(a) for a in activity_ids]),
    }
    return json_response(request, body)


def check_range(start: date | None, end: date | None, name: str) -> None:
    if start is not None and end is not None and end < start:
        raise BadRequest(f"{name} must not be before its start ({start.isoformat()}).", code="INVALID_RANGE")
