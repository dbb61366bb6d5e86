"""The controlled vocabularies of DOMAIN.md. Stored as plain strings: clients must accept new values."""

from enum import StrEnum


class WorkPlanStatus(StrEnum):
    DRAFT = "draft"
    ADOPTED = "adopted"
    ARCHIVED = "archived"


class ActivityStatus(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    SUSPENDED = "suspended"


class ActivityType(StrEnum):
    PUBLICATION = "publication"
    MONITORING = "monitoring"
    THEMATIC_ANALYSIS = "thematic_analysis"
    ADVOCACY = "advocacy"
    CONSULTATION = "consultation"
    MEETING = "meeting"
    PARTNERSHIP = "partnership"
    COORDINATION = "coordination"
    RESEARCH = "research"
    CAPACITY_BUILDING = "capacity_building"


class ActivityLevel(StrEnum):
    INTERNATIONAL = "international"
    REGIONAL = "regional"
    NATIONAL = "national"


class ParticipantRole(StrEnum):
    LEAD = "lead"
    CO_LEAD = "co_lead"
    CONTRIBUTOR = "contributor"
    PARTNER = "partner"
    FOCAL_POINT = "focal_point"
    FUNDER = "funder"
    TARGET = "target"


class PartnerKind(StrEnum):
    NGO = "ngo"
    NETWORK = "network"
    CAUCUS = "caucus"
    TREATY_BODY = "treaty_body"
    SPECIAL_PROCEDURE = "special_procedure"
    CHARTER_BODY = "charter_body"
    UN_ENTITY = "un_entity"
    INTERGOVERNMENTAL = "intergovernmental"
    GOVERNMENT = "government"
    ACADEMIC = "academic"
    OTHER = "other"


class Instrument(StrEnum):
    CRC = "CRC"
    OPSC = "OPSC"
    OPAC = "OPAC"


class RatificationAction(StrEnum):
    RATIFICATION = "ratification"
    ACCESSION = "accession"
    SUCCESSION = "succession"
    ACCEPTANCE = "acceptance"


class ReportKind(StrEnum):
    INITIAL = "initial"
    PERIODIC = "periodic"
    COMBINED_PERIODIC = "combined_periodic"
    ADDITIONAL_INFORMATION = "additional_information"


class ReportStatus(StrEnum):
    EXPECTED = "expected"
    SUBMITTED = "submitted"
    SCHEDULED = "scheduled"
    REVIEWED = "reviewed"
    CONCLUDING_OBSERVATIONS_ADOPTED = "concluding_observations_adopted"
    FOLLOW_UP = "follow_up"
    CLOSED = "closed"


class Assessment(StrEnum):
    COMPLIANT = "compliant"
    PARTIALLY_COMPLIANT = "partially_compliant"
    NON_COMPLIANT = "non_compliant"
    NOT_ADDRESSED = "not_addressed"
    UNKNOWN = "unknown"


# Number of articles in each instrument, so that an analysis cannot cite article 99.
ARTICLE_COUNT = {Instrument.CRC: 54, Instrument.OPSC: 17, Instrument.OPAC: 13}
