"""How a JSON value becomes a spreadsheet-safe CSV cell (for list streams and `workplan export`)."""

import json
from typing import Any

# A cell starting with one of these is run as a formula by spreadsheets (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Lists of plain values, joined with ';'.
LIST_FIELDS = frozenset({"countries", "government_report_ids", "monitored_by"})


def neutralise(cell: str) -> str:
    """Prefix one `'` (counting any already there), which spreadsheets take as "this is text"."""
    return "'" + cell if cell.lstrip("'").startswith(FORMULA_STARTS) else cell


def restore(cell: str) -> str:
    """Undo `neutralise` exactly."""
    return cell[1:] if cell.startswith("'") and cell.lstrip("'").startswith(FORMULA_STARTS) else cell


def to_cell(name: str, value: Any) -> str:
    """One field of an item in JSON form, flattened and neutralised."""
    if value is None:
        text = ""
    elif name == "participants":
        text = ";".join(f"{p['partner_id']}:{p['role']}" for p in value)
    elif name in ("articles", "disputed"):
        text = json.dumps(value, ensure_ascii=False)
    elif name in LIST_FIELDS:
        text = ";".join(value)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    return neutralise(text)
