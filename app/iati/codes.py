"""How the plan's vocabularies map to IATI 2.03 codelists, declared once: the export writes these
codes, the import reads them back, and the README's "IATI" section prints these tables.

Codes are strings, as IATI's codelists give them (OrganisationRole, ActivityStatus,
ActivityDateType, SectorVocabulary, RegionVocabulary).
"""

from app.vocabularies import ActivityStatus, ParticipantRole

# ActivityStatus codelist. `completed` is 4 (Closed): a work plan's activity has no disbursement
# pending sign-off, which is what 3 (Finalisation) is for; the import reads 3 as completed too.
ACTIVITY_STATUS: dict[ActivityStatus, str] = {
    ActivityStatus.PLANNED: "1",  # Pipeline/identification
    ActivityStatus.IN_PROGRESS: "2",  # Implementation
    ActivityStatus.COMPLETED: "4",  # Closed
    ActivityStatus.CANCELLED: "5",  # Cancelled
    ActivityStatus.SUSPENDED: "6",  # Suspended
}
STATUS_FROM_IATI: dict[str, ActivityStatus] = {code: status for status, code in ACTIVITY_STATUS.items()} | {
    "3": ActivityStatus.COMPLETED  # Finalisation
}

# OrganisationRole codelist: 1 Funding, 2 Accountable, 3 Extending, 4 Implementing. A `target`
# (whom the activity addresses: the Committee, a government) takes no part in doing or paying for
# it, which is all IATI's roles describe, so it is not a participating-org.
PARTICIPANT_ROLE: dict[ParticipantRole, str | None] = {
    ParticipantRole.LEAD: "2",  # Accountable: answers for the activity
    ParticipantRole.CO_LEAD: "4",  # Implementing
    ParticipantRole.CONTRIBUTOR: "4",  # Implementing
    ParticipantRole.PARTNER: "4",  # Implementing
    ParticipantRole.FOCAL_POINT: "4",  # Implementing
    ParticipantRole.FUNDER: "1",  # Funding
    ParticipantRole.TARGET: None,  # not exported
}
# The publisher (the reporting-org) takes part in every activity of its own plan as 2 Accountable:
# the plan is its commitment, and IATI wants at least one participating-org, which many activities
# (those that name no partner, or only targets) would otherwise lack. The export writes it first,
# with the reporting-org's ref and type; an import skips the participating-org whose ref is the
# reporting-org's own (it is no partner).
REPORTING_ORG_ROLE = "2"

# What an imported participating-org's role becomes (3 Extending: it passes funds on, a funder here).
ROLE_FROM_IATI: dict[str, ParticipantRole] = {
    "1": ParticipantRole.FUNDER,
    "2": ParticipantRole.LEAD,
    "3": ParticipantRole.FUNDER,
    "4": ParticipantRole.CONTRIBUTOR,
}

# ActivityDateType codelist.
PLANNED_START, ACTUAL_START, PLANNED_END, ACTUAL_END = "1", "2", "3", "4"
DATE_FIELDS: dict[str, str] = {
    PLANNED_START: "planned_start",
    ACTUAL_START: "actual_start",
    PLANNED_END: "planned_end",
    ACTUAL_END: "actual_end",
}

# The sector every activity is published under: SectorVocabulary 1 (OECD DAC 5-digit purpose
# codes), 15160 "Human rights". The subgroup's whole work plan is child-rights advocacy and
# monitoring, so one sector at 100 % says it truthfully.
SECTOR_VOCABULARY, SECTOR_CODE = "1", "15160"

# Work with no recipient country (international or regional, with `countries` empty) is published
# under RegionVocabulary 1 (OECD DAC), 998 "Developing countries, unspecified", as IATI's guidance
# asks of global activities.
REGION_VOCABULARY, UNSPECIFIED_REGION = "1", "998"
