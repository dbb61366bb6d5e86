"""Migrations and models agree, and upgrade / downgrade / upgrade run, on every database."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.config import Config
from pytest_alembic.tests import (
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
from sqlalchemy import Engine

from app.db import create_db_engine
from app.migrations import alembic_config as project_alembic_config
from tests.conftest import DATABASES, fresh_database_url

__all__ = [
    "test_model_definitions_match_ddl",
    "test_single_head_revision",
    "test_up_down_consistency",
    "test_upgrade",
]


@pytest.fixture
def alembic_config() -> Config:
    config = project_alembic_config()
    config.attributes["configure_logger"] = False
    return config


@pytest.fixture(params=DATABASES)
def alembic_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    engine = create_db_engine(fresh_database_url(request.param, tmp_path, "_migrations"), pool_size=1)
    yield engine
    engine.dispose()
