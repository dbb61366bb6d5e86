"""Settings, read from the environment with the WORKPLAN_ prefix (and from a .env file)."""

import ipaddress
import os
import re
import secrets
import tempfile
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import pycountry
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# What a browser sends in Origin: scheme, host and port, lower case, no path (not even a slash).
_ORIGIN = re.compile(r"https?://([a-z0-9.-]+|\[[0-9a-f:.]+\])(:[0-9]{1,5})?")


# Seconds a webhook lease must outlast an attempt's timeout. The dispatcher renews its lease before
# an attempt once `min(lease / 3, lease - timeout - 1)` seconds passed since the last renewal
# (app/webhooks/dispatch.py), so that the attempt ends at least a second before the lease does, to
# record it; under this margin that interval would hit its floor of 0.5 s and the attempt outlast
# the lease. Small enough for a short lease in tests (3 s, with a 1 s timeout).
LEASE_MARGIN = 2.0


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
    threads: int = Field(
        default=40,
        ge=1,
        description="Threads per worker process that run routes (AnyIO's default thread limiter).",
    )
    pool_size: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Database connections per worker process, never exceeded; unset, `threads`, so that every "
            "thread that runs a route can hold a connection."
        ),
    )
    read_pool_size: int = Field(
        default=10,
        ge=1,
        description=(
            "PostgreSQL connections per worker process for the reads that run on the event loop (one "
            "record, or one page of a list without `q`), each held while its answer is made; on top "
            "of `pool_size`."
        ),
    )
    read_time_limit: float = Field(
        default=5,
        gt=0,
        description=(
            "Seconds a read on the event loop (one record, or one page of a list without `q`) may run; past "
            "it the read is stopped and the request answers 503 QUERY_TIMEOUT."
        ),
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
    max_header_bytes: int = Field(
        default=16 * 1024,
        ge=1024,
        description="`workplan serve`: a request line and headers above this many bytes are refused with 431.",
    )
    max_headers: int = Field(
        default=100, ge=10, description="`workplan serve`: a request with more header fields is refused with 431."
    )
    read_timeout: float = Field(
        default=30,
        gt=0,
        description=(
            "Seconds a request's headers may take to arrive (from the connection or the request's first byte), "
            "and the most between two parts of its body; past it the answer is 408 and the connection closes."
        ),
    )
    exports_at_once: int = Field(
        default=8,
        ge=1,
        description="CSV and NDJSON exports one worker process streams at once; past it, 503 EXPORTS_BUSY.",
    )
    exports_per_client: int = Field(
        default=3,
        ge=1,
        description="Exports one key (or address, without a key) may stream at once; past it, 429 TOO_MANY_EXPORTS.",
    )
    rate_limit_per_minute: int = Field(
        default=600,
        ge=0,
        description="Requests to the API and the pages a minute for each valid API key; 0 turns it off.",
    )
    anonymous_rate_limit_per_minute: int = Field(
        default=120,
        ge=0,
        description=(
            "Requests to the API and the pages a minute for each client address without a valid key; 0 turns it off."
        ),
    )
    rate_limit_storage: str = Field(
        default="memory://",
        description=(
            "Where request counts live, as a `limits` storage URI: `memory://` (this process only) or "
            "`redis://host:6379/0`, shared by every worker and instance."
        ),
    )
    rate_limit_key_prefix: str = Field(
        default="workplan",
        min_length=1,
        description="Prefix of the rate limiter's keys in a shared storage (several services, one Redis).",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Origins whose browser pages may call the API, comma-separated (`https://partner.example.org`), "
            "or `*` for any; empty: no CORS headers at all."
        ),
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="`json`: one JSON object a line, with one line per request; `text` for a terminal.",
    )
    metrics_public: bool = Field(
        default=False,
        description="Whether /metrics answers without a key; otherwise it needs an admin key.",
    )
    slow_query_ms: int = Field(
        default=500,
        ge=0,
        description="SQL statements slower than this are logged (without parameters) and counted; 0: none.",
    )

    webhook_allowed_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Networks webhooks may deliver to although they are loopback, private, link-local or otherwise "
            "not public, comma-separated (`127.0.0.1/32,::1/128`); a target resolving into one may also use "
            "http://. Empty: only public https:// targets."
        ),
    )
    webhook_timeout: float = Field(
        default=10,
        gt=0,
        le=60,
        description=(
            "Seconds one webhook delivery attempt may take, connection included; at least "
            f"{LEASE_MARGIN:g} s less than `webhook_lease_seconds`."
        ),
    )
    webhook_retry_hours: float = Field(
        default=24,
        gt=0,
        description=(
            "A subscription whose deliveries keep failing for this long is disabled, with the reason; "
            "retries back off exponentially, with jitter, until then."
        ),
    )
    webhook_lease_seconds: float = Field(
        default=30,
        gt=1,
        description=(
            "How long a dispatcher holds a subscription before another may take it over: a dispatcher that "
            "died is replaced after at most this long, and the change it was delivering is delivered again. "
            f"At least `webhook_timeout` + {LEASE_MARGIN:g} s, so that an attempt ends, and is recorded, "
            "while its dispatcher still holds the lease."
        ),
    )

    iati_org_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=r"^[^/&|?\s]+$",
        description=(
            "The publisher's IATI organisation identifier (`XM-DAC-...`, or a registration agency's prefix and "
            "number, `GB-CHC-1234567`): the IATI export's reporting-org and the prefix of every iati-identifier. "
            "No default: without it the export is refused, since an identifier cannot be made up."
        ),
    )
    iati_org_name: str = Field(
        default="NGO Group for the Convention on the Rights of the Child",
        min_length=1,
        max_length=300,
        description="The reporting organisation's name in the IATI export.",
    )
    iati_org_type: str = Field(
        default="21",
        pattern=r"^[0-9]{2}$",
        description="The reporting organisation's IATI OrganisationType code (21: International NGO).",
    )
    iati_language: str = Field(
        default="en",
        description=(
            "ISO 639-1 code of the language the records are written in: the IATI export's default "
            "language (`xml:lang`) for every narrative."
        ),
    )

    @field_validator("cors_origins", "webhook_allowed_networks", mode="before")
    @classmethod
    def split_list(cls, value: Any) -> Any:
        """The environment gives one comma-separated string."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def check_origins(cls, origins: list[str]) -> list[str]:
        # A browser's Origin is compared as a string: `https://a.org/` would never match, silently.
        origins = [origin.lower() for origin in origins]
        for origin in origins:
            if origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ValueError(f"{origin!r} is not an origin: scheme://host[:port], with no path nor trailing slash")
        return origins

    @field_validator("webhook_allowed_networks")
    @classmethod
    def check_networks(cls, networks: list[str]) -> list[str]:
        # A host address (`127.0.0.1`) is a network of one; a typo must not silently allow nothing.
        return [str(ipaddress.ip_network(network, strict=False)) for network in networks]

    @model_validator(mode="after")
    def check_lease(self) -> Self:
        # A lease that lapses mid-attempt lets a second dispatcher take the subscription over: the
        # same change sent twice at once, and the order lost across the takeover.
        if self.webhook_lease_seconds < self.webhook_timeout + LEASE_MARGIN:
            raise ValueError(
                f"WORKPLAN_WEBHOOK_LEASE_SECONDS ({self.webhook_lease_seconds:g}) must be at least "
                f"WORKPLAN_WEBHOOK_TIMEOUT ({self.webhook_timeout:g}) + {LEASE_MARGIN:g} seconds: a delivery "
                "attempt must end, and be recorded, before another dispatcher may take its subscription over"
            )
        return self

    @field_validator("iati_language")
    @classmethod
    def check_language(cls, code: str) -> str:
        code = code.strip().lower()
        if len(code) != 2 or pycountry.languages.get(alpha_2=code) is None:
            raise ValueError(f"{code!r} is not an ISO 639-1 language code (two letters, such as en or fr)")
        return code

    @property
    def connections(self) -> int:
        """The pool size each worker process opens at most."""
        return self.pool_size or self.threads

    @property
    def shared_rate_limits(self) -> bool:
        """Whether rate limits hold across processes (or are off, so that nothing needs sharing)."""
        limited = self.rate_limit_per_minute or self.anonymous_rate_limit_per_minute
        return not limited or not self.rate_limit_storage.startswith("memory://")

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
