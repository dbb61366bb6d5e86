"""The treaty arithmetic of the reporting cycle: dates in, expected reports out. No database.

Every rule cites its article. The texts: Convention on the Rights of the Child (CRC, 1989),
Optional Protocol on the sale of children, child prostitution and child pornography (OPSC, 2000),
Optional Protocol on the involvement of children in armed conflict (OPAC, 2000).

Dates: "one month" and "two years" are calendar arithmetic with `dateutil.relativedelta`, which
clamps to the end of a shorter month. So a deposit on 31 January 2004 enters the OPSC into force on
29 February 2004, and two years after 29 February 2004 is 28 February 2006: clamping backwards keeps
the due date *within* two years (CRC art. 44(1)(a), "within two years of the entry into force"),
where rolling on to 1 March would put it outside. Periodic dates are counted as multiples of five
years from the initial nominal date (not step by step), so one clamp never drifts the chain.

Cycles: 1 is the initial report, n the n-th report (the CRC's "third and fourth periodic reports"
are cycles 3 and 4, as `GovernmentReport.cycle_from/cycle_to` record them).

Horizon: the calendar names no nominal date after the last day the API accepts (LAST_DAY,
2199-12-31). A cycle due later is left out, and every cycle after it, whatever reports on record
claim to cover; so no stored date, however far out, makes the arithmetic run off the calendar.
"""

from collections.abc import Iterable, Sequence
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
    Instrument.OPSC: "OPSC art. 14(2): one month after deposit, never before 18 January 2002 (art. 14(1))",
    Instrument.OPAC: "OPAC art. 10(2): one month after deposit, never before 12 February 2002 (art. 10(1))",
}
INITIAL_RULE = {
    Instrument.CRC: "CRC art. 44(1)(a): within two years of entry into force",
    Instrument.OPSC: "OPSC art. 12(1): within two years of entry into force",
    Instrument.OPAC: "OPAC art. 8(1): within two years of entry into force",
}
PERIODIC_RULE = {
    Instrument.CRC: "CRC art. 44(1)(b): every five years thereafter",
    Instrument.OPSC: "OPSC art. 12(2), second sentence: a party not party to the CRC reports every five years",
    Instrument.OPAC: "OPAC art. 8(2), second sentence: a party not party to the CRC reports every five years",
}
FOLDED_RULE = {
    Instrument.OPSC: "OPSC art. 12(2): after its initial report, folded into the CRC periodic reports (art. 44)",
    Instrument.OPAC: "OPAC art. 8(2): after its initial report, folded into the CRC periodic reports (art. 44)",
}
COMMITTEE_RULE = "a date set by the Committee for this cycle, recorded on the report (it wins over the treaty's)"


class DueSource(StrEnum):
    TREATY = "treaty"  # the nominal date of the treaty arithmetic
    COMMITTEE = "committee"  # a date the Committee set, recorded as a report's due_date


def entry_into_force(instrument: Instrument, deposited_on: date) -> date:
    """When the instrument enters into force for a State that deposited on `deposited_on`.

    CRC art. 49(2): "on the thirtieth day after the deposit"; OPSC art. 14(2) and OPAC art. 10(2):
    "one month after the date of the deposit". Never before the instrument's own entry into force
    (CRC art. 49(1), OPSC art. 14(1), OPAC art. 10(1)): an early depositor waits for it.
    A succession usually takes effect from the date of succession instead: the depositary's date
    is then recorded as an override on the ratification.
    """
    try:
        if instrument is Instrument.CRC:
            computed = deposited_on + timedelta(days=30)
        else:
            computed = deposited_on + relativedelta(months=1)
    except (OverflowError, ValueError):
        # A deposit stored in the last month of year 9999 (the API accepts none after LAST_DAY):
        # the last day a date can name, past the horizon like the real answer.
        computed = date.max
    return max(computed, INSTRUMENT_IN_FORCE[instrument])


def nominal_due(in_force: date, cycle: int) -> date:
    """The treaty's date for `cycle`: initial within two years of entry into force (CRC art.
    44(1)(a), OPSC art. 12(1), OPAC art. 8(1)), then every five years counted from the nominal
    dates, not from when a report arrived (CRC art. 44(1)(b))."""
    initial = in_force + INITIAL_WITHIN
    return initial if cycle == 1 else initial + relativedelta(years=PERIODIC_EVERY * (cycle - 1))


@dataclass(frozen=True)
class Party:
    """One State's entry into force of one instrument."""

    country: str
    instrument: Instrument
    in_force: date


@dataclass(frozen=True)
class Filed:
    """A government report record, as far as the calendar reads it."""

    id: str
    country: str
    instrument: Instrument
    cycle_from: int | None
    cycle_to: int | None
    due_date: date | None
    submitted_date: date | None

    def cycles(self) -> range:
        if self.cycle_from is None:
            return range(0)
        return range(self.cycle_from, (self.cycle_to or self.cycle_from) + 1)


@dataclass
class Expected:
    """One report a State owes for one cycle of one instrument."""

    country: str
    instrument: Instrument
    cycle: int
    nominal_due_date: date
    committee_due_date: date | None
    due_date: date
    due_source: DueSource
    rule: str
    includes: list[Instrument] = field(default_factory=list)
    report_ids: list[str] = field(default_factory=list)
    activity_ids: list[str] = field(default_factory=list)  # filled by the service: who monitors it
    satisfied_by: str | None = None
    submitted_date: date | None = None
    is_overdue: bool = False
    days_late: int | None = None

    @property
    def kind(self) -> str:
        return "initial" if self.cycle == 1 else "periodic"

    @property
    def is_satisfied(self) -> bool:
        return self.satisfied_by is not None


def _nominal_within_horizon(in_force: date, cycle: int) -> date | None:
    """`nominal_due`, or None when it falls after LAST_DAY (or after the last day a date can name)."""
    try:
        nominal = nominal_due(in_force, cycle)
    except (OverflowError, ValueError):
        return None
    return nominal if nominal <= LAST_DAY else None


def _cycles_until(in_force: date, until: date) -> int:
    """How many cycles have a nominal date on or before `until` (at least the initial one)."""
    cycle = 1
    while (following := _nominal_within_horizon(in_force, cycle + 1)) is not None and following <= until:
        cycle += 1
    return cycle


def _by_cycle(reports: Iterable[Filed]) -> dict[int, list[Filed]]:
    found: dict[int, list[Filed]] = {}
    for report in reports:
        for cycle in report.cycles():
            found.setdefault(cycle, []).append(report)
    return found


def _item(party: Party, cycle: int, nominal: date, filed: Sequence[Filed], as_of: date, rule: str) -> Expected:
    # The Committee's date: a report covering this cycle records a due date other than the
    # treaty's. It applies to every cycle that report covers, and to no later one: the next
    # cycle returns to the nominal chain (DOMAIN.md, "The reporting cycle").
    committee = next((r.due_date for r in filed if r.due_date is not None and r.due_date != nominal), None)
    due = committee or nominal
    # A submitted report covering the cycle satisfies it; a combined report satisfies each cycle it spans.
    submitted = sorted((r for r in filed if r.submitted_date is not None), key=lambda r: (r.submitted_date, r.id))
    item = Expected(
        country=party.country,
        instrument=party.instrument,
        cycle=cycle,
        nominal_due_date=nominal,
        committee_due_date=committee,
        due_date=due,
        due_source=DueSource.COMMITTEE if committee else DueSource.TREATY,
        rule=COMMITTEE_RULE if committee else rule,
        report_ids=sorted(r.id for r in filed),
    )
    if submitted and submitted[0].submitted_date is not None and submitted[0].submitted_date <= as_of:
        item.satisfied_by, item.submitted_date = submitted[0].id, submitted[0].submitted_date
    elif due < as_of:
        # Overdue: not satisfied by a submitted report, and the applicable date has passed.
        item.is_overdue, item.days_late = True, (as_of - due).days
    return item


def expected_reports(parties: Sequence[Party], reports: Sequence[Filed], as_of: date, until: date) -> list[Expected]:
    """Every report one State owes under `parties` (its instruments), as of `as_of`.

    Cycles run while their nominal date is on or before `until`, and as far as any report on
    record covers, but never past the horizon (LAST_DAY). A CRC party's protocol reports after
    the initial one are folded into its CRC periodic reports (OPSC art. 12(2), OPAC art. 8(2)):
    they are not separate items, and each CRC periodic item due after the protocol's initial
    report lists the protocol in `includes`. A protocol party that is not (yet) a CRC party
    reports every five years on its own (the second sentence of the same paragraphs), for the
    cycles due before the CRC enters into force for it.
    A report submitted after `as_of` does not satisfy anything as of then.
    """
    by_instrument = {party.instrument: party for party in parties}
    crc = by_instrument.get(Instrument.CRC)
    items: list[Expected] = []
    initial_protocol_due: dict[Instrument, date] = {}
    for party in sorted(parties, key=lambda p: list(Instrument).index(p.instrument)):
        filed = _by_cycle(r for r in reports if r.instrument is party.instrument)
        last = max(_cycles_until(party.in_force, until), max(filed, default=1))
        for cycle in range(1, last + 1):
            nominal = _nominal_within_horizon(party.in_force, cycle)
            if nominal is None:
                break  # past the horizon, as every later cycle
            if party.instrument is Instrument.CRC or cycle == 1:
                rule = INITIAL_RULE[party.instrument] if cycle == 1 else PERIODIC_RULE[party.instrument]
            elif crc is None or nominal < crc.in_force:
                rule = PERIODIC_RULE[party.instrument]
            else:
                continue  # folded into the CRC cycle (OPSC art. 12(2), OPAC art. 8(2))
            item = _item(party, cycle, nominal, filed.get(cycle, []), as_of, rule)
            if cycle == 1 and party.instrument in PROTOCOLS:
                initial_protocol_due[party.instrument] = item.submitted_date or item.due_date
            items.append(item)
    for item in items:
        if item.instrument is Instrument.CRC and item.cycle > 1:
            item.includes = [p for p, after in initial_protocol_due.items() if item.due_date > after]
    return items
