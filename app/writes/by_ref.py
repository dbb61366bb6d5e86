"""Partner-owned records: `(owner_partner_id, external_ref)` names a record in the owner's terms.

`PUT /v1/<collection>/by-ref/{external_ref}` creates the record the first time and replaces it
after, so a partner system can push its own records again and again without keeping our ids.
A partner key's records are its partner's; an editor or admin names the owner in the body.
"""

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Path, Request
from sqlmodel import Session, col, select
from starlette.responses import Response

from app.access.keys import claim_ownership
from app.errors import ErrorItem, PreconditionFailed, ValidationFailed
from app.http import check_if_match, record_response
from app.models.partners import Partner
from app.reads import Reader
from app.records import ExternalRef, Owned, RecordTable, ensure_exist, ensure_unique

OwnedT = TypeVar("OwnedT", bound=RecordTable)
BodyT = TypeVar("BodyT", bound=Owned)

RefPath = Annotated[ExternalRef, Path(description="The owner's own reference for the record.")]

BY_REF_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: {"description": "Created: no record of this owner had this reference."},
}


def ensure_ownership(session: Session, model: type[RecordTable], data: Owned, exclude_id: Any = None) -> None:
    """The owner is a live partner (422), and no other live record of it uses the reference (409)."""
    if data.owner_partner_id is None:
        return
    ensure_exist(session, Partner, [data.owner_partner_id], ["/owner_partner_id"])
    if data.external_ref is not None:
        ensure_unique(
            session,
            model,
            [col(model.owner_partner_id) == data.owner_partner_id, col(model.external_ref) == data.external_ref],  # type: ignore[attr-defined]
            "/external_ref",
            f"Reference '{data.external_ref}' of this owner",
            exclude_id=exclude_id,
        )


def _invalid(pointer: str, message: str) -> ValidationFailed:
    item = ErrorItem.model_validate({"in": "body", "pointer": pointer, "message": message})
    return ValidationFailed("The request body is not valid.", errors=[item])


def put_by_ref(
    request: Request,
    session: Session,
    model: type[OwnedT],
    external_ref: str,
    body: BodyT,
    *,
    create: Callable[[Session, BodyT], OwnedT],
    replace: Callable[[Session, OwnedT, BodyT], OwnedT],
    reader: Reader,
    location: Callable[[OwnedT], str],
) -> Response:
    """Create or replace the owner's record named `external_ref`, honouring If-Match / If-None-Match: *.

    A partner key's records are its partner's; an editor names the owner in the body. The answer, and
    the version If-Match is checked against, are the record as `reader` shows it: the GET's bytes."""
    claim_ownership(request, body)
    if body.owner_partner_id is None:
        raise _invalid("/owner_partner_id", "is required: the partner that owns the record")
    if body.external_ref not in (None, external_ref):
        raise _invalid("/external_ref", f"must be absent or equal to the reference in the path ('{external_ref}')")
    data = body.model_copy(update={"external_ref": external_ref})
    existing = session.exec(
        select(model)
        .where(
            col(model.owner_partner_id) == data.owner_partner_id,  # type: ignore[attr-defined]
            col(model.external_ref) == external_ref,  # type: ignore[attr-defined]
            col(model.deleted_at).is_(None),
        )
        .with_for_update()
    ).first()
    if existing is None:
        check_if_match(request, session, reader, None)
        record = create(session, data)
        return record_response(
            request, session, reader, record.id, status_code=201, headers={"Location": location(record)}
        )
    if request.headers.get("if-none-match", "").strip() == "*":
        raise PreconditionFailed("If-None-Match: * asks to create, and this reference already names a record.")
    check_if_match(request, session, reader, existing.id)
    replace(session, existing, data)
    return record_response(request, session, reader, existing.id)
