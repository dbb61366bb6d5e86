"""The treaty arithmetic: when an instrument enters into force for a State, and when its reports
fall due by the treaty's own words. Pure date arithmetic, no database: what a ratification computes
(its entry into force) and what the reporting calendar builds on (app/calendar/rules.py) both come
from here.

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
"""

from collections.abc import Mapping, Sequence
from datetime import date, timedelta

from dateutil.relativedelta import relativedelta

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
