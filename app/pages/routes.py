"""Server-rendered pages for people: the work plan, partners, one activity, the reporting calendar.

Read-only and anonymous: they show what a caller without a key reads from /v1, through the same
services, filters and readers. Filters are GET forms whose fields are the API's query parameters,
so every page can link to the same list as CSV.
"""

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import jinja2
import pycountry
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from app.activities.service import ActivityListParams
from app.calendar.models import CalendarParams
from app.calendar.routes import check_range
from app.config import get_settings
from app.db import SessionDep
from app.errors import AppError
from app.lists import ListParams
from app.pages import text, timeline, views
from app.partners.service import PartnerListParams
from app.records import FIRST_DAY, LAST_DAY, Day, utcnow
from app.vocabularies import (
    ActivityLevel,
    ActivityStatus,
    ActivityType,
    Instrument,
    PartnerKind,
)

HERE = Path(__file__).parent
# Pages need no script at all: none may run, and nothing loads from elsewhere.
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# Parameters a page sets itself: its lists are one page, rendered as HTML.
PAGE_CONTROLLED = frozenset({"limit", "cursor", "format", "bom", "include", "sort"})

environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters.update(label=text.label, country=text.country_name, day=text.day, lateness=text.lateness)
environment.globals.update(
    STATUS_ICONS=text.STATUS_ICONS, ROLE_LABELS=text.ROLE_LABELS, FIRST_DAY=FIRST_DAY, LAST_DAY=LAST_DAY
)

static = StaticFiles(directory=HERE / "static")
router = APIRouter(include_in_schema=False)

ParamsT = TypeVar("ParamsT", bound=BaseModel)


def render(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    body = environment.get_template(template).render(**context)
    return HTMLResponse(body, status_code=status_code, headers={"Content-Security-Policy": PAGE_CSP})


def error_page(status_code: int, title: str, detail: str) -> HTMLResponse:
    return render("error.html", status_code, page="error", title=title, detail=detail)


def closed() -> HTMLResponse | None:
    """The pages are anonymous reads: off where the service turns those off."""
    if get_settings().anonymous_read:
        return None
    return error_page(401, "Reading needs a key", "This service does not allow reading without an API key.")


def parse(request: Request, model: type[ParamsT], skip: frozenset[str] = frozenset()) -> tuple[ParamsT, list[str]]:
    """The page's query as the API's parameter model; its errors as sentences. Empty fields (a
    form's "any") are left out, as are the parameters a page controls itself."""
    data: dict[str, Any] = {}
    for name, value in request.query_params.multi_items():
        if not value.strip() or name in PAGE_CONTROLLED or name in skip:
            continue
        annotation = model.model_fields[name].annotation if name in model.model_fields else None
        if getattr(annotation, "__origin__", None) is list:
            data.setdefault(name, []).append(value.strip())
        else:
            data[name] = value.strip()
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return model(), [text.error_sentence(error) for error in exc.errors()]


def api_query(params: ListParams, **extra: Any) -> str:
    """The query string of the same list in the API (filters only, repeated names for lists)."""
    values = params.model_dump(mode="json", exclude_defaults=True, exclude=set(PAGE_CONTROLLED))
    return query_string({**values, **extra})


def query_string(values: dict[str, Any]) -> str:
    """A query string as the API reads it: repeated names for lists, `true`/`false` for booleans."""
    spelled = {name: str(value).lower() if isinstance(value, bool) else value for name, value in values.items()}
    return urlencode(spelled, doseq=True)


def selected(request: Request) -> dict[str, list[str]]:
    """What the form had, to show it again (even when it did not validate)."""
    chosen: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        chosen.setdefault(name, []).append(value)
    return chosen


@router.get("/", response_class=HTMLResponse)
def show_plan(request: Request, session: SessionDep) -> HTMLResponse:
    """The work plan: objectives in order, each with its activities; filters as /v1/activities."""
    if (refusal := closed()) is not None:
        return refusal
    today = utcnow().date()
    plans = views.all_work_plans(session)
    params, errors = parse(request, ActivityListParams, skip=frozenset({"work_plan_id"}))
    wanted, plan_errors = _plan_id(request)
    plan = views.choose_plan(session, plans, wanted)
    if wanted is not None and plan is None:
        return error_page(404, "No such work plan", f"There is no work plan with id {wanted}.")
    filtered = params != ActivityListParams()
    view = None
    if plan is not None and not errors and not plan_errors:
        try:
            view = views.plan_view(session, plan, params, filtered, today)
        except AppError as exc:
            errors.append(exc.detail)
    all_partners = views.all_partners(session).items
    status_code = 400 if errors or plan_errors else 200
    return render(
        "plan.html",
        status_code,
        page="plan",
        title=plan["title"] if plan else "Work plan",
        plans=plans,
        plan=plan,
        view=view,
        errors=plan_errors + errors,
        filtered=filtered,
        chosen=selected(request),
        partners=all_partners,
        statuses=list(ActivityStatus),
        types=list(ActivityType),
        levels=list(ActivityLevel),
        csv_query=api_query(params, format="csv", **({"work_plan_id": plan["id"]} if plan else {})),
        json_query=api_query(params, **({"work_plan_id": plan["id"]} if plan else {})),
        today=today,
    )


def _plan_id(request: Request) -> tuple[uuid.UUID | None, list[str]]:
    value = request.query_params.get("work_plan_id", "").strip()
    if not value:
        return None, []
    try:
        return uuid.UUID(value), []
    except ValueError:
        return None, [f"Work plan: '{value}' is not a work plan id."]


@router.get("/partners", response_class=HTMLResponse)
def show_partners(request: Request, session: SessionDep) -> HTMLResponse:
    """Partners, filtered as /v1/partners, each linking to the activities it takes part in."""
    if (refusal := closed()) is not None:
        return refusal
    params, errors = parse(request, PartnerListParams)
    shown = None
    if not errors:
        try:
            shown = views.all_partners(session, params.model_copy(update={"limit": views.PAGE_SIZE}))
        except AppError as exc:
            errors.append(exc.detail)
    return render(
        "partners.html",
        400 if errors else 200,
        page="partners",
        title="Partners",
        shown=shown,
        errors=errors,
        chosen=selected(request),
        kinds=list(PartnerKind),
        csv_query=api_query(params, format="csv"),
        json_query=api_query(params),
    )


@router.get("/activities/{activity_id}", response_class=HTMLResponse)
def show_activity(session: SessionDep, activity_id: str) -> HTMLResponse:
    """One activity, with its objective, plan, partners and the reports it monitors."""
    if (refusal := closed()) is not None:
        return refusal
    try:
        view = views.activity_view(session, uuid.UUID(activity_id), utcnow().date())
    except ValueError:
        return error_page(404, "No such activity", f"'{activity_id}' is not an activity id.")
    except AppError as exc:
        return error_page(exc.status, "No such activity", exc.detail)
    return render("activity.html", page="activity", title=view.activity["title"], view=view)


@router.get("/reports", response_class=HTMLResponse)
def show_reports(request: Request, session: SessionDep) -> HTMLResponse:
    """The reporting calendar of every State as one table: what falls due in a window of dates
    (by default the past year and the next two), filtered as /v1/reporting-calendar."""
    if (refusal := closed()) is not None:
        return refusal
    params, errors = parse(request, CalendarParams)
    as_of = params.as_of or utcnow().date()
    shown = None
    if not errors:
        try:
            check_range(params.due_from, params.due_to, "Due to")
            shown = views.upcoming(session, params, as_of)
        except AppError as exc:
            errors.append(exc.detail)
    start, end = views.window(params, as_of) if not errors else (None, None)
    # The same items in the API: the page's filters with its window written out.
    same = params.model_dump(mode="json", exclude_defaults=True) | (
        {"due_from": start.isoformat(), "due_to": end.isoformat()} if start and end else {}
    )
    return render(
        "reports.html",
        400 if errors else 200,
        page="reports",
        title="Reporting calendar",
        shown=shown,
        errors=errors,
        chosen=selected(request),
        instruments=list(Instrument),
        filtered=params != CalendarParams(),
        windowed=params.due_from is None and params.due_to is None,
        calendar_query=query_string(same),
        csv_query=query_string({"format": "csv", "country": params.country, "instrument": params.instrument}),
        # A State's page keeps the day judged on and the instruments chosen.
        state_query=query_string(
            {"instrument": params.instrument} | ({"as_of": params.as_of.isoformat()} if params.as_of else {})
        ),
        overdue_query=query_string(
            {**params.model_dump(mode="json", exclude_defaults=True), "overdue": True, "due_from": FIRST_DAY}
            | ({"due_to": (start - timedelta(days=1)).isoformat()} if start else {})
        ),
        as_of=as_of,
        today=utcnow().date(),
    )


class StateParams(BaseModel):
    """What a State's page takes: the day to judge on, and the instruments to show."""

    model_config = ConfigDict(extra="forbid")

    as_of: Day | None = None
    instrument: list[Instrument] = []


@router.get("/reports/{country}", response_class=HTMLResponse)
def show_state(request: Request, session: SessionDep, country: str) -> HTMLResponse:
    """One State's whole calendar: every instrument, every cycle, its date, source and status,
    its reports on record, and its timeline."""
    if (refusal := closed()) is not None:
        return refusal
    code = country.strip().upper()
    known = pycountry.countries.get(alpha_3=code) if len(code) == 3 and code.isalpha() else None
    if known is None:
        return error_page(404, "No such State", f"'{country}' is not an ISO 3166-1 alpha-3 country code.")
    params, errors = parse(request, StateParams)
    if errors:
        return render("error.html", 400, page="reports", title="The filters could not be used", detail=" ".join(errors))
    as_of = params.as_of or utcnow().date()
    view = views.state_view(session, code, as_of, params.instrument)
    if view is None:
        name = text.country_name(code)
        return error_page(404, "No such State on the calendar", f"No ratification by {name} ({code}) is on record.")
    first, last = timeline.year_range([view.line], as_of)
    return render(
        "state.html",
        page="reports",
        title=f"{text.country_name(code)}: reporting calendar",
        view=view,
        reports_by_id={report["id"]: report for report in view.reports},
        drawing=timeline.draw(view.line, first, last, as_of),
        as_of=as_of,
        today=utcnow().date(),
        calendar_query=query_string(
            {"country": code, "instrument": params.instrument}
            | ({"as_of": params.as_of.isoformat()} if params.as_of else {})
        ),
        back_query=query_string({"as_of": params.as_of.isoformat()} if params.as_of else {}),
    )
