"""The list contract of API.md: keyset pages, signed cursors bound to their query, typed filters and sort."""

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlmodel import Session

from app.records import utcnow
from tests.factories import make_activity, make_objective, make_partner, make_ratification, make_report, make_work_plan
from tests.problems import invalid_request, pointers, problem

Item = dict[str, Any]
Params = list[tuple[str, str]]
LINK_SUFFIX = '>; rel="next"'


def make_activities(session: Session) -> list[str]:
    objective = make_objective(session)
    starts = [date(2003, 1, 1), None, date(2003, 3, 1), date(2003, 1, 1), None, date(2003, 2, 1), date(2003, 1, 1)]
    statuses = ["planned", "in_progress", "planned", "completed", "cancelled", "planned", "in_progress"]
    return [
        str(
            make_activity(
                session,
                objective_id=objective.id,
                code=f"C{i:02d}",
                title=f"Title {i % 3}",
                planned_start=start,
                status=status,
            ).id
        )
        for i, (start, status) in enumerate(zip(starts, statuses, strict=True))
    ]


def make_reports(session: Session) -> list[str]:
    due = [date(2004, 5, 15), None, date(2004, 5, 15), date(2001, 1, 1), None, date(2010, 1, 1)]
    submitted = [None, date(2004, 1, 1), date(2005, 1, 1), None, None, date(2004, 1, 1)]
    countries = ["MEX", "KEN", "MEX", "BRA", "KEN", "MEX"]
    return [
        str(make_report(session, due_date=d, submitted_date=s, country=c).id)
        for d, s, c in zip(due, submitted, countries, strict=True)
    ]


def make_ratifications(session: Session) -> list[str]:
    countries = ["MEX", "KEN", "BRA", "MEX", "FRA", "KEN"]
    instruments = ["CRC", "CRC", "OPSC", "OPSC", "CRC", "OPAC"]
    deposits = [date(1990, 9, 21), date(1990, 7, 30), date(2004, 1, 27), date(2002, 3, 15), date(1990, 8, 7), None]
    return [
        str(
            make_ratification(
                session, country=c, instrument=i, action="ratification", deposited_on=d or date(2002, 1, 28)
            ).id
        )
        for c, i, d in zip(countries, instruments, deposits, strict=True)
    ]


def make_partners(session: Session) -> list[str]:
    starts = [None, date(1990, 1, 1), date(2000, 1, 1), None, date(1990, 1, 1), date(2002, 1, 1)]
    kinds = ["ngo", "network", "ngo", "treaty_body", "special_procedure", "ngo"]
    return [
        str(make_partner(session, name=f"N{i:02d}", kind=kind, active_from=start).id)
        for i, (start, kind) in enumerate(zip(starts, kinds, strict=True))
    ]


def make_work_plans(session: Session) -> list[str]:
    starts = [date(2003, 1, 1), None, date(2002, 1, 1), date(2003, 1, 1), None, date(2003, 1, 1)]
    return [str(make_work_plan(session, code=f"W{i:02d}", period_start=start).id) for i, start in enumerate(starts)]


def make_objectives(session: Session) -> list[str]:
    work_plan = make_work_plan(session)
    positions = [3, 1, 3, 0, 2, 1]
    return [
        str(make_objective(session, work_plan_id=work_plan.id, code=f"O{i:02d}", title=f"T{i % 2}", position=p).id)
        for i, p in enumerate(positions)
    ]


@dataclass(frozen=True)
class Collection:
    path: str
    make: Callable[[Session], list[str]]
    default_sort: str
    sorts: tuple[str, ...]


COLLECTIONS = [
    Collection(
        "/v1/activities",
        make_activities,
        "code",
        ("planned_start,-code", "-planned_start", "-updated_at", "status,title", "-title,planned_start"),
    ),
    Collection("/v1/government-reports", make_reports, "due_date", ("-due_date", "country,-submitted_date", "symbol")),
    Collection("/v1/ratifications", make_ratifications, "country,instrument", ("-deposited_on", "instrument,-country")),
    Collection("/v1/partners", make_partners, "name", ("-active_from,name", "kind", "-created_at")),
    Collection("/v1/work-plans", make_work_plans, "-period_start,code", ("-code", "period_start")),
    Collection("/v1/objectives", make_objectives, "position,code", ("-position,code", "title")),
]
SORT_CASES = [(c, s) for c in COLLECTIONS for s in (None, *c.sorts)]


def expected_order(items: list[Item], sort: str) -> list[str]:
    """The contract's order in Python: each key in turn, NULLs last, ties broken by id in the last key's direction."""
    keys = sort.split(",")
    ordered = sorted(items, key=lambda item: str(item["id"]), reverse=keys[-1].startswith("-"))
    for key in reversed(keys):
        name = key.removeprefix("-")
        present = sorted(
            (item for item in ordered if item[name] is not None),
            key=lambda item: item[name],
            reverse=key.startswith("-"),
        )
        ordered = present + [item for item in ordered if item[name] is None]
    return [item["id"] for item in ordered]


def next_link(response: Response) -> str | None:
    header = response.headers.get("link")
    if header is None:
        return None
    assert header.startswith("<"), header
    assert header.endswith(LINK_SUFFIX), header
    return str(header[1 : -len(LINK_SUFFIX)])


def walk(client: TestClient, path: str, params: Params) -> list[Item]:
    """Follow the Link header to the last page, checking each page against the contract."""
    limit = int(dict(params).get("limit", "50"))
    items: list[Item] = []
    response = client.get(path, params=tuple(params))
    for _ in range(1000):
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["items"])
        link = next_link(response)
        # Absence itself is checked once, in test_next_cursor_is_absent_only_on_the_last_page.
        cursor = body.get("next_cursor")
        if cursor is None:
            assert link is None
            return items
        assert isinstance(cursor, str)
        assert len(body["items"]) == limit
        assert link is not None
        url = urlsplit(link)
        assert url.path == path
        expected = [(k, v) for k, v in params if k != "cursor"] + [("cursor", cursor)]
        assert sorted(parse_qsl(url.query)) == sorted(expected)
        response = client.get(link)
    raise AssertionError("pagination does not end")


def ids_of(response: Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def listed(client: TestClient, path: str, params: Params) -> set[str]:
    return {item["id"] for item in walk(client, path, [*params, ("limit", "200")])}


INVALID_CURSOR = problem(400, "The cursor is not one this service issued.", "INVALID_CURSOR")
CURSOR_MISMATCH = problem(
    400,
    "The cursor belongs to another query: keep the filters and sort it was issued with.",
    "CURSOR_MISMATCH",
)


# Pagination


@pytest.mark.parametrize(
    ("collection", "sort"),
    SORT_CASES,
    ids=[f"{c.path.removeprefix('/v1/')}-{s or 'default'}" for c, s in SORT_CASES],
)
def test_pages_walk_every_record_once_in_the_order_of_one_big_page(
    client: TestClient, session: Session, collection: Collection, sort: str | None
) -> None:
    created = collection.make(session)
    base: Params = [("sort", sort)] if sort else []
    whole = client.get(collection.path, params=[*base, ("limit", "200")])
    assert whole.status_code == 200, whole.text
    assert "link" not in whole.headers
    items = whole.json()["items"]
    assert sorted(item["id"] for item in items) == sorted(created)
    assert [item["id"] for item in items] == expected_order(items, sort or collection.default_sort)
    for limit in ("1", "2", "4"):
        assert [item["id"] for item in walk(client, collection.path, [*base, ("limit", limit)])] == [
            item["id"] for item in items
        ]


def test_nulls_come_last_in_a_multi_key_sort_on_every_page(client: TestClient, session: Session) -> None:
    make_activities(session)
    expected = ["C06", "C03", "C00", "C05", "C02", "C04", "C01"]
    for limit in ("1", "2", "200"):
        items = walk(client, "/v1/activities", [("sort", "planned_start,-code"), ("limit", limit)])
        assert [item["code"] for item in items] == expected
    descending = walk(client, "/v1/activities", [("sort", "-planned_start,code"), ("limit", "2")])
    assert [item["code"] for item in descending] == ["C02", "C05", "C00", "C03", "C06", "C01", "C04"]


def test_next_cursor_is_absent_only_on_the_last_page(client: TestClient, session: Session) -> None:
    for _ in range(3):
        make_partner(session)
    first = client.get("/v1/partners", params={"limit": 2}).json()
    assert len(first["items"]) == 2
    assert isinstance(first["next_cursor"], str)
    last = client.get("/v1/partners", params={"limit": 2, "cursor": first["next_cursor"]})
    assert last.json() == {"items": last.json()["items"]}
    assert len(last.json()["items"]) == 1
    assert "link" not in last.headers
    exact = client.get("/v1/partners", params={"limit": 3})
    assert exact.json() == {"items": exact.json()["items"]}
    empty = client.get("/v1/work-plans")
    assert empty.status_code == 200
    assert empty.json() == {"items": []}


def test_link_header_carries_the_next_cursor_and_keeps_the_query(client: TestClient, session: Session) -> None:
    make_activities(session)
    params = [("status", "planned"), ("status", "in_progress"), ("sort", "planned_start,-code"), ("limit", "2")]
    first = client.get("/v1/activities", params=tuple(params))
    cursor = first.json()["next_cursor"]
    link = next_link(first)
    assert link is not None
    assert link.startswith("http://testserver/v1/activities?")
    assert sorted(parse_qsl(urlsplit(link).query)) == sorted([*params, ("cursor", cursor)])
    second = client.get(link)
    assert second.status_code == 200
    second_link = next_link(second)
    assert second_link is not None
    # The cursor is replaced, not repeated.
    assert sorted(parse_qsl(urlsplit(second_link).query)) == sorted([*params, ("cursor", second.json()["next_cursor"])])


def test_default_limit_is_50(client: TestClient, session: Session) -> None:
    for _ in range(51):
        make_partner(session)
    first = client.get("/v1/partners").json()
    assert len(first["items"]) == 50
    rest = client.get("/v1/partners", params={"cursor": first["next_cursor"]}).json()
    assert len(rest["items"]) == 1
    assert rest.get("next_cursor") is None


@pytest.mark.parametrize("limit", ["1", "200"])
def test_limit_bounds_are_accepted(client: TestClient, limit: str) -> None:
    assert client.get("/v1/activities", params={"limit": limit}).status_code == 200


@pytest.mark.parametrize("limit", ["0", "201", "-1", str(10**30), "ten", "1.5"])
@pytest.mark.parametrize("path", [c.path for c in COLLECTIONS])
def test_limit_out_of_range_is_422_not_cut(client: TestClient, path: str, limit: str) -> None:
    response = client.get(path, params={"limit": limit})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "VALIDATION_FAILED"
    assert [(e["in"], e["pointer"]) for e in body["errors"]] == [("query", "/limit")]


# Cursors


def first_cursor(client: TestClient, path: str, params: Params) -> str:
    body = client.get(path, params=tuple(params)).json()
    assert isinstance(body["next_cursor"], str), body
    return body["next_cursor"]


def test_tampered_cursor_is_400_invalid_cursor(client: TestClient, session: Session) -> None:
    make_partners(session)
    cursor = first_cursor(client, "/v1/partners", [("limit", "1")])
    body, signature = cursor.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["k"][0] = "N05"
    forged = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).rstrip(b"=").decode()
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    for bad in [f"{forged}.{signature}", f"{body}.{flipped}", f"{body}.", body, "garbage", "a.b.c", "!!.??"]:
        response = client.get("/v1/partners", params={"limit": 1, "cursor": bad})
        assert response.status_code == 400, bad
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json() == INVALID_CURSOR, bad


@pytest.mark.parametrize("bad", ["é", "\u2603", "é.x", "\u0000.\u0000"])
def test_non_ascii_cursor_is_400_invalid_cursor_not_500(client: TestClient, session: Session, bad: str) -> None:
    make_partners(session)
    body = first_cursor(client, "/v1/partners", [("limit", "1")]).split(".")[0]
    for cursor in [bad, f"{body}.{bad}"]:
        response = client.get("/v1/partners", params={"limit": 1, "cursor": cursor})
        assert response.status_code == 400, cursor
        assert response.json() == INVALID_CURSOR, cursor


def test_cursor_with_other_filters_or_sort_is_400_cursor_mismatch(client: TestClient, session: Session) -> None:
    make_activities(session)
    params: Params = [("status", "planned"), ("sort", "planned_start,-code"), ("limit", "1")]
    cursor = first_cursor(client, "/v1/activities", params)
    others: list[Params] = [
        [("status", "completed"), ("sort", "planned_start,-code")],
        [("sort", "planned_start,-code")],
        [("status", "planned")],
        [("status", "planned"), ("sort", "-code")],
        [("status", "planned"), ("status", "completed"), ("sort", "planned_start,-code")],
        [("status", "planned"), ("sort", "planned_start,-code"), ("type", "monitoring")],
    ]
    for other in others:
        response = client.get("/v1/activities", params=[*other, ("limit", "1"), ("cursor", cursor)])
        assert response.status_code == 400, other
        assert response.json() == CURSOR_MISMATCH, other


def test_cursor_of_another_collection_is_400(client: TestClient, session: Session) -> None:
    make_partners(session)
    make_activities(session)
    cursor = first_cursor(client, "/v1/partners", [("limit", "1")])
    for path in ["/v1/activities", "/v1/work-plans", "/v1/objectives", "/v1/government-reports"]:
        response = client.get(path, params={"limit": 1, "cursor": cursor})
        assert response.status_code == 400, path
        assert response.json() == CURSOR_MISMATCH, path


def test_changing_only_the_limit_keeps_the_cursor_valid(client: TestClient, session: Session) -> None:
    make_activities(session)
    params: Params = [("sort", "planned_start,-code")]
    whole = ids_of(client.get("/v1/activities", params=[*params, ("limit", "200")]))
    first = client.get("/v1/activities", params=[*params, ("limit", "1")]).json()
    rest = walk(client, "/v1/activities", [*params, ("limit", "4"), ("cursor", first["next_cursor"])])
    assert [first["items"][0]["id"]] + [item["id"] for item in rest] == whole


# Parameters


@pytest.mark.parametrize("path", [c.path for c in COLLECTIONS])
def test_unknown_query_parameter_is_422_naming_it(client: TestClient, path: str) -> None:
    response = client.get(path, params={"colour": "red"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == invalid_request("/colour", "Extra inputs are not permitted", "query")


@pytest.mark.parametrize("sort", ["colour", "id", "-id", "code,code", "code,-code", "-", "code,", "notes", ""])
def test_unknown_or_repeated_sort_field_is_400_invalid_sort(client: TestClient, sort: str) -> None:
    response = client.get("/v1/activities", params={"sort": sort})
    assert response.status_code == 400, sort
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "INVALID_SORT"
    assert body["status"] == 400
    assert "errors" not in body


def test_private_field_is_not_sortable(client: TestClient) -> None:
    assert client.get("/v1/partners", params={"sort": "contact_email"}).json()["code"] == "INVALID_SORT"
    assert client.get("/v1/government-reports", params={"sort": "notes"}).json()["code"] == "INVALID_SORT"


@pytest.mark.parametrize(
    ("path", "start", "end"),
    [
        ("/v1/activities", "planned_start_from", "planned_start_to"),
        ("/v1/activities", "actual_end_from", "actual_end_to"),
        ("/v1/work-plans", "period_start_from", "period_start_to"),
        ("/v1/government-reports", "due_date_from", "due_date_to"),
        ("/v1/partners", "active_from_from", "active_from_to"),
        ("/v1/partners", "active_to_from", "active_to_to"),
    ],
)
def test_range_with_from_after_to_is_422(client: TestClient, path: str, start: str, end: str) -> None:
    response = client.get(path, params={start: "2003-03-01", end: "2003-02-28"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "VALIDATION_FAILED"
    # A parameter's pointer is `/name` (API.md): the bound that is out of order.
    assert [(e["in"], e["pointer"]) for e in body["errors"]] == [("query", f"/{end}")]
    assert client.get(path, params={start: "2003-03-01", end: "2003-03-01"}).status_code == 200


@pytest.mark.parametrize(
    ("path", "params", "pointer"),
    [
        ("/v1/activities", {"status": "done"}, "/status/0"),
        ("/v1/activities", {"country": "ZZZ"}, "/country/0"),
        ("/v1/activities", {"partner_id": "not-a-uuid"}, "/partner_id/0"),
        ("/v1/activities", {"planned_start_from": "2003-02-30"}, "/planned_start_from"),
        ("/v1/activities", {"updated_after": "yesterday"}, "/updated_after"),
        ("/v1/government-reports", {"committee_session": str(10**20)}, "/committee_session/0"),
        ("/v1/government-reports", {"is_overdue": "perhaps"}, "/is_overdue"),
        ("/v1/partners", {"active_on": "soon"}, "/active_on"),
    ],
)
def test_malformed_filter_value_is_422_pointing_at_it(
    client: TestClient, path: str, params: dict[str, str], pointer: str
) -> None:
    response = client.get(path, params=params)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [(e["in"], e["pointer"]) for e in errors] == [("query", pointer)]


# Filters


def test_repeated_filter_is_or_and_different_filters_are_and(client: TestClient, session: Session) -> None:
    objective = make_objective(session)
    planned = make_activity(session, objective_id=objective.id, status="planned", type="monitoring")
    running = make_activity(session, objective_id=objective.id, status="in_progress", type="meeting")
    make_activity(session, objective_id=objective.id, status="completed", type="monitoring")
    either = [("status", "planned"), ("status", "in_progress")]
    assert listed(client, "/v1/activities", either) == {str(planned.id), str(running.id)}
    assert listed(client, "/v1/activities", [*either, ("type", "meeting")]) == {str(running.id)}
    assert listed(client, "/v1/activities", [("status", "cancelled"), ("type", "meeting")]) == set()


def test_activity_filters_on_links_and_parents(client: TestClient, session: Session) -> None:
    plan = make_work_plan(session)
    objective = make_objective(session, work_plan_id=plan.id)
    other_objective = make_objective(session)
    lead, funder = make_partner(session), make_partner(session)
    report, other_report = make_report(session), make_report(session)
    kenya_mexico = make_activity(
        session,
        objective_id=objective.id,
        countries=["KEN", "MEX"],
        participants=[{"partner_id": lead.id, "role": "lead"}, {"partner_id": funder.id, "role": "funder"}],
        government_report_ids=[report.id],
    )
    mexico = make_activity(
        session,
        objective_id=other_objective.id,
        countries=["MEX"],
        participants=[{"partner_id": funder.id, "role": "lead"}],
        government_report_ids=[report.id, other_report.id],
        status="completed",
    )
    nowhere = make_activity(session, objective_id=objective.id)
    a, b, c = str(kenya_mexico.id), str(mexico.id), str(nowhere.id)
    cases: list[tuple[Params, set[str]]] = [
        ([("country", "KEN")], {a}),
        ([("country", "ken")], {a}),
        ([("country", "MEX")], {a, b}),
        ([("country", "KEN"), ("country", "MEX")], {a, b}),
        ([("country", "BRA")], set()),
        ([("partner_id", str(lead.id))], {a}),
        ([("partner_id", str(funder.id))], {a, b}),
        ([("role", "funder")], {a}),
        ([("role", "lead")], {a, b}),
        # partner and role describe the same participant
        ([("partner_id", str(funder.id)), ("role", "lead")], {b}),
        ([("partner_id", str(lead.id)), ("role", "funder")], set()),
        ([("government_report_id", str(report.id))], {a, b}),
        ([("government_report_id", str(other_report.id))], {b}),
        ([("objective_id", str(objective.id))], {a, c}),
        ([("objective_id", str(objective.id)), ("objective_id", str(other_objective.id))], {a, b, c}),
        ([("work_plan_id", str(plan.id))], {a, c}),
        ([("work_plan_id", str(other_objective.work_plan_id))], {b}),
        ([("status", "completed")], {b}),
        ([("status", "planned"), ("country", "MEX")], {a}),
    ]
    for params, expected in cases:
        assert listed(client, "/v1/activities", params) == expected, params
    # An activity matching through two participants or countries still appears once.
    items = walk(client, "/v1/activities", [("country", "KEN"), ("country", "MEX"), ("role", "lead"), ("limit", "1")])
    assert sorted(item["id"] for item in items) == sorted([a, b])


def test_date_ranges_are_inclusive(client: TestClient, session: Session) -> None:
    objective = make_objective(session)
    days = [date(2003, 1, 31), date(2003, 2, 1), date(2003, 2, 28), date(2003, 3, 1), None]
    ids = [str(make_activity(session, objective_id=objective.id, planned_start=day).id) for day in days]
    window: Params = [("planned_start_from", "2003-02-01"), ("planned_start_to", "2003-02-28")]
    assert listed(client, "/v1/activities", window) == {ids[1], ids[2]}
    assert listed(client, "/v1/activities", [("planned_start_from", "2003-02-28")]) == {ids[2], ids[3]}
    assert listed(client, "/v1/activities", [("planned_start_to", "2003-01-31")]) == {ids[0]}
    due = [date(2004, 5, 14), date(2004, 5, 15), date(2004, 5, 16)]
    reports = [str(make_report(session, due_date=day).id) for day in due]
    same_day: Params = [("due_date_from", "2004-05-15"), ("due_date_to", "2004-05-15")]
    assert listed(client, "/v1/government-reports", same_day) == {reports[1]}


def test_updated_after_is_strictly_after(client: TestClient, session: Session) -> None:
    old, new = make_partner(session), make_partner(session)
    old.updated_at = datetime(2001, 1, 1, 12, 0, 0)
    new.updated_at = datetime(2001, 6, 1, 12, 0, 0, 500_000)
    session.add_all([old, new])
    session.flush()
    assert listed(client, "/v1/partners", [("updated_after", "2001-03-01T00:00:00Z")]) == {str(new.id)}
    assert listed(client, "/v1/partners", [("updated_after", "2001-06-01T12:00:00.500Z")]) == set()
    assert listed(client, "/v1/partners", [("updated_after", "2001-06-01T12:00:00.499Z")]) == {str(new.id)}
    assert listed(client, "/v1/partners", [("updated_after", "2001-06-01T14:00:00.499+02:00")]) == {str(new.id)}
    assert listed(client, "/v1/partners", [("updated_after", "2000-12-31T00:00:00Z")]) == {str(old.id), str(new.id)}


@pytest.mark.parametrize("instant", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_updated_after_beyond_the_calendar_is_422_not_500(client: TestClient, instant: str) -> None:
    for path in [c.path for c in COLLECTIONS]:
        response = client.get(path, params={"updated_after": instant})
        assert response.status_code == 422, path
        assert pointers(response.json()) == [("query", "/updated_after")]


@pytest.mark.parametrize("instant", ["0.5", "1700000000", "2003-06-30", "2003-06-30T12:00:00", "2003-06-30 12:00Z"])
def test_updated_after_is_an_rfc_3339_date_time_never_a_number(client: TestClient, instant: str) -> None:
    for path in [c.path for c in COLLECTIONS]:
        response = client.get(path, params={"updated_after": instant})
        assert response.status_code == 422, path
        assert response.json()["errors"] == [
            {
                "in": "query",
                "pointer": "/updated_after",
                "message": "must be a timestamp written YYYY-MM-DDTHH:MM:SSZ (RFC 3339)",
            }
        ]


@pytest.mark.parametrize("instant", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z"])
def test_updated_after_at_the_ends_of_the_calendar_is_accepted(
    client: TestClient, session: Session, instant: str
) -> None:
    partner = make_partner(session)
    expected = {str(partner.id)} if instant.startswith("0001") else set()
    assert listed(client, "/v1/partners", [("updated_after", instant)]) == expected


def test_updated_after_sees_a_patch(client: TestClient, session: Session) -> None:
    activity = make_activity(session)
    before = client.get(f"/v1/activities/{activity.id}").json()["updated_at"]
    assert listed(client, "/v1/activities", [("updated_after", before)]) == set()
    patched = client.patch(f"/v1/activities/{activity.id}", json={"status": "completed"}).json()
    if patched["updated_at"] > before:
        assert listed(client, "/v1/activities", [("updated_after", before)]) == {str(activity.id)}


def test_partner_active_on_counts_open_ends_as_active(client: TestClient, session: Session) -> None:
    always = make_partner(session)
    commission = make_partner(session, active_from=date(1946, 1, 1), active_to=date(2006, 6, 16))
    council = make_partner(session, active_from=date(2006, 6, 19))
    ended = make_partner(session, active_to=date(2001, 12, 31))
    cases = [
        ("2006-06-16", [always, commission]),
        ("2006-06-17", [always]),
        ("2006-06-19", [always, council]),
        ("2001-12-31", [always, commission, ended]),
        ("1900-01-01", [always, ended]),
    ]
    for day, expected in cases:
        assert listed(client, "/v1/partners", [("active_on", day)]) == {str(p.id) for p in expected}, day


def test_report_is_overdue_filter_agrees_with_the_is_overdue_field(client: TestClient, session: Session) -> None:
    today = utcnow().date()
    overdue = make_report(session, due_date=today - timedelta(days=30))
    due_today = make_report(session, due_date=today)
    upcoming = make_report(session, due_date=today + timedelta(days=30))
    submitted_late = make_report(session, due_date=today - timedelta(days=30), submitted_date=today - timedelta(days=1))
    no_due_date = make_report(session)
    everything = walk(client, "/v1/government-reports", [("limit", "200")])
    assert {item["id"] for item in everything if item["is_overdue"]} == {str(overdue.id)}
    assert listed(client, "/v1/government-reports", [("is_overdue", "true")]) == {str(overdue.id)}
    assert listed(client, "/v1/government-reports", [("is_overdue", "false")]) == {
        str(r.id) for r in (due_today, upcoming, submitted_late, no_due_date)
    }


def test_report_committee_session_and_monitored_by_filters(client: TestClient, session: Session) -> None:
    focal_point, member = make_partner(session), make_partner(session)
    s40 = make_report(session, committee_session=40, monitored_by=[focal_point.id])
    s41 = make_report(session, committee_session=41, monitored_by=[focal_point.id, member.id])
    unscheduled = make_report(session, monitored_by=[member.id])
    path = "/v1/government-reports"
    assert listed(client, path, [("committee_session", "40")]) == {str(s40.id)}
    assert listed(client, path, [("committee_session", "40"), ("committee_session", "41")]) == {
        str(s40.id),
        str(s41.id),
    }
    assert listed(client, path, [("monitored_by", str(member.id))]) == {str(s41.id), str(unscheduled.id)}
    assert listed(client, path, [("monitored_by", str(focal_point.id)), ("monitored_by", str(member.id))]) == {
        str(s40.id),
        str(s41.id),
        str(unscheduled.id),
    }
    assert listed(client, path, [("monitored_by", str(focal_point.id)), ("committee_session", "41")]) == {str(s41.id)}


def test_deleted_records_never_appear(client: TestClient, session: Session) -> None:
    partner = make_partner(session, name="Gone partner", kind="caucus")
    kept_partner = make_partner(session, kind="caucus")
    report = make_report(session, committee_session=40, monitored_by=[kept_partner.id])
    kept_report = make_report(session, committee_session=40)
    plan = make_work_plan(session, code="GONE")
    objective = make_objective(session)
    activity = make_activity(
        session,
        objective_id=objective.id,
        countries=["KEN"],
        participants=[{"partner_id": kept_partner.id, "role": "lead"}],
        government_report_ids=[kept_report.id],
    )
    kept_activity = make_activity(
        session,
        objective_id=objective.id,
        countries=["KEN"],
        participants=[{"partner_id": kept_partner.id, "role": "lead"}],
        government_report_ids=[kept_report.id],
    )
    for path, record_id in [
        ("/v1/activities", activity.id),
        ("/v1/government-reports", report.id),
        ("/v1/partners", partner.id),
        ("/v1/work-plans", plan.id),
    ]:
        assert client.delete(f"{path}/{record_id}").status_code == 204
    assert listed(client, "/v1/activities", []) == {str(kept_activity.id)}
    for params in (
        [("country", "KEN")],
        [("partner_id", str(kept_partner.id))],
        [("government_report_id", str(kept_report.id))],
        [("objective_id", str(objective.id))],
    ):
        assert listed(client, "/v1/activities", params) == {str(kept_activity.id)}
    assert listed(client, "/v1/government-reports", [("committee_session", "40")]) == {str(kept_report.id)}
    assert listed(client, "/v1/government-reports", [("monitored_by", str(kept_partner.id))]) == set()
    assert listed(client, "/v1/partners", [("kind", "caucus")]) == {str(kept_partner.id)}
    assert listed(client, "/v1/work-plans", [("code", "GONE")]) == set()
    assert str(plan.id) not in listed(client, "/v1/work-plans", [])
    assert client.delete(f"/v1/activities/{kept_activity.id}").status_code == 204
    assert client.delete(f"/v1/objectives/{objective.id}").status_code == 204
    assert str(objective.id) not in listed(client, "/v1/objectives", [])
    assert listed(client, "/v1/objectives", [("work_plan_id", str(objective.work_plan_id))]) == set()
