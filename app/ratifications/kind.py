"""The ratification as a record type (app/kind.py)."""

from app.kind import Kind
from app.models.access import Role
from app.models.ratifications import Ratification, RatificationCreate, RatificationImport, RatificationPublic

RATIFICATION = Kind(
    name="ratification",
    collection="ratifications",
    title="Ratifications",
    description="Which States are party to the CRC and its protocols, and since when.",
    table=Ratification,
    create=RatificationCreate,
    public=RatificationPublic,
    sortable={
        "id": Ratification.id,
        "country": Ratification.country,
        "instrument": Ratification.instrument,
        "deposited_on": Ratification.deposited_on,
        "created_at": Ratification.created_at,
        "updated_at": Ratification.updated_at,
    },
    writes=Role.EDITOR,
    unique=("country", "instrument"),
    duplicate="Ratification of the '{}' by this State",
    # An export holds the shipped data's provenance too (origin, sources, confidence, disputed).
    imported=RatificationImport,
)
