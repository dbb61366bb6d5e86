"""The reporting calendar's rules: a State's parties and reports on record in, the reports it owes
out, each with its date and status. No database.

The treaty arithmetic itself (entry into force, the treaty's due dates, the articles they cite) is
app/treaties.py; here are what the Committee and the record add to it. How the Committee and OHCHR
apply the texts is in ../shared/DOMAIN.md ("The reporting cycle"), with published examples that
tests/calendar hold the code to.

Cycles: 1 is the initial report, n the n-th report (the CRC's "third and fourth periodic reports"
are cycles 3 and 4, as `GovernmentReport.cycle_from/cycle_to` record them).

Horizon: the calendar names no nominal date after the last day the API accepts (LAST_DAY,
2199-12-31). A cycle due later is left out, and every cycle after it, whatever reports on record
claim to cover; so no stored date, however far out, makes the arithmetic run off the calendar.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from app.records import LAST_DAY
from app.treaties import INITIAL_RULE, PERIODIC_RULE, PROTOCOLS, nominal_due
from app.vocabularies import Instrument

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
