"""A subscription's filter: the filter parameters of a type's list (`status`, `country`, ...),
applied by that list's own query to the records that changed, so that a filter means exactly what
the same parameters mean on `GET /v1/<collection>`.

A deletion has no record left to match, so a subscription receives every tombstone of its types:
a receiver may hold the record from when it matched.
"""

import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, get_origin

from pydantic import ValidationError
from sqlmodel import Session, col

from app.activities.service import ActivityListParams, list_activities
from app.errors import ErrorItem, json_pointer
from app.kinds import BY_NAME
from app.lists import Listing, ListParams
from app.objectives.service import ObjectiveListParams, list_objectives
from app.partners.service import PartnerListParams, list_partners
from app.ratifications.service import RatificationListParams, list_ratifications
from app.reports.service import GovernmentReportListParams, list_reports
from app.work_plans.service import WorkPlanListParams, list_work_plans

# How a list pages, sorts, shapes or searches its answer: not what a record is.
NOT_FILTERS = frozenset({"limit", "cursor", "sort", "format", "bom", "include", "q", "updated_after"})


@dataclass(frozen=True)
class Lister:
    params: type[ListParams]
    listing: Callable[[Session, Any], Listing[Any]]

    @property
    def filters(self) -> tuple[str, ...]:
        return tuple(name for name in self.params.model_fields if name not in NOT_FILTERS)


# Each record type's list (tests/webhooks hold it to app/kinds.py: every type, nothing else).
LISTS: Mapping[str, Lister] = {
    "work_plan": Lister(WorkPlanListParams, list_work_plans),
    "partner": Lister(PartnerListParams, list_partners),
    "ratification": Lister(RatificationListParams, list_ratifications),
    "government_report": Lister(GovernmentReportListParams, list_reports),
    "objective": Lister(ObjectiveListParams, list_objectives),
    "activity": Lister(ActivityListParams, list_activities),
}


def _as_given(lister: Lister, name: str, value: Any) -> Any:
    """A single value for a list parameter is that list of one, as `?status=x` is."""
    if get_origin(lister.params.model_fields[name].annotation) is list and not isinstance(value, list):
        return [value]
    return value


def check_filter(types: Sequence[str], filter: Mapping[str, Any]) -> tuple[dict[str, Any], list[ErrorItem]]:
    """The filter in its stored form (each value as the list parameter parses it, in JSON form),
    and what is wrong with it for these types (every type when `types` is empty): each name must be
    a filter of every type's list, and each value valid there."""
    errors: list[ErrorItem] = []
    stored: dict[str, Any] = {}
    for type_name in types or list(BY_NAME):
        lister = LISTS[type_name]
        collection = BY_NAME[type_name].collection
        known = {name: _as_given(lister, name, value) for name, value in filter.items() if name in lister.filters}
        for name in filter:
            if name not in known:
                errors.append(_error(["filter", name], f"is not a filter of the {collection} list"))
        try:
            params = lister.params.model_validate(known)
        except ValidationError as error:
            for problem in error.errors():
                errors.append(_error(["filter", *problem["loc"]], f"{problem['msg']} (in the {collection} list)"))
            continue
        stored.update(params.model_dump(mode="json", include=set(known)))
    return stored, errors


def _error(path: Sequence[int | str], message: str) -> ErrorItem:
    return ErrorItem.model_validate({"in": "body", "pointer": json_pointer(path), "message": message})


def matching(session: Session, type_name: str, filter: Mapping[str, Any], ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these live records of one type the filter lets through, by the list's own query."""
    if not filter or not ids:
        return set(ids)
    lister = LISTS[type_name]
    params = lister.params.model_validate({name: _as_given(lister, name, value) for name, value in filter.items()})
    listing = lister.listing(session, params)
    table = BY_NAME[type_name].table
    statement = listing.statement.with_only_columns(col(table.id)).where(col(table.id).in_(list(ids)))
    return set(session.exec(statement))  # type: ignore[call-overload]
