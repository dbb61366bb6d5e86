"""Every record type is declared once (app/kind.py) and every general mechanism covers the list."""

import pytest

from app.api import PREFIX, routes_of
from app.kind import Kind
from app.kinds import KINDS
from app.main import create_app
from app.openapi import TAGS
from app.sync.feed import PURGE_ORDER, SyncType


def test_each_type_is_listed_after_the_types_it_refers_to() -> None:
    seen: set[str] = set()
    for kind in KINDS:
        referred = {fk.column.table.name for fk in kind.table.__table__.foreign_keys}  # type: ignore[attr-defined]
        assert referred - {kind.name} <= seen, kind.name
        seen.add(kind.name)


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
def test_a_type_is_served_from_its_folder_under_its_path_and_tag(kind: Kind) -> None:
    router = routes_of(kind)
    assert router.prefix == kind.path
    assert router.tags == [kind.title]
    paths = {(path, method.upper()) for path, item in create_app().openapi()["paths"].items() for method in item}
    collection, record = PREFIX + kind.path, f"{PREFIX}{kind.path}/{{{kind.name}_id}}"
    assert {(collection, "GET"), (collection, "POST"), (record, "GET"), (record, "DELETE")} <= paths


def test_the_feed_and_the_docs_cover_every_type() -> None:
    assert sorted(SyncType) == sorted(kind.name for kind in KINDS)
    assert set(PURGE_ORDER) == set(KINDS)
    assert [tag["name"] for tag in TAGS[: len(KINDS)]] == [kind.title for kind in KINDS]


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
def test_a_type_sorts_by_its_own_columns(kind: Kind) -> None:
    for name, column in kind.sortable.items():
        assert column.key == name
        assert column.class_ is kind.table
    assert set(kind.unique) <= set(kind.table.__table__.c.keys())  # type: ignore[attr-defined]
