"""The load test of the issue, in the suite: 64 clients of mixed reads and writes for 60 s against
`workplan serve --workers 2` on PostgreSQL (bench/load.py): no 5xx, and the database holds every
acknowledged write exactly once, whole."""

import pytest
from sqlalchemy import make_url

from bench.load import run
from tests.conftest import POSTGRES_URL

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(POSTGRES_URL is None, reason="needs PostgreSQL: set WORKPLAN_TEST_POSTGRES_URL"),
]


def test_64_clients_for_60_seconds_get_no_5xx_and_every_acknowledged_write_is_stored_once() -> None:
    assert POSTGRES_URL is not None
    base = make_url(POSTGRES_URL)
    # bench.generate.recreate drops only databases named workplan_bench*.
    name = f"workplan_bench{(base.database or '').removeprefix('workplan_ci')}_load"
    report = run(base.set(database=name).render_as_string(hide_password=False), clients=64, duration=60)

    assert report.server_errors == 0, report.operations
    assert report.transport_errors == {}
    assert report.problems == []
    assert report.duration_s >= 60
    assert set(report.operations) == {"list", "get", "search", "create", "patch", "changes"}
    assert report.consistency["acknowledged_creates"] > 0
    assert report.consistency["stored_creates"] == report.consistency["acknowledged_creates"]
    assert report.consistency["acknowledged_patches"] > 0
