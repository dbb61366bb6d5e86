"""Request logs, /metrics and slow statements, through the app and real databases."""

import json
import logging
from typing import Any

import pytest
from anyio import to_thread
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from app.access.keys import new_key
from app.config import Settings, get_settings
from app.db import create_db_engine
from app.main import app
from app.models.access import Role
from app.models.writes import SyncState
from app.observability import JsonFormatter, log_config, observe_engine, route_template
from tests.factories import make_partner
from tests.problems import assert_problem, problem


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    formatter = JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == "workplan.access"]


def sample(text_format: str, name: str, **labels: str) -> float | None:
    """A sample's value in a Prometheus text exposition, or None."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text_format.splitlines():
        metric, _, value = line.rpartition(" ")
        if metric.split("{")[0] == name and ",".join(sorted(metric.partition("{")[2].rstrip("}").split(","))) == (
            wanted
        ):
            return float(value)
    return None


def test_each_request_logs_one_line_with_its_route_template_and_key_id(
    client: TestClient, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    partner = make_partner(session)
    caplog.set_level(logging.INFO, logger="workplan.access")
    secret = "wp_0123456789ab_" + "S" * 43
    response = client.get(
        f"/v1/partners/{partner.id}", headers={"X-Request-ID": "req-42", "Authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 200
    [line] = access_lines(caplog)
    assert line["duration_ms"] > 0
    assert {k: v for k, v in line.items() if k not in ("time", "duration_ms", "message", "pid")} == {
        "level": "INFO",
        "logger": "workplan.access",
        "request_id": "req-42",
        "method": "GET",
        "path": "/v1/partners/{partner_id}",
        "status": 200,
        "key_id": "test-editor",
        "client": "testclient",
    }
    assert str(partner.id) not in json.dumps(line)
    assert secret not in json.dumps(line)


def test_requests_refused_before_routing_are_logged_under_their_route(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(get_settings(), "max_body_bytes", 10)
    caplog.set_level(logging.INFO, logger="workplan.access")
    assert client.post("/v1/partners", json={"name": "x" * 20}).status_code == 413
    assert client.get("/v1/no-such-thing/1").status_code == 404
    assert [(line["path"], line["status"]) for line in access_lines(caplog)] == [
        ("/v1/partners", 413),
        ("unmatched", 404),
    ]


def test_pages_and_docs_are_logged_under_their_route_templates(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    # Routes outside the OpenAPI document have templates too: not all "unmatched" in the metrics.
    caplog.set_level(logging.INFO, logger="workplan.access")
    for path in ["/partners", "/reports", "/reports/RWA", "/docs", "/v1/vocabularies"]:
        client.get(path)
    assert [line["path"] for line in access_lines(caplog)] == [
        "/partners",
        "/reports",
        "/reports/{country}",
        "/docs",
        "/v1/vocabularies",
    ]


def test_the_route_template_ignores_a_proxys_root_path() -> None:
    scope = {"app": app, "path": "/api/v1/activities/by-ref/ABC-1", "root_path": "/api"}
    assert route_template(scope) == "/v1/activities/by-ref/{external_ref}"


def test_route_templates_stay_right_when_requests_repeat_and_routes_share_a_prefix(
    client: TestClient, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    """The template found for a route is remembered (app/observability.py): it must be that
    route's, whatever came before, including a route whose one object serves several paths."""
    partner = make_partner(session)
    caplog.set_level(logging.INFO, logger="workplan.access")
    paths = [
        f"/v1/partners/{partner.id}",
        "/v1/activities/by-ref/REF-1",  # PUT only: 405, under its own template
        f"/v1/partners/{partner.id}",
        "/v1/partners",
        "/static/pages.css",
        "/static/favicon.svg",
        "/v1/activities/by-ref/REF-2",
    ]
    for path in paths:
        client.get(path)
    assert [line["path"] for line in access_lines(caplog)] == [
        "/v1/partners/{partner_id}",
        "/v1/activities/by-ref/{external_ref}",
        "/v1/partners/{partner_id}",
        "/v1/partners",
        "/static/{path:path}",
        "/static/{path:path}",
        "/v1/activities/by-ref/{external_ref}",
    ]


def test_json_and_text_log_configs_format_the_same_record() -> None:
    record = logging.LogRecord("workplan.access", logging.INFO, "", 0, "hello %s", ("world",), None)
    record.status = 200
    line = json.loads(JsonFormatter().format(record))
    assert (line["message"], line["status"], line["level"]) == ("hello world", 200, "INFO")
    assert log_config("json")["formatters"]["default"] == {"()": "app.observability.JsonFormatter"}
    assert "format" in log_config("text")["formatters"]["default"]


@pytest.fixture
def keys(session: Session) -> dict[str, str]:
    return {role: new_key(session, name=role, role=Role(role))[1] for role in ("reader", "admin")}


def test_metrics_need_an_admin_key_by_default(anonymous_client: TestClient, keys: dict[str, str]) -> None:
    anonymous = anonymous_client.get("/metrics")
    assert assert_problem(anonymous, 401, "UNAUTHORIZED") == problem(
        401, "The metrics need an admin key.", "UNAUTHORIZED"
    )
    reader = anonymous_client.get("/metrics", headers={"Authorization": f"Bearer {keys['reader']}"})
    assert_problem(reader, 403, "FORBIDDEN")
    admin = anonymous_client.get("/metrics", headers={"Authorization": f"Bearer {keys['admin']}"})
    assert admin.status_code == 200
    assert admin.headers["content-type"].startswith("text/plain")
    assert "/metrics" not in anonymous_client.get("/openapi.json").json()["paths"]


def test_public_metrics_count_requests_by_route_template_and_show_the_feed_head(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "metrics_public", True)
    partner = make_partner(session)
    labels = {"method": "GET", "route": "/v1/partners/{partner_id}", "status": "200"}
    before = sample(client.get("/metrics").text, "workplan_http_requests_total", **labels) or 0
    for _ in range(3):
        assert client.get(f"/v1/partners/{partner.id}").status_code == 200
    scrape = client.get("/metrics").text
    assert sample(scrape, "workplan_http_requests_total", **labels) == before + 3
    assert sample(scrape, "workplan_http_request_duration_seconds_count", method="GET", route=labels["route"])
    head = session.exec(select(SyncState.change_seq)).one()
    assert sample(scrape, "workplan_changes_head_seq") == head
    age = sample(scrape, "workplan_changes_head_age_seconds")
    assert age is not None
    assert 0 <= age < 60  # the partner made above holds the newest stamp


@pytest.fixture
def observed(engine: Engine) -> Engine:
    """An engine of its own on the test database, with the metrics' and the slow-query hooks."""
    observed = create_db_engine(engine.url.render_as_string(hide_password=False), pool_size=2)
    observe_engine(observed)
    return observed


COUNT_TO = text(
    "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < :private_limit) SELECT count(*) FROM c"
)


def test_slow_statements_are_logged_without_their_parameters_and_counted(
    observed: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="workplan.sql")
    counted = REGISTRY.get_sample_value("workplan_db_slow_queries_total") or 0
    with observed.connect() as connection:
        monkeypatch.setattr(get_settings(), "slow_query_ms", 60_000)
        assert connection.execute(COUNT_TO, {"private_limit": 200_001}).scalar() == 200_001
        assert not caplog.records
        monkeypatch.setattr(get_settings(), "slow_query_ms", 1)
        connection.execute(COUNT_TO, {"private_limit": 200_001})
    observed.dispose()
    [record] = caplog.records
    assert "WITH RECURSIVE" in record.getMessage()
    assert "200001" not in record.getMessage()
    assert "200001" not in JsonFormatter().format(record)
    assert record.duration_ms >= 1  # type: ignore[attr-defined]
    assert REGISTRY.get_sample_value("workplan_db_slow_queries_total") == counted + 1


def test_the_pool_gauges_follow_connections_in_use(observed: Engine) -> None:
    def checked_out() -> float | None:
        return REGISTRY.get_sample_value("workplan_db_pool_checked_out")

    before = checked_out() or 0
    with observed.connect() as first, observed.connect() as second:
        first.execute(text("SELECT 1"))
        second.execute(text("SELECT 1"))
        assert checked_out() == before + 2
    assert checked_out() == before
    observed.dispose()
    assert (REGISTRY.get_sample_value("workplan_db_pool_size") or 0) >= 2


def test_each_worker_runs_routes_in_the_threads_its_pool_is_sized_to(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "threads", 7)
    with TestClient(app) as client:
        assert client.portal is not None
        assert client.portal.call(lambda: to_thread.current_default_thread_limiter().total_tokens) == 7
    assert Settings(threads=7).connections == 7
    assert Settings(threads=7, pool_size=3).connections == 3
