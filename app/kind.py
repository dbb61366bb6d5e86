"""What one record type is, declared once.

Each resource's folder declares its `Kind` in `kind.py` (its table, its models, its embedded lists,
its unique key, who reads its private fields, how it sorts, who writes it); app/kinds.py lists them
once, in dependency order. The general mechanisms (the change feed, export and import, CSV cells,
the routers and their OpenAPI tags) iterate that list instead of naming types. Each resource keeps
its typed list parameters and explicit filters in its service: what a list filters on is that
type's own business, not data for a generic filter.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from sqlmodel import SQLModel

from app.models.access import Role
from app.reads import Child, PrivateReaders, Reader
from app.records import RecordTable


@dataclass(frozen=True, eq=False)
class Kind:
    """One record type (equal only to itself)."""

    # The table's name: the change feed's `type`, an export envelope's record type, the audit log's.
    name: str
    # The collection: an export's and import's resource name and, dashed, the API's path.
    collection: str
    # The OpenAPI tag of its operations, and the tag's description.
    title: str
    description: str
    table: type[RecordTable]
    create: type[SQLModel]  # the body of a POST
    public: type[BaseModel]  # what anyone reads
    # How a list sorts: `sort=` names, each a column.
    sortable: Mapping[str, Any]
    # The least role whose key writes it (a partner's key: only what its partner owns).
    writes: Role
    # Its unique key among live records, and how a duplicate is named (formatted with the key's
    # last value).
    unique: tuple[str, ...]
    duplicate: str
    children: tuple[Child, ...] = ()
    # The public fields and the private ones (contact details, internal notes), and the item field
    # naming the partner whose key reads them: `id` on a partner, `owner_partner_id` on what a
    # partner owns.
    private: type[BaseModel] | None = None
    owner: str | None = None
    # A row of an import file, when it is not the create body.
    imported: type[SQLModel] | None = None
    reader: Reader = field(init=False, repr=False, compare=False)
    readers: Reader | PrivateReaders = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        reader = Reader(self.public, self.table, children=self.children)
        readers: Reader | PrivateReaders = reader
        if self.private is not None:
            if self.owner is None:
                raise TypeError(f"{self.name}: private fields need an owner field")
            readers = PrivateReaders(reader, Reader(self.private, self.table, children=self.children), self.owner)
        object.__setattr__(self, "reader", reader)
        object.__setattr__(self, "readers", readers)

    @property
    def private_readers(self) -> PrivateReaders:
        """Its readers, for a type declared with private fields."""
        if not isinstance(self.readers, PrivateReaders):
            raise TypeError(f"{self.name} has no private fields")
        return self.readers

    @property
    def path(self) -> str:
        """Its collection's path under /v1: `/government-reports`."""
        return "/" + self.collection.replace("_", "-")

    @property
    def label(self) -> str:
        """How a message names one: `government report`."""
        return self.name.replace("_", " ")

    @property
    def row_model(self) -> type[SQLModel]:
        """What validates one row of an import."""
        return self.imported or self.create

    @property
    def private_fields(self) -> tuple[str, ...]:
        if self.private is None:
            return ()
        return tuple(name for name in self.private.model_fields if name not in self.public.model_fields)
