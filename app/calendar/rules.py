"""The treaty arithmetic of the reporting cycle: dates in, expected reports out. No database.

Every rule cites its article. The texts: Convention on the Rights of the Child (CRC, 1989),
Optional Protocol on the sale of children, child prostitution and child pornography (OPSC, 2000),
Optional Protocol on the involvement of children in armed conflict (OPAC, 2000). How the Committee
and OHCHR apply them is in ../shared/DOMAIN.md ("The reporting cycle"), with published examples
that tests/calendar hold the code to.

Entry into force for a State: CRC art. 49(2), the thirtieth day after deposit; OPSC art. 14(2) and
OPAC art. 10(2), one month after deposit, which applies only to a deposit made *after* the
protocol's own entry into force: a deposit on or before it takes that date (art. 14(1), 10(1)), so
Viet Nam's OPSC deposit of 20 December 2001 gives 18 January 2002. "One month" is calendar
arithmetic (`dateutil.relativedelta`), clamped to the end of a shorter month: Benin's OPSC deposit
of 31 January 2005 gives 28 February 2005. A succession takes effect from the date of succession,
never from the notification: without that date the calendar says "date unknown".

Due dates: "within two years of entry into force" (CRC art. 44(1)(a), OPSC art. 12(1), OPAC art.
8(1)) is published as the day *before* the second anniversary, and every later cycle falls five
years on from that date (CRC art. 44(1)(b)): in force 23 February 1991, initial report due
22 February 1993, fifth 22 February 2013, sixth 22 February 2018. For an entry into force on
29 February the anniversary in a common year is 1 March (the two years run out at the end of
28 February), so the initial report is due on 28 February: in force 29 February 1992 (Tunisia,
CRC), due 28 February 1994. Later cycles are counted as multiples of five years from the initial
date (never step by step), so a 29 February due date falls on 28 February in a common year and
one clamp never drifts the chain.

Cycles: 1 is the initial report, n the n-th report (the CRC's "third and fourth periodic reports"
are cycles 3 and 4, as `GovernmentReport.cycle_from/cycle_to` record them).

Horizon: the calendar names no nominal date after the last day the API accepts (LAST_DAY,
2199-12-31). A cycle due later is left out, and every cycle after it, whatever reports on record
claim to cover; so no stored date, however far out, makes the arithmetic run off the calendar.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

from dateutil.relativedelta import relativedelta

from app.records import LAST_DAY
from app.vocabularies import Instrument

# When each instrument itself entered into force, which no State's entry into force precedes:
# CRC art. 49(1), OPSC art. 14(1), OPAC art. 10(1).
INSTRUMENT_IN_FORCE = {
    Instrument.CRC: date(1990, 9, 2),
    Instrument.OPSC: date(2002, 1, 18),
    Instrument.OPAC: date(2002, 2, 12),
}
# Adoption by the General Assembly: no instrument of ratification can be older.
ADOPTED = {
    Instrument.CRC: date(1989, 11, 20),
    Instrument.OPSC: date(2000, 5, 25),
    Instrument.OPAC: date(2000, 5, 25),
}
PROTOCOLS = (Instrument.OPSC, Instrument.OPAC)
INITIAL_WITHIN = relativedelta(years=2)
PERIODIC_EVERY = 5  # years

# The article behind each kind of due date, as the items cite it.
ENTRY_INTO_FORCE_RULE = {
    Instrument.CRC: "CRC art. 49(2): the thirtieth day after deposit, never before 2 September 1990 (art. 49(1))",
    Instrument.OPSC: "OPSC art. 14(2): one month after deposit; a deposit on or before 18 January 2002 takes that "
    "date (art. 14(1))",
    Instrument.OPAC: "OPAC art. 10(2): one month after deposit; a deposit on or before 12 February 2002 takes that "
    "date (art. 10(1))",
}
INITIAL_RULE = {
    Instrument.CRC: "CRC art. 44(1)(a): within two years of entry into force (the day before the second anniversary)",
    Instrument.OPSC: "OPSC art. 12(1): within two years of entry into force (the day before the second anniversary)",
    Instrument.OPAC: "OPAC art. 8(1): within two years of entry into force (the day before the second anniversary)",
}
PERIODIC_RULE = {
    Instrument.CRC: "CRC art. 44(1)(b): every five years thereafter (five years on from the initial date)",
    Instrument.OPSC: "OPSC art. 12(2), second sentence: a party not party to the CRC reports every five years",
    Instrument.OPAC: "OPAC art. 8(2), second sentence: a party not party to the CRC reports every five years",
}
FOLDED_RULE = {
    Instrument.OPSC: "OPSC art. 12(2): after its initial report, folded into the CRC periodic reports (art. 44)",
    Instrument.OPAC: "OPAC art. 8(2): after its initial report, folded into the CRC periodic reports (art. 44)",
}
COMMITTEE_RULE = (
    "a date set by the Committee for this cycle, on a report of the cycle or by concluding observations "
    "(it wins over the treaty's)"
)


class DueSource(StrEnum):
    TREATY = "treaty"  # the nominal date of the treaty arithmetic
    COMMITTEE = "committee"  # a date the Committee set: on a report of the cycle, or by concluding observations


class Status(StrEnum):
    """What the record says of one expected report, as of a day (DOMAIN.md, "Overdue is a claim")."""

    SUBMITTED = "submitted"  # a report covering the cycle was submitted on or before the day
    OVERDUE = "overdue"  # its date has passed, nothing covers it, and the State's history is kept
    NO_REPORT_ON_RECORD = "no_report_on_record"  # its date has passed, but nobody keeps that history
    DUE = "due"  # its date is still to come
    PROVISIONAL = "provisional"  # a treaty date after the latest Committee-set one: never overdue
    DATE_UNKNOWN = "date_unknown"  # no date can be worked out; `date_unknown_reason` says why


def entry_into_force(instrument: Instrument, deposited_on: date) -> date:
    """When the instrument enters into force for a State that deposited on `deposited_on`.

    CRC art. 49(2): "on the thirtieth day after the deposit", never before the Convention itself
    (art. 49(1), 2 September 1990). OPSC art. 14(2), OPAC art. 10(2): "one month after the date of
    the deposit", for a deposit made after the protocol's own entry into force; a deposit on or
    before it takes that date (OPSC art. 14(1), 18 January 2002; OPAC art. 10(1), 12 February 2002).
    A month end clamps: one month after 31 January 2005 is 28 February 2005.
    Not for a succession, which takes effect from the date of succession (`succession_in_force`).
    """
    own = INSTRUMENT_IN_FORCE[instrument]
    if instrument in PROTOCOLS and deposited_on <= own:
        return own
    try:
        if instrument is Instrument.CRC:
            computed = deposited_on + timedelta(days=30)
        else:
            computed = deposited_on + relativedelta(months=1)
    except (OverflowError, ValueError):
        # A deposit stored in the last month of year 9999 (the API accepts none after LAST_DAY):
        # the last day a date can name, past the horizon like the real answer.
        computed = date.max
    return max(computed, own)


def succession_in_force(instrument: Instrument, effective_on: date) -> date:
    """A successor State is bound from the date of succession (usually its independence), not
    from its notification; never before the instrument itself was in force (CRC art. 49(1),
    OPSC art. 14(1), OPAC art. 10(1))."""
    return max(effective_on, INSTRUMENT_IN_FORCE[instrument])


def nominal_due(in_force: date, cycle: int) -> date:
    """The treaty's date for `cycle`: the initial report "within two years" (CRC art. 44(1)(a),
    OPSC art. 12(1), OPAC art. 8(1)), published as the day before the second anniversary of entry
    into force (28 February when it entered into force on 29 February, whose anniversary in a
    common year is 1 March); each later one five years on from that date (CRC art. 44(1)(b)),
    counted from the initial date, not from when a report arrived."""
    anniversary = in_force + INITIAL_WITHIN
    leap_day = (in_force.month, in_force.day) == (2, 29)
    initial = anniversary if leap_day else anniversary - timedelta(days=1)
    return initial if cycle == 1 else initial + relativedelta(years=PERIODIC_EVERY * (cycle - 1))


@dataclass(frozen=True)
class Party:
    """One State's entry into force of one instrument; `in_force` None when it cannot be known
    (a succession without its effective date, a disputed one), with `unknown_reason` saying why.
    `tracked_from`: from this due date on, the service keeps the State's reports of the instrument."""

    country: str
    instrument: Instrument
    in_force: date | None
    unknown_reason: str | None = None
    tracked_from: date | None = None


@dataclass(frozen=True)
class Filed:
    """A government report record, as far as the calendar reads it. `next_*`: what its concluding
    observations (`concluding_observations_symbol`) set for the next report: date and cycles."""

    id: str
    country: str
    instrument: Instrument
    cycle_from: int | None
    cycle_to: int | None
    due_date: date | None
    submitted_date: date | None
    concluding_observations_symbol: str | None = None
    next_due_date: date | None = None
    next_cycle_from: int | None = None
    next_cycle_to: int | None = None

    def cycles(self) -> range:
        if self.cycle_from is None:
            return range(0)
        return range(self.cycle_from, (self.cycle_to or self.cycle_from) + 1)

    def next_cycles(self) -> range:
        """The cycles the next report covers: as recorded, else the one after this report's."""
        start = self.next_cycle_from
        if start is None and self.cycle_from is not None:
            start = (self.cycle_to or self.cycle_from) + 1
        if self.next_due_date is None or start is None:
            return range(0)
        return range(start, max(self.next_cycle_to or start, start) + 1)


@dataclass
class Expected:
    """One report a State owes for one cycle of one instrument."""

    country: str
    instrument: Instrument
    cycle: int
    nominal_due_date: date | None
    committee_due_date: date | None
    due_date: date | None
    due_source: DueSource | None
    rule: str
    due_source_document: str | None = None
    provisional: bool = False
    date_unknown_reason: str | None = None
    status: Status = Status.DUE
    includes: list[Instrument] = field(default_factory=list)
    report_ids: list[str] = field(default_factory=list)
    activity_ids: list[str] = field(default_factory=list)  # filled by the service: who monitors it
    satisfied_by: str | None = None
    submitted_date: date | None = None
    days_late: int | None = None

    @property
    def kind(self) -> str:
        return "initial" if self.cycle == 1 else "periodic"

    @property
    def is_satisfied(self) -> bool:
        return self.satisfied_by is not None

    @property
    def is_overdue(self) -> bool:
        return self.status is Status.OVERDUE


def _nominal_within_horizon(in_force: date, cycle: int) -> date | None:
    """`nominal_due`, or None when it falls after LAST_DAY (or after the last day a date can name)."""
    try:
        nominal = nominal_due(in_force, cycle)
    except (OverflowError, ValueError):
        return None
    return nominal if nominal <= LAST_DAY else None


def _cycles_until(in_force: date | None, until: date) -> int:
    """How many cycles have a nominal date on or before `until` (at least the initial one)."""
    cycle = 1
    if in_force is None:
        return cycle
    while (following := _nominal_within_horizon(in_force, cycle + 1)) is not None and following <= until:
        cycle += 1
    return cycle


def _by_cycle(reports: Iterable[Filed]) -> dict[int, list[Filed]]:
    found: dict[int, list[Filed]] = {}
    for report in reports:
        for cycle in report.cycles():
            found.setdefault(cycle, []).append(report)
    return found


def _committee_dates(reports: Iterable[Filed]) -> dict[int, tuple[date, str | None]]:
    """Dates the Committee set for the next report in concluding observations, by cycle (the
    latest observations win where two cover one cycle), with the observations' symbol."""
    found: dict[int, tuple[date, str | None]] = {}
    ordered = sorted(reports, key=lambda r: (r.cycle_to or r.cycle_from or 0, r.id))
    for report in ordered:
        if report.next_due_date is not None:
            for cycle in report.next_cycles():
                found[cycle] = (report.next_due_date, report.concluding_observations_symbol)
    return found


def _item(
    party: Party,
    cycle: int,
    nominal: date | None,
    filed: Sequence[Filed],
    observed: tuple[date, str | None] | None,
    rule: str,
) -> Expected:
    # The Committee's date: a report covering this cycle records a due date other than the
    # treaty's, or concluding observations set one for it (DOMAIN.md, "The Committee's date wins").
    recorded = next((r.due_date for r in filed if r.due_date is not None and r.due_date != nominal), None)
    committee: date | None = None
    document: str | None = None
    if recorded is not None:
        committee = recorded
    elif observed is not None:
        committee, document = observed
    due = committee or nominal
    return Expected(
        country=party.country,
        instrument=party.instrument,
        cycle=cycle,
        nominal_due_date=nominal,
        committee_due_date=committee,
        due_date=due,
        due_source=DueSource.COMMITTEE if committee else DueSource.TREATY if nominal else None,
        due_source_document=document if committee else None,
        rule=COMMITTEE_RULE if committee else rule,
        date_unknown_reason=None if due else party.unknown_reason,
        report_ids=sorted(r.id for r in filed),
    )


def _judge(item: Expected, filed: Sequence[Filed], as_of: date, tracked_from: date | None) -> None:
    """Set the item's status as of `as_of` (DOMAIN.md, "Overdue is a claim about the record")."""
    # A submitted report covering the cycle satisfies it; a combined report satisfies each cycle it spans.
    submitted = sorted((r for r in filed if r.submitted_date is not None), key=lambda r: (r.submitted_date, r.id))
    if submitted and submitted[0].submitted_date is not None and submitted[0].submitted_date <= as_of:
        item.satisfied_by, item.submitted_date = submitted[0].id, submitted[0].submitted_date
        item.status = Status.SUBMITTED
    elif item.due_date is None:
        item.status = Status.DATE_UNKNOWN
    elif item.provisional:
        item.status = Status.PROVISIONAL
    elif item.due_date >= as_of:
        item.status = Status.DUE
    elif tracked_from is not None and item.due_date >= tracked_from:
        item.status, item.days_late = Status.OVERDUE, (as_of - item.due_date).days
    else:
        item.status = Status.NO_REPORT_ON_RECORD


def expected_reports(parties: Sequence[Party], reports: Sequence[Filed], as_of: date, until: date) -> list[Expected]:
    """Every report one State owes under `parties` (its instruments), as of `as_of`.

    Cycles run while their nominal date is on or before `until`, and as far as any report on
    record covers, but never past the horizon (LAST_DAY). A CRC party's protocol reports after
    the initial one are folded into its CRC periodic reports (OPSC art. 12(2), OPAC art. 8(2)):
    they are not separate items, and each CRC periodic item due after the protocol's initial
    report lists the protocol in `includes`. A protocol party that is not (yet) a CRC party
    reports every five years on its own (the second sentence of the same paragraphs), for the
    cycles due before the CRC enters into force for it.

    Status (`Status`): a report submitted after `as_of` satisfies nothing as of then. A treaty
    date after the latest cycle the Committee set a date for is provisional. A passed date is
    overdue only where the service keeps the State's history: from the party's `tracked_from`,
    or from the earliest due date of a cycle that a report of the State on record covers
    (whatever the instrument); before that it is `no_report_on_record`.
    """
    by_instrument = {party.instrument: party for party in parties}
    crc = by_instrument.get(Instrument.CRC)
    items: list[Expected] = []
    covering: dict[int, list[Expected]] = {}
    filed_of: dict[int, Sequence[Filed]] = {}
    ordered = sorted(parties, key=lambda p: list(Instrument).index(p.instrument))
    for party in ordered:
        own = [r for r in reports if r.instrument is party.instrument]
        filed = _by_cycle(own)
        observed = _committee_dates(own)
        last = max(_cycles_until(party.in_force, until), max(filed, default=1), max(observed, default=1))
        made: list[Expected] = []
        for cycle in range(1, last + 1):
            nominal = None
            if party.in_force is not None:
                nominal = _nominal_within_horizon(party.in_force, cycle)
                if nominal is None:
                    break  # past the horizon, as every later cycle
            if party.instrument is Instrument.CRC or cycle == 1:
                rule = INITIAL_RULE[party.instrument] if cycle == 1 else PERIODIC_RULE[party.instrument]
            elif crc is None or (nominal is not None and crc.in_force is not None and nominal < crc.in_force):
                rule = PERIODIC_RULE[party.instrument]
            else:
                continue  # folded into the CRC cycle (OPSC art. 12(2), OPAC art. 8(2))
            item = _item(party, cycle, nominal, filed.get(cycle, []), observed.get(cycle), rule)
            made.append(item)
            filed_of[id(item)] = filed.get(cycle, [])
        # Treaty dates after the latest cycle the Committee dated are provisional.
        latest = max((i.cycle for i in made if i.due_source is DueSource.COMMITTEE), default=None)
        for item in made:
            item.provisional = latest is not None and item.cycle > latest and item.due_source is DueSource.TREATY
        items += made
        covering[id(party)] = made
    # The State's history is kept from the earliest date a report on record covers.
    on_record = [i.due_date for i in items if i.report_ids and i.due_date is not None]
    implied = min(on_record, default=None)
    initial_protocol_due: dict[Instrument, date] = {}
    for party in ordered:
        starts = [d for d in (party.tracked_from, implied) if d is not None]
        for item in covering.get(id(party), []):
            _judge(item, filed_of[id(item)], as_of, min(starts, default=None))
            if item.cycle == 1 and party.instrument in PROTOCOLS:
                after = item.submitted_date or item.due_date
                if after is not None:
                    initial_protocol_due[party.instrument] = after
    for item in items:
        if item.instrument is Instrument.CRC and item.cycle > 1 and item.due_date is not None:
            due = item.due_date
            item.includes = [p for p, after in initial_protocol_due.items() if due > after]
    return items


SUCCESSION_UNKNOWN = "succession without its date of succession on record: the notification date gives none"


def party_in_force(
    instrument: Instrument,
    action: str,
    deposited_on: date,
    override: date | None = None,
    succession_effective_on: date | None = None,
    disputed: Mapping[str, Sequence[str]] | None = None,
) -> tuple[date | None, str | None]:
    """(entry into force for the State, None) or (None, why it cannot be known).

    A date the depositary records (`override`) wins. A succession takes effect from the date of
    succession, never from the notification: without that date, or with two candidates on record,
    there is no date, and the reason says so."""
    if override is not None:
        return override, None
    if action == "succession":
        candidates = (disputed or {}).get("succession_effective_on")
        if candidates:
            return None, "disputed succession date: " + " or ".join(candidates)
        if succession_effective_on is None:
            return None, SUCCESSION_UNKNOWN
        return succession_in_force(instrument, succession_effective_on), None
    return entry_into_force(instrument, deposited_on), None
