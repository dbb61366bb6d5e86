"""PostgreSQL's search vectors split text into words where SQLite's FTS5 does.

`to_tsvector` runs PostgreSQL's own parser, which reads `idem-11875257` as the word `idem` and the
signed integer `-11875257`, `CRC/C/OPSC/MEX/1` as one file path, `a.b@c.org` as one email address
and `3.5` as one number: a search for `11875257`, `MEX` or `c` found the record on SQLite
(FTS5 unicode61 splits at every character that is not a letter or digit) and not here. The
generated columns now turn ASCII punctuation into spaces before parsing, so PostgreSQL sees runs of
letters and digits only, as FTS5 does (non-ASCII punctuation, such as `’` or `—`, its parser
already treats as a space). The query side (app/search.py) splits the same way.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 14:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> (heavy columns, light columns), as in 0002
SEARCHABLE = {
    "activity": (["title"], ["description"]),
    "objective": (["title"], ["description"]),
    "partner": (["name", "acronym", "mandate_holder"], ["description"]),
    "government_report": (["symbol", "concluding_observations_symbol"], ["analysis"]),
}
# Every ASCII punctuation character, written as ranges so that the locale plays no part.
ASCII_PUNCTUATION = r"[!-/:-@\[-`{-~]+"


def _vector(heavy: list[str], light: list[str], *, as_words: bool) -> str:
    def text(column: str) -> str:
        value = f"coalesce({column}, '')"
        return f"regexp_replace({value}, '{ASCII_PUNCTUATION}', ' ', 'g')" if as_words else value

    parts = [f"setweight(to_tsvector('simple', {text(c)}), 'A')" for c in heavy]
    parts += [f"setweight(to_tsvector('simple', {text(c)}), 'B')" for c in light]
    return " || ".join(parts)


def _regenerate(*, as_words: bool) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, (heavy, light) in SEARCHABLE.items():
        op.execute(f"DROP INDEX ix_{table}_search_vector")
        op.execute(f"ALTER TABLE {table} DROP COLUMN search_vector")
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN search_vector tsvector "
            f"GENERATED ALWAYS AS ({_vector(heavy, light, as_words=as_words)}) STORED"
        )
        op.execute(f"CREATE INDEX ix_{table}_search_vector ON {table} USING gin (search_vector)")


def upgrade() -> None:
    _regenerate(as_words=True)


def downgrade() -> None:
    _regenerate(as_words=False)
