"""At 100,000 activities, PostgreSQL answers every indexed list filter without scanning the table."""

import re
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import Session

from app.activities.service import ActivityListParams, list_activities
from app.seed.service import load_seed, seed_id

STATUSES = ["planned", "in_progress", "completed", "cancelled", "suspended"]
TYPES = ["publication", "monitoring", "thematic_analysis", "advocacy", "consultation", "meeting", "partnership"]
SEQ_SCAN = re.compile(r"Seq Scan on activity\b(?!_)")

FILTERS: list[dict[str, Any]] = [
    {"status": ["planned"], "sort": "-updated_at"},
    {"status": ["planned", "in_progress"]},
    {"type": ["meeting"]},
    {"level": ["regional"], "sort": "-updated_at"},
    {"objective_id": [seed_id("objective", "2003/3")]},
    {"work_plan_id": [seed_id("work_plan", "2003")], "sort": "-updated_at"},
    {"country": ["KEN"]},
    {"partner_id": [seed_id("partner", "focal-point")], "role": ["focal_point"]},
    {"planned_start_from": "2005-01-01", "planned_start_to": "2005-01-31"},
    {"planned_end_from": "2006-03-01", "planned_end_to": "2006-03-02"},
    {"updated_after": "2026-11-01T00:00:00Z", "sort": "-updated_at"},
    {"q": "exploitation 4242"},
    {"sort": "title"},
    {"sort": "-created_at"},
    {"sort": "planned_start"},
]


def _generate(session: Session) -> None:
    load_seed(session)
    session.exec(  # type: ignore[call-overload]
        text(
            """
            INSERT INTO activity (id, version, created_at, updated_at, objective_id, work_plan_id, code, title,
                                  description, status, type, level, planned_start, planned_end)
            SELECT gen_random_uuid(), 1, now() - n * interval '1 minute', now() - n * interval '1 minute',
                   (SELECT id FROM objective ORDER BY position OFFSET n % 6 LIMIT 1), :plan, 'GEN-' || n,
                   'Generated activity ' || n, 'On exploitation, number ' || n,
                   (CAST(:statuses AS text[]))[1 + n % 5], (CAST(:types AS text[]))[1 + n % 7],
                   (ARRAY['international', 'regional', 'national'])[1 + n % 3],
                   date '2003-01-01' + n % 3650, date '2003-01-01' + n % 3650 + 60
            FROM generate_series(1, 100000) AS n
            """
        ).bindparams(plan=seed_id("work_plan", "2003"), statuses=STATUSES, types=TYPES)
    )
    session.exec(  # type: ignore[call-overload]
        text(
            """
            INSERT INTO activity_country (activity_id, country)
            SELECT id, (ARRAY['KEN', 'FRA', 'MEX', 'IND', 'BRA'])[1 + abs(hashtext(code)) % 5]
            FROM activity WHERE code LIKE 'GEN-%'
            """
        )
    )
    for table in ("activity", "activity_country", "activity_participant", "objective"):
        session.exec(text(f"ANALYZE {table}"))  # type: ignore[call-overload]


@pytest.mark.slow
def test_indexed_filters_never_scan_the_activity_table(session: Session) -> None:
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("query plans are checked on PostgreSQL, which the service runs on in production")
    _generate(session)
    for params in FILTERS:
        statement = list_activities(session, ActivityListParams.model_validate(params)).page_statement()
        compiled = statement.compile(dialect=session.get_bind().dialect, compile_kwargs={"render_postcompile": True})
        connection = session.connection()
        plan = "\n".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params))
        assert not SEQ_SCAN.search(plan), f"{params}:\n{plan}"
