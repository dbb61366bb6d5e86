from fastapi import APIRouter, Request, Response

from app.errors import NOT_MODIFIED, NotFound, problems
from app.http import json_response
from app.vocabularies.models import Vocabulary, VocabularyList, catalogue

router = APIRouter(prefix="/vocabularies", tags=["Vocabularies"])

NAMES = {vocabulary.name: vocabulary for vocabulary in catalogue()}


@router.get("", response_model=VocabularyList, responses=NOT_MODIFIED)
def list_vocabularies(request: Request) -> Response:
    """Every controlled vocabulary, with the value to send, a label and what it means."""
    return json_response(request, VocabularyList(items=list(NAMES.values())))


@router.get("/{name}", response_model=Vocabulary, responses={**NOT_MODIFIED, **problems(404)})
def get_vocabulary(request: Request, name: str) -> Response:
    """One vocabulary by name, e.g. `activity_status`, `instrument` or `article`."""
    vocabulary = NAMES.get(name)
    if vocabulary is None:
        raise NotFound(f"No vocabulary named '{name[:100]}'; try one of: {', '.join(NAMES)}.")
    return json_response(request, vocabulary)
