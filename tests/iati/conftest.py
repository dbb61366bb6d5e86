"""The IATI 2.03 standard as pyIATI ships it (a dev dependency installed without its own, old,
dependencies): its activity schema and codelists, found on disk without importing the package."""

import importlib.util
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

import pytest
from lxml import etree

from app.config import get_settings


def _standard() -> Path:
    spec = importlib.util.find_spec("iati")
    assert spec is not None, "pyiati is a dev dependency: run `make install`"
    assert spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "resources" / "standard" / "2-03"


STANDARD = _standard()


@cache
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(STANDARD / "schemas" / "iati-activities-schema.xsd")))


@cache
def codelist(name: str) -> frozenset[str]:
    """The codes of one 2.03 codelist (Sector, Country and Region included)."""
    tree = etree.parse(str(STANDARD / "codelists" / f"{name}.xml"))
    return frozenset(str(code.text) for code in tree.iterfind("codelist-items/codelist-item/code"))


@pytest.fixture
def schema() -> etree.XMLSchema:
    return _schema()


def valid(schema: etree.XMLSchema, document: bytes) -> etree._Element:
    """The document's root, once the 2.03 activity schema has accepted it (or its errors)."""
    root = etree.fromstring(document)
    assert schema.validate(etree.ElementTree(root)), str(schema.error_log)[:2000]
    return root


ORG_ID = "XM-DAC-47000"


@pytest.fixture
def publishing(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """The publisher set up (an organisation id), and a way to change its settings."""

    def set_up(**settings: str) -> None:
        for name, value in settings.items():
            monkeypatch.setenv(f"WORKPLAN_{name.upper()}", value)
        get_settings.cache_clear()

    set_up(iati_org_id=ORG_ID)
    yield set_up
    get_settings.cache_clear()
