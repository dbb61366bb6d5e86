"""How a JSON value becomes a spreadsheet-safe CSV cell (for list streams and `workplan export`)."""

import json
from typing import Any, Literal

# A cell starting with one of these is run as a formula by spreadsheets (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# How a list is written in one cell: its values joined with ';', `partner_id:role` pairs joined
# with ';', or JSON text. A record type declares the form of each of its lists (app.reads.Child).
CellForm = Literal["joined", "pairs", "json"]


def neutralise(cell: str) -> str:
    """Prefix one `'` (counting any already there), which spreadsheets take as "this is text"."""
    return "'" + cell if cell.lstrip("'").startswith(FORMULA_STARTS) else cell


def restore(cell: str) -> str:
    """Undo `neutralise` exactly."""
    return cell[1:] if cell.startswith("'") and cell.lstrip("'").startswith(FORMULA_STARTS) else cell


def to_cell(value: Any, form: CellForm | None = None) -> str:
    """One field of an item in JSON form, flattened and neutralised: a list in its declared `form`,
    any other object as JSON text."""
    if value is None:
        text = ""
    elif form == "pairs":
        text = ";".join(f"{p['partner_id']}:{p['role']}" for p in value)
    elif form == "json" or isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False)
    elif form == "joined":
        text = ";".join(value)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    return neutralise(text)


def from_cell(cell: str, form: CellForm | None) -> Any:
    """Undo `to_cell` for one cell of an import: a list in its `form`; any other field as its text,
    or None for an empty cell."""
    text = restore(cell)
    if form is None:
        return text or None
    if not text:
        return []
    if form == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text  # validation then reports the field as not a list
    if form == "pairs":
        return [dict(zip(("partner_id", "role"), item.rsplit(":", 1), strict=False)) for item in text.split(";")]
    return text.split(";")
