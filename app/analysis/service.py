"""Article analysis: how the reports on record meet each CRC and OPSC article, counted."""

import uuid
from collections.abc import Sequence
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlmodel import Session, col

from app.models.reports import GovernmentReport, ReportArticle
from app.records import CountryCode, Day
from app.vocabularies import Assessment, Instrument
from app.vocabularies.models import ARTICLES


class ArticleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    country: list[CountryCode] = Field(default=[], description="Reports of one of these States.")
    instrument: list[Instrument] = Field(default=[], description="Articles of one of these instruments.")
    period_from: Day | None = Field(default=None, description="Reports submitted on or after this day.")
    period_to: Day | None = Field(default=None, description="Reports submitted on or before this day.")
    committee_session: list[Annotated[int, Field(ge=1, le=1000)]] = Field(
        default=[], description="Reports reviewed at one of these sessions."
    )


class ReportLink(BaseModel):
    id: uuid.UUID
    href: str = Field(description="The report's URL.")
    country: str
    assessment: Assessment


class ArticleCount(BaseModel):
    instrument: Instrument
    article: int
    title: str | None = Field(description="Its short title, for the articles the vocabulary names.")
    group: str | None = Field(description="`core` or `related` to sexual exploitation, where the vocabulary says.")
    counts: dict[Assessment, int] = Field(description="Reports per assessment, every assessment listed.")
    total: int
    reports: list[ReportLink]


class ArticlePage(BaseModel):
    items: list[ArticleCount]


def article_counts(session: Session, params: ArticleParams) -> list[ArticleCount]:
    """Every article the vocabulary names (with zero counts) and every other article assessed,
    in instrument and article order; one query."""
    statement = (
        select(
            col(ReportArticle.instrument),
            col(ReportArticle.article),
            col(ReportArticle.assessment),
            col(GovernmentReport.id),
            col(GovernmentReport.country),
        )
        .join(GovernmentReport, col(GovernmentReport.id) == ReportArticle.government_report_id)
        .where(col(GovernmentReport.deleted_at).is_(None))
        .order_by(col(GovernmentReport.country), col(GovernmentReport.id))
    )
    if params.country:
        statement = statement.where(col(GovernmentReport.country).in_(params.country))
    if params.instrument:
        statement = statement.where(col(ReportArticle.instrument).in_(params.instrument))
    if params.period_from:
        statement = statement.where(col(GovernmentReport.submitted_date) >= params.period_from)
    if params.period_to:
        statement = statement.where(col(GovernmentReport.submitted_date) <= params.period_to)
    if params.committee_session:
        statement = statement.where(col(GovernmentReport.committee_session).in_(params.committee_session))
    items: dict[tuple[str, int], ArticleCount] = {}
    for term in ARTICLES:
        if not params.instrument or term.instrument in params.instrument:
            items[term.instrument.value, term.article] = _empty(
                term.instrument, term.article, term.description, term.group
            )
    for instrument, article, assessment, report_id, country in session.execute(statement):
        item = items.get((instrument, article)) or items.setdefault(
            (instrument, article), _empty(Instrument(instrument), article, None, None)
        )
        item.counts[Assessment(assessment)] += 1
        item.total += 1
        item.reports.append(
            ReportLink(id=report_id, href=f"/v1/government-reports/{report_id}", country=country, assessment=assessment)
        )
    order = list(Instrument)
    return sorted(items.values(), key=lambda i: (order.index(i.instrument), i.article))


def _empty(instrument: Instrument, article: int, title: str | None, group: str | None) -> ArticleCount:
    counts = dict.fromkeys(Assessment, 0)
    return ArticleCount(
        instrument=instrument, article=article, title=title, group=group, counts=counts, total=0, reports=[]
    )


__all__: Sequence[str] = ["ArticlePage", "ArticleParams", "article_counts"]
