"""Full-text `q=`: one small query language, compiled to SQLite FTS5 and to PostgreSQL tsquery.

Words are ANDed; `"a phrase"` matches words in order; `word*` matches a prefix. Matching is by
whole words, case-insensitive, without stemming on both databases (FTS5 `unicode61`, PostgreSQL
`simple`), so both answer the same for the same data. A word is a run of letters and digits on
both: PostgreSQL's vectors are built from the text with ASCII punctuation made spaces (migration
0007), so `CRC/C/OPSC/MEX/1` is found by `MEX` there as in FTS5. Anything else is a 400, never a 500.
"""

import re
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Double, Select, cast, column, func, literal_column, table
from sqlmodel import SQLModel

from app.errors import BadRequest

StatementT = TypeVar("StatementT", bound=Select[Any])
_WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 16


@dataclass(frozen=True)
class Term:
    words: tuple[str, ...]
    prefix: bool


def parse(q: str) -> list[Term]:
    if q.count('"') % 2:
        raise BadRequest('The search has an unclosed quote: close the phrase with ".', code="INVALID_SEARCH")
    terms: list[Term] = []
    for phrase, bare in re.findall(r'"([^"]*)"|(\S+)', q):
        chunk = phrase if phrase else bare
        prefix = chunk.rstrip().endswith("*")
        words = tuple(word.lower() for word in _WORD.findall(chunk.replace("_", " ")))
        if "*" in chunk.rstrip().rstrip("*"):
            raise BadRequest(f"'*' may only end a word, as in 'partner*' (not '{chunk}').", code="INVALID_SEARCH")
        if words:
            terms.append(Term(words, prefix))
    if not terms:
        raise BadRequest("The search needs at least one word.", code="INVALID_SEARCH")
    if len(terms) > MAX_TERMS:
        raise BadRequest(f"The search has more than {MAX_TERMS} terms.", code="INVALID_SEARCH")
    return terms


def fts5_query(terms: list[Term]) -> str:
    # Words are \w+ only, so quoting them is enough to keep FTS5 syntax out of user hands.
    return " AND ".join('"' + " ".join(t.words) + '"' + (" *" if t.prefix else "") for t in terms)


def tsquery(terms: list[Term]) -> str:
    def term(t: Term) -> str:
        words = [*t.words[:-1], t.words[-1] + (":*" if t.prefix else "")]
        return "(" + " <-> ".join(words) + ")" if len(words) > 1 else words[0]

    return " & ".join(term(t) for t in terms)


def search(statement: StatementT, model: type[SQLModel], dialect: str, q: str) -> tuple[StatementT, ColumnElement[Any]]:
    """Narrow `statement` to the records matching `q`; return it with a relevance score (higher is better)."""
    terms = parse(q)
    name = str(model.__tablename__)
    if dialect == "sqlite":
        # External-content FTS5 table kept in step by triggers (see the migration), keyed by rowid.
        fts = table(f"{name}_fts", column("rowid"), column("rank"))
        statement = statement.join(fts, fts.c.rowid == literal_column(f"{name}.rowid")).where(
            literal_column(f"{name}_fts").op("MATCH")(fts5_query(terms))
        )
        return statement, -fts.c.rank
    query = func.to_tsquery("simple", tsquery(terms))
    vector: ColumnElement[Any] = literal_column(f"{name}.search_vector")
    # ts_rank is a float4, which reaches Python rounded through text: as float8 it round-trips
    # exactly through a cursor, so keyset comparisons on it hold.
    return statement.where(vector.op("@@")(query)), cast(func.ts_rank(vector, query), Double)
