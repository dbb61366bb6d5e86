"""The partner as a record type (app/kind.py)."""

from app.kind import Kind
from app.models.access import Role
from app.models.partners import Partner, PartnerCreate, PartnerPublic, PartnerWithContacts

PARTNER = Kind(
    name="partner",
    collection="partners",
    title="Partners",
    description="Organisations, networks and UN bodies the subgroup works with.",
    table=Partner,
    create=PartnerCreate,
    public=PartnerPublic,
    sortable={
        "id": Partner.id,
        "name": Partner.name,
        "kind": Partner.kind,
        "active_from": Partner.active_from,
        "created_at": Partner.created_at,
        "updated_at": Partner.updated_at,
    },
    writes=Role.EDITOR,
    unique=("name",),
    duplicate="Partner name '{}'",
    # Its contact details and notes: for editors, admins and the partner's own key.
    private=PartnerWithContacts,
    owner="id",
)
