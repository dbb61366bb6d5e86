from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import Connection, Engine
from sqlmodel import SQLModel

import app.models  # noqa: F401  (registers every table on the metadata)
from app.config import get_settings
from app.db import create_db_engine

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    # Full-text search lives outside the models (see revision 0002): FTS5 tables on SQLite,
    # a generated search_vector column and its GIN index on PostgreSQL.
    if type_ == "table" and name is not None and (name.endswith("_fts") or "_fts_" in name):
        return False
    return not (name is not None and ("search_vector" in name))


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # Callers (the tests, pytest-alembic) may hand over a connection or an engine.
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        run_on(given)
        return
    if isinstance(given, Engine):
        engine = given
    else:
        url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
        engine = create_db_engine(url, pool_size=1)
    with engine.connect() as connection:
        run_on(connection)
    if given is None:
        engine.dispose()


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
