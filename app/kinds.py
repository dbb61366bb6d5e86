"""Every record type (app/kind.py), each after the types it refers to.

Adding a record type: its folder (models.py, kind.py, service.py, routes.py, as the others have
them), a migration for its table, and one line here.
"""

from app.activities.kind import ACTIVITY
from app.kind import Kind
from app.objectives.kind import OBJECTIVE
from app.partners.kind import PARTNER
from app.ratifications.kind import RATIFICATION
from app.reports.kind import GOVERNMENT_REPORT
from app.work_plans.kind import WORK_PLAN

KINDS: tuple[Kind, ...] = (WORK_PLAN, PARTNER, RATIFICATION, GOVERNMENT_REPORT, OBJECTIVE, ACTIVITY)
BY_NAME = {kind.name: kind for kind in KINDS}
