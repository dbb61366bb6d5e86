"""Settings, read from the environment with the WORKPLAN_ prefix (and from a .env file)."""

import os
import secrets
import tempfile
from functools import cached_property, lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WORKPLAN_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///workplan.db",
        description="SQLAlchemy URL: a SQLite file, or postgresql+psycopg://user@host/db.",
    )
    secret_key: str | None = Field(
        default=None,
        description=(
            "Signs list cursors. Set it when several processes serve the same database; "
            "unset, a key is generated once and kept in `secret_key_file`."
        ),
    )
    secret_key_file: Path = Field(
        default=Path(".workplan-secret"),
        description="Where the generated signing key is kept when `secret_key` is unset.",
    )
    pool_size: int = Field(
        default=40,
        ge=1,
        description="PostgreSQL connections per process; match the thread pool (40 by default).",
    )
    db_connect_timeout: int = Field(
        default=5,
        ge=1,
        description="Seconds to wait for a new PostgreSQL connection before the request answers 503.",
    )
    db_pool_timeout: float = Field(
        default=10,
        gt=0,
        description="Seconds a request waits for a free pooled connection before it answers 503.",
    )
    tombstone_days: int = Field(
        default=30,
        ge=1,
        description=(
            "Deleted records stay in /v1/changes as tombstones at least this long; "
            "`workplan purge-tombstones` removes older ones, and older cursors get 410."
        ),
    )
    anonymous_read: bool = Field(
        default=True,
        description="Whether reads of public fields work without a key; writes always need one.",
    )
    echo_sql: bool = Field(default=False, description="Log every SQL statement.")
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=0,
        description="Request bodies above this many bytes are refused with 413, chunked ones too.",
    )
    rate_limit_per_minute: int = Field(
        default=600,
        ge=0,
        description="Requests under /v1 a minute for each API key (Bearer token); 0 turns the limit off.",
    )
    anonymous_rate_limit_per_minute: int = Field(
        default=120,
        ge=0,
        description="Requests under /v1 a minute for each client address without a key; 0 turns it off.",
    )

    @cached_property
    def signing_key(self) -> bytes:
        # Read once: every page with a next cursor is signed with it.
        if self.secret_key:
            return self.secret_key.encode()
        path = self.secret_key_file
        if not path.exists():
            # Written aside then linked into place: of several workers starting together
            # exactly one key wins, and no worker ever reads a half-written file.
            fd, tmp = tempfile.mkstemp(dir=path.parent or ".")
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32))
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                os.unlink(tmp)
        return path.read_text().strip().encode()


@lru_cache
def get_settings() -> Settings:
    return Settings()
