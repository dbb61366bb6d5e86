from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.analysis.service import ArticlePage, ArticleParams, article_counts
from app.calendar.routes import check_range
from app.db import ReadSessionDep
from app.errors import LIST_ERRORS
from app.http import json_response

router = APIRouter(prefix="/analysis", tags=["Reporting calendar"])


@router.get("/articles", response_model=ArticlePage, responses=LIST_ERRORS)
def get_article_analysis(
    request: Request, session: ReadSessionDep, params: Annotated[ArticleParams, Query()]
) -> Response:
    """Per CRC and OPSC article, how many reports were assessed compliant ... not addressed, with links to them."""
    check_range(params.period_from, params.period_to, "period_to")
    return json_response(request, ArticlePage(items=article_counts(session, params)))
