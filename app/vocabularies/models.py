"""Every controlled vocabulary, with labels and meanings, and the treaty reference data."""

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, Field

from app.vocabularies import (
    ActivityLevel,
    ActivityStatus,
    ActivityType,
    Assessment,
    Instrument,
    ParticipantRole,
    PartnerKind,
    RatificationAction,
    ReportKind,
    ReportStatus,
    WorkPlanStatus,
)


class Term(BaseModel):
    value: str
    label: str
    description: str


class InstrumentTerm(Term):
    in_force_on: date = Field(description="When the instrument itself entered into force.")
    articles: int = Field(description="How many articles it has.")


class ArticleTerm(Term):
    instrument: Instrument
    article: int
    group: str = Field(description="`core` to sexual exploitation, or `related` (cited in the OPSC preamble).")


class Vocabulary(BaseModel):
    name: str
    description: str
    terms: list[Term | InstrumentTerm | ArticleTerm]


class VocabularyList(BaseModel):
    items: list[Vocabulary]


def _terms(enum: type[StrEnum], descriptions: dict[str, str]) -> list[Term]:
    assert set(descriptions) == {member.value for member in enum}, enum
    return [
        Term(value=member.value, label=member.value.replace("_", " ").capitalize(), description=descriptions[member])
        for member in enum
    ]


_ENUMS: list[tuple[str, str, type[StrEnum], dict[str, str]]] = [
    (
        "work_plan_status",
        "Where a work plan stands.",
        WorkPlanStatus,
        {
            "draft": "Being written; not yet agreed by the subgroup.",
            "adopted": "Agreed; the plan the subgroup works to.",
            "archived": "Its period is over; kept for the record.",
        },
    ),
    (
        "activity_status",
        "Where an activity stands (IATI ActivityStatus on export).",
        ActivityStatus,
        {
            "planned": "Committed to but not started (IATI 1, Pipeline/identification).",
            "in_progress": "Under way (IATI 2, Implementation).",
            "completed": "Done (IATI 4, Post-completion).",
            "cancelled": "Will not happen (IATI 5, Cancelled).",
            "suspended": "Paused (IATI 6, Suspended).",
        },
    ),
    (
        "activity_type",
        "What kind of work an activity is.",
        ActivityType,
        {
            "publication": "A publication the subgroup writes or releases.",
            "monitoring": "Following a process over time, such as government reports to the Committee.",
            "thematic_analysis": "Analysis of an issue across reports or countries, against treaty articles.",
            "advocacy": "Bringing an issue before a body so that it is given due deliberation.",
            "consultation": "Taking part in consultations held by another body.",
            "meeting": "Attending or holding a meeting or session.",
            "partnership": "Building or keeping a working relationship with another body.",
            "coordination": "Keeping members and partners informed and working together.",
            "research": "Gathering evidence.",
            "capacity_building": "Training and support for members and national partners.",
        },
    ),
    (
        "activity_level",
        "The level an activity works at.",
        ActivityLevel,
        {
            "international": "UN bodies and international processes.",
            "regional": "A region, often through the Focal Point's regional facilitators.",
            "national": "One or more countries, with national partners.",
        },
    ),
    (
        "participant_role",
        "The part a partner plays in an activity.",
        ParticipantRole,
        {
            "lead": "Leads the activity.",
            "co_lead": "Leads it together with another partner.",
            "contributor": "Contributes expertise or work.",
            "partner": "Works with the subgroup on it.",
            "focal_point": "The NGO Group's Focal Point on sexual exploitation, or its regional facilitators.",
            "funder": "Funds it.",
            "target": "The body the activity addresses, such as the Special Rapporteur or the Committee.",
        },
    ),
    (
        "partner_kind",
        "What kind of body a partner is.",
        PartnerKind,
        {
            "ngo": "A non-governmental organisation.",
            "network": "A network or coalition of organisations.",
            "caucus": "An NGO caucus, such as the Child Rights Caucus.",
            "treaty_body": "A UN treaty body, such as the Committee on the Rights of the Child.",
            "special_procedure": "A UN special procedure mandate, such as a Special Rapporteur.",
            "charter_body": "A UN Charter body, such as the Commission on Human Rights.",
            "un_entity": "A UN agency, fund, programme or secretariat.",
            "intergovernmental": "An intergovernmental organisation outside the UN.",
            "government": "A State's government.",
            "academic": "A university or research institute.",
            "other": "Anything else.",
        },
    ),
    ("instrument", "The treaties States report under.", Instrument, {}),
    (
        "ratification_action",
        "How a State became a party to an instrument.",
        RatificationAction,
        {
            "ratification": "It signed, then deposited an instrument of ratification.",
            "accession": "It became a party without signing first.",
            "succession": "A successor State declared itself bound by its predecessor's ratification.",
            "acceptance": "It deposited an instrument of acceptance, with the effect of a ratification "
            "(the Netherlands, CRC).",
        },
    ),
    (
        "report_kind",
        "What a State party report is.",
        ReportKind,
        {
            "initial": "The first report after the instrument enters into force for the State.",
            "periodic": "A later report, every five years under the CRC.",
            "combined_periodic": "Several periodic reports in one document (e.g. third and fourth).",
            "additional_information": "Further information the Committee asked for.",
        },
    ),
    (
        "report_status",
        "Where a report stands in the Committee's cycle.",
        ReportStatus,
        {
            "expected": "Due or coming due; not yet submitted.",
            "submitted": "Received by the Committee.",
            "scheduled": "Set for review at a Committee session.",
            "reviewed": "Considered by the Committee in dialogue with the State.",
            "concluding_observations_adopted": "The Committee has adopted its concluding observations.",
            "follow_up": "Follow-up to the concluding observations is under way.",
            "closed": "Nothing more is expected on this report.",
        },
    ),
    (
        "assessment",
        "How a report meets an article.",
        Assessment,
        {
            "compliant": "The State's law and practice meet the article.",
            "partially_compliant": "They meet it in part.",
            "non_compliant": "They do not meet it.",
            "not_addressed": "The report does not address the article.",
            "unknown": "Not yet assessed.",
        },
    ),
]

INSTRUMENTS = [
    InstrumentTerm(
        value="CRC",
        label="Convention on the Rights of the Child",
        in_force_on=date(1990, 9, 2),
        articles=54,
        description="Adopted 20 November 1989; in force 2 September 1990.",
    ),
    InstrumentTerm(
        value="OPSC",
        label="Optional Protocol on the sale of children, child prostitution and child pornography",
        in_force_on=date(2002, 1, 18),
        articles=17,
        description="Optional Protocol to the CRC; in force 18 January 2002.",
    ),
    InstrumentTerm(
        value="OPAC",
        label="Optional Protocol on the involvement of children in armed conflict",
        in_force_on=date(2002, 2, 12),
        articles=13,
        description="Optional Protocol to the CRC; in force 12 February 2002.",
    ),
]

_ARTICLES = [
    ("CRC", 1, "related", "Definition of the child"),
    ("CRC", 11, "related", "Illicit transfer and non-return of children abroad"),
    ("CRC", 19, "core", "Protection from all forms of violence, abuse and neglect"),
    ("CRC", 21, "related", "Adoption"),
    ("CRC", 32, "related", "Economic exploitation and child labour"),
    ("CRC", 33, "related", "Narcotic drugs"),
    ("CRC", 34, "core", "Sexual exploitation and sexual abuse"),
    ("CRC", 35, "core", "Sale, trafficking and abduction"),
    ("CRC", 36, "core", "Other forms of exploitation"),
    ("CRC", 39, "core", "Recovery and reintegration of child victims"),
    ("OPSC", 1, "core", "Prohibition of the sale of children, child prostitution and child pornography"),
    ("OPSC", 2, "core", "Definitions"),
    ("OPSC", 3, "core", "Offences under criminal or penal law"),
    ("OPSC", 4, "core", "Jurisdiction"),
    ("OPSC", 5, "core", "Extradition"),
    ("OPSC", 6, "core", "Mutual legal assistance"),
    ("OPSC", 7, "core", "Seizure and confiscation of goods and proceeds; closure of premises"),
    ("OPSC", 8, "core", "Protection of child victims in the criminal justice process"),
    ("OPSC", 9, "core", "Prevention, awareness-raising and assistance to victims"),
    ("OPSC", 10, "core", "International cooperation"),
    ("OPSC", 12, "core", "Reports to the Committee on the Rights of the Child"),
]
ARTICLES = [
    ArticleTerm(
        value=f"{instrument}-{article}",
        label=f"{instrument} article {article}",
        description=title,
        instrument=Instrument(instrument),
        article=article,
        group=group,
    )
    for instrument, article, group, title in _ARTICLES
]


def catalogue() -> list[Vocabulary]:
    vocabularies: list[Vocabulary] = [
        Vocabulary(
            name=name,
            description=description,
            terms=INSTRUMENTS if enum is Instrument else _terms(enum, descriptions),
        )
        for name, description, enum, descriptions in _ENUMS
    ]
    vocabularies.append(
        Vocabulary(
            name="article",
            description="CRC and OPSC articles most concerned with sexual exploitation.",
            terms=ARTICLES,
        )
    )
    return vocabularies
