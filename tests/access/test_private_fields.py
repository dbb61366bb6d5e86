"""Who reads private fields (API.md, Access): editors and admins on every record, a partner key on
its own partner's records, reader keys and anonymous callers never; on every way out."""

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.access.keys import new_key
from app.models.access import Role
from app.models.partners import Partner, PartnerPublic, PartnerWithContacts
from app.reads import PrivateReaders, Reader
from tests.factories import make_activity, make_partner, make_report

PRIVATE = {
    "partner_a": {"contact_name": "Ana Alves", "contact_email": "ana@ecpat.example", "notes": "A: call first"},
    "partner_b": {"contact_name": "Bo Berg", "contact_email": "bo@stc.example", "notes": "B: email only"},
    "report_a": {"notes": "A: draft seen"},
    "report_b": {"notes": "B: late again"},
    "report_unowned": {"notes": "Coordinator's note"},
}
PARTNERS = ("partner_a", "partner_b")
REPORTS = ("report_a", "report_b", "report_unowned")
PARTNER_FIELDS = ("contact_name", "contact_email", "notes")
EVERY = frozenset(PRIVATE)
READS = {
    "anonymous": frozenset[str](),
    "reader": frozenset[str](),
    "partner_a": frozenset({"partner_a", "report_a"}),
    "partner_b": frozenset({"partner_b", "report_b"}),
    "editor": EVERY,
    "admin": EVERY,
}
CALLERS = list(READS)


@dataclass
class World:
    client: TestClient
    ids: dict[str, str]  # record name -> id
    keys: dict[str, str]  # caller -> key
    activity_id: str

    def headers(self, caller: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[caller]}"} if caller in self.keys else {}

    def get(self, caller: str, url: str, **params: Any) -> Any:
        response = self.client.get(url, params=params, headers=self.headers(caller))
        assert response.status_code == 200, response.text
        return response

    def follow(self, caller: str, location: str) -> Any:
        """GET a Location: resolved as a browser would, since it carries the root path if any."""
        response = self.client.get(str(self.client.base_url.join(location)), headers=self.headers(caller))
        assert response.status_code == 200, response.text
        return response

    def named(self, items: list[dict[str, Any]], names: tuple[str, ...]) -> dict[str, dict[str, Any]]:
        """The private fields each of the named records carries, by name."""
        by_id = {item["id"]: item for item in items}
        return {name: private_of(name, by_id[self.ids[name]]) for name in names}


def private_of(name: str, item: dict[str, Any]) -> dict[str, Any]:
    """The private fields in an item (a CSV row's empty cells do not count)."""
    fields = PARTNER_FIELDS if name in PARTNERS else ("notes",)
    return {field: item[field] for field in fields if item.get(field) not in (None, "")}


@pytest.fixture
def world(anonymous_client: TestClient, session: Session) -> World:
    a = make_partner(session, name="ECPAT International", **PRIVATE["partner_a"])
    b = make_partner(session, name="Save the Children", **PRIVATE["partner_b"])
    reports = {
        "report_a": make_report(session, country="KEN", owner_partner_id=a.id, **PRIVATE["report_a"]),
        "report_b": make_report(session, country="KEN", owner_partner_id=b.id, **PRIVATE["report_b"]),
        "report_unowned": make_report(session, country="KEN", instrument="OPAC", **PRIVATE["report_unowned"]),
    }
    activity = make_activity(
        session, participants=[{"partner_id": a.id, "role": "lead"}, {"partner_id": b.id, "role": "contributor"}]
    )
    keys = {}
    for caller, role, partner_id in [
        ("reader", Role.READER, None),
        ("partner_a", Role.PARTNER, a.id),
        ("partner_b", Role.PARTNER, b.id),
        ("editor", Role.EDITOR, None),
        ("admin", Role.ADMIN, None),
    ]:
        keys[caller] = new_key(session, name=caller, role=role, partner_id=partner_id)[1]
    ids = {"partner_a": str(a.id), "partner_b": str(b.id)} | {name: str(r.id) for name, r in reports.items()}
    session.flush()
    return World(anonymous_client, ids, keys, str(activity.id))


def by_get(world: World, caller: str) -> dict[str, dict[str, Any]]:
    partners = [world.get(caller, f"/v1/partners/{world.ids[name]}").json() for name in PARTNERS]
    reports = [world.get(caller, f"/v1/government-reports/{world.ids[name]}").json() for name in REPORTS]
    return world.named(partners, PARTNERS) | world.named(reports, REPORTS)


def by_list(world: World, caller: str) -> dict[str, dict[str, Any]]:
    partners = world.get(caller, "/v1/partners", limit=200).json()["items"]
    reports = world.get(caller, "/v1/government-reports", limit=200).json()["items"]
    return world.named(partners, PARTNERS) | world.named(reports, REPORTS)


def by_changes(world: World, caller: str) -> dict[str, dict[str, Any]]:
    page = world.get(caller, "/v1/changes", types=["partner", "government_report"], limit=1000).json()
    assert not page["has_more"]
    return world.named([item["data"] for item in page["items"]], PARTNERS + REPORTS)


def by_ndjson(world: World, caller: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for url, names in [("/v1/partners", PARTNERS), ("/v1/government-reports", REPORTS)]:
        lines = world.get(caller, url, format="ndjson").text.splitlines()
        found |= world.named([json.loads(line) for line in lines], names)
    return found


def by_csv(world: World, caller: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for url, names in [("/v1/partners", PARTNERS), ("/v1/government-reports", REPORTS)]:
        found |= world.named(list(csv.DictReader(io.StringIO(world.get(caller, url, format="csv").text))), names)
    return found


def by_include(world: World, caller: str) -> dict[str, dict[str, Any]]:
    items = world.get(caller, "/v1/activities", include="partners", limit=200).json()["items"]
    (activity,) = [item for item in items if item["id"] == world.activity_id]
    return world.named(activity["partners"], PARTNERS)


def by_country(world: World, caller: str) -> dict[str, dict[str, Any]]:
    return world.named(world.get(caller, "/v1/countries/KEN/reporting").json()["reports"], REPORTS)


WAYS: dict[str, Callable[[World, str], dict[str, dict[str, Any]]]] = {
    "get": by_get,
    "list": by_list,
    "changes": by_changes,
    "ndjson": by_ndjson,
    "csv": by_csv,
    "include=partners": by_include,
    "country reporting": by_country,
}


@pytest.mark.parametrize("way", list(WAYS))
@pytest.mark.parametrize("caller", CALLERS)
def test_each_caller_reads_exactly_the_private_fields_the_rule_gives_it(world: World, caller: str, way: str) -> None:
    seen = WAYS[way](world, caller)
    assert seen == {name: PRIVATE[name] if name in READS[caller] else {} for name in seen}


@pytest.mark.parametrize("caller", CALLERS)
def test_csv_has_private_columns_only_for_callers_who_may_read_some(world: World, caller: str) -> None:
    header = world.get(caller, "/v1/partners", format="csv").text.splitlines()[0].split(",")
    assert [name for name in header if name in PARTNER_FIELDS] == (list(PARTNER_FIELDS) if READS[caller] else [])


def test_a_record_read_without_its_private_fields_is_its_public_representation(world: World) -> None:
    url = f"/v1/partners/{world.ids['partner_a']}"
    anonymous, own, other = (world.get(caller, url) for caller in ("anonymous", "partner_a", "partner_b"))
    assert other.content == anonymous.content
    assert other.headers["etag"] == anonymous.headers["etag"] != own.headers["etag"]
    assert own.headers["vary"] == "Authorization"
    # A tag of what one caller saw is not a 304 for a caller who sees other bytes.
    stale = world.client.get(url, headers={**world.headers("partner_b"), "If-None-Match": own.headers["etag"]})
    assert (stale.status_code, stale.content) == (200, anonymous.content)
    same = world.client.get(url, headers={**world.headers("partner_a"), "If-None-Match": own.headers["etag"]})
    assert (same.status_code, same.content) == (304, b"")


def test_a_partner_keys_list_differs_from_another_partners_in_its_etag(world: World) -> None:
    own = world.get("partner_a", "/v1/government-reports", limit=200)
    other = world.get("partner_b", "/v1/government-reports", limit=200)
    assert own.headers["etag"] != other.headers["etag"]
    stale = world.client.get(
        "/v1/government-reports",
        params={"limit": 200},
        headers={**world.headers("partner_b"), "If-None-Match": own.headers["etag"]},
    )
    assert (stale.status_code, stale.content) == (200, other.content)


@pytest.mark.parametrize(
    ("url", "params"),
    [("/v1/partners", {"format": "csv"}), ("/v1/partners", {"format": "ndjson"}), ("/v1/changes", {})],
)
def test_exports_and_the_feed_vary_by_the_callers_key(world: World, url: str, params: dict[str, str]) -> None:
    assert world.get("editor", url, **params).headers["vary"] == "Authorization"


@pytest.mark.parametrize("caller", ["partner_a", "editor"])
def test_writes_answer_as_the_callers_get_and_its_etag_is_the_if_match_of_its_next_write(
    world: World, caller: str
) -> None:
    headers = world.headers(caller)
    url = f"/v1/government-reports/{world.ids['report_a']}"
    before = world.get(caller, url)
    assert before.json()["notes"] == PRIVATE["report_a"]["notes"]
    patched = world.client.patch(
        url, json={"status": "submitted"}, headers={**headers, "If-Match": before.headers["etag"]}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["notes"] == PRIVATE["report_a"]["notes"]
    after = world.get(caller, url)
    assert (patched.content, patched.headers["etag"]) == (after.content, after.headers["etag"])
    # The tag another caller saw (the public representation) is not this caller's: 412.
    public_tag = world.get("anonymous", url).headers["etag"]
    refused = world.client.patch(url, json={"status": "reviewed"}, headers={**headers, "If-Match": public_tag})
    assert refused.status_code == 412


def test_a_partner_keys_new_records_answer_with_their_private_fields(world: World) -> None:
    headers = world.headers("partner_a")
    body = {"country": "KEN", "instrument": "OPSC", "kind": "initial", "notes": "mine"}
    created = world.client.post("/v1/government-reports", json=body, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["notes"] == "mine"
    assert created.headers["etag"] == world.follow("partner_a", created.headers["location"]).headers["etag"]
    put = world.client.put("/v1/government-reports/by-ref/a-1", json=body | {"cycle_from": 1}, headers=headers)
    assert put.status_code == 201, put.text
    assert put.json()["notes"] == "mine"
    assert "notes" not in world.follow("partner_b", put.headers["location"]).json()


def test_private_readers_need_the_full_model_to_extend_the_public_one() -> None:
    # Else an item without its private fields would not be the public item (nor have its ETag).
    with pytest.raises(TypeError, match="PartnerPublic must hold PartnerWithContacts's fields, in order"):
        PrivateReaders(Reader(PartnerWithContacts, Partner), Reader(PartnerPublic, Partner), owner="id")
