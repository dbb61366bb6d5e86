"""Imports go down the floors (STYLE.md, "A record type is declared once"): tables lowest, then the
kernel, then the resources, then the wings. The tables (app/models/) and these modules stand below
the resources and the wings and import nothing from them."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESOURCES = ("work_plans", "partners", "ratifications", "reports", "objectives", "activities")
WINGS = ("sync", "transfer", "calendar", "pages", "cli", "seed", "analysis", "api", "main", "openapi")
# What each low module may not import, beyond the resources (tables apart) and the wings.
ALSO_ABOVE = {
    "app/db.py": ("app.access",),  # create_app() and the command line register the audit log
    "app/http.py": ("app.access",),  # the resources pass their owner checks in
    "app/treaties.py": ("app.access",),
}
WRITES = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "app" / "writes").glob("*.py"))
TABLES = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "app" / "models").glob("*.py"))
LOW = [
    "app/db.py",
    "app/records.py",
    "app/lists.py",
    "app/reads.py",
    "app/http.py",
    "app/treaties.py",
    *WRITES,
    *TABLES,
]


def imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def above(module: str, also: tuple[str, ...]) -> bool:
    parts = module.split(".")
    if parts[0] != "app" or len(parts) < 2:
        return False
    if parts[1] in RESOURCES:
        return True
    return parts[1] in WINGS or any(module == other or module.startswith(other + ".") for other in also)


@pytest.mark.parametrize("low", LOW)
def test_a_low_module_imports_nothing_above_it(low: str) -> None:
    up = sorted(m for m in imported(ROOT / low) if above(m, ALSO_ABOVE.get(low, ())))
    assert up == [], f"{low} imports from a floor above it: {up}"
