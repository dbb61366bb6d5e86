"""workplan: the subgroup's work plan and its monitoring of State party reports, as a JSON API."""

from sqlmodel import SQLModel

# Must run before any table class exists: unnamed constraints cannot be dropped
# or altered by Alembic's batch mode on SQLite.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
