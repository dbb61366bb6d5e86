"""The treaty arithmetic and the calendar built on it, by worked example (app/treaties.py cites the articles)."""

from datetime import date

import pytest

from app.calendar.rules import DueSource, Expected, Filed, Party, Status, expected_reports
from app.records import LAST_DAY
from app.treaties import SUCCESSION_UNKNOWN, entry_into_force, nominal_due, party_in_force
from app.vocabularies import Instrument

CRC, OPSC, OPAC = Instrument.CRC, Instrument.OPSC, Instrument.OPAC


def report(
    instrument: Instrument,
    cycles: tuple[int, int],
    *,
    due: date | None = None,
    submitted: date | None = None,
    report_id: str = "r",
) -> Filed:
    return Filed(report_id, "MEX", instrument, cycles[0], cycles[1], due, submitted)


def owed(items: list[Expected], instrument: Instrument) -> list[tuple[int, date | None, DueSource | None]]:
    return [(i.cycle, i.due_date, i.due_source) for i in items if i.instrument is instrument]


@pytest.mark.parametrize(
    ("instrument", "deposited", "in_force"),
    [
        # Deposited before the CRC itself was in force: it waits for 2 September 1990 (art. 49(1)).
        (CRC, date(1990, 2, 5), date(1990, 9, 2)),
        # Thirty days after deposit, once the CRC is in force (art. 49(2)).
        (CRC, date(1990, 8, 10), date(1990, 9, 9)),
        (CRC, date(1991, 12, 31), date(1992, 1, 30)),
        # 30 days after 30 January 2004 is 29 February 2004.
        (CRC, date(2004, 1, 30), date(2004, 2, 29)),
        # OPSC deposited on or before its own entry into force takes that date (art. 14(1)):
        # Viet Nam, 20 December 2001, in force 18 January 2002 (not 20 January), and a deposit
        # on the day itself; after it, one month after deposit (art. 14(2)).
        (OPSC, date(2001, 4, 5), date(2002, 1, 18)),
        (OPSC, date(2001, 12, 20), date(2002, 1, 18)),
        (OPSC, date(2002, 1, 10), date(2002, 1, 18)),
        (OPSC, date(2002, 1, 18), date(2002, 1, 18)),
        (OPSC, date(2002, 1, 19), date(2002, 2, 19)),
        # Benin, 31 January 2005: one month later clamps to 28 February 2005.
        (OPSC, date(2005, 1, 31), date(2005, 2, 28)),
        # One month after 31 January 2004 clamps to 29 February 2004.
        (OPSC, date(2004, 1, 31), date(2004, 2, 29)),
        # A deposit on 29 February: one month later is 29 March.
        (OPSC, date(2004, 2, 29), date(2004, 3, 29)),
        (OPAC, date(2001, 6, 1), date(2002, 2, 12)),
        (OPAC, date(2001, 12, 20), date(2002, 2, 12)),  # art. 10(1), not 20 January
        (OPAC, date(2002, 2, 13), date(2002, 3, 13)),
        (OPAC, date(2002, 3, 31), date(2002, 4, 30)),
    ],
)
def test_entry_into_force(instrument: Instrument, deposited: date, in_force: date) -> None:
    assert entry_into_force(instrument, deposited) == in_force


def test_due_dates_are_the_day_before_the_anniversary_then_five_years_on() -> None:
    # Rwanda, in force 23 February 1991: fifth and sixth reports "by 22 February 2018".
    assert [nominal_due(date(1991, 2, 23), cycle) for cycle in range(1, 7)] == [
        date(1993, 2, 22),
        date(1998, 2, 22),
        date(2003, 2, 22),
        date(2008, 2, 22),
        date(2013, 2, 22),
        date(2018, 2, 22),
    ]
    # The United States, OPSC and OPAC in force 23 January 2003: second reports due 22 January 2010.
    assert nominal_due(date(2003, 1, 23), 2) == date(2010, 1, 22)


def test_29_february_entry_into_force_makes_an_initial_report_due_on_28_february() -> None:
    # Tunisia, CRC in force 29 February 1992: its second anniversary in 1994 is 1 March, so the
    # two years run out on 28 February 1994; every later cycle falls on 28 February too (in 2004,
    # a leap year, the anniversary is 29 February and the day before it 28 February).
    assert [nominal_due(date(1992, 2, 29), cycle) for cycle in (1, 2, 3)] == [
        date(1994, 2, 28),
        date(1999, 2, 28),
        date(2004, 2, 28),
    ]
    # In force 1 March 2002: the day before the anniversary is 29 February 2004, and five years on
    # it falls on 28 February in a common year and 29 February again in a leap one.
    assert [nominal_due(date(2002, 3, 1), cycle) for cycle in (1, 2, 5)] == [
        date(2004, 2, 29),
        date(2009, 2, 28),
        date(2024, 2, 29),
    ]


TRACKED = date(1900, 1, 1)  # a State whose whole report history the service keeps


def test_crc_cycles_chain_every_five_years_from_nominal_dates() -> None:
    party = Party("GHA", CRC, date(1990, 9, 2), tracked_from=TRACKED)
    late = report(CRC, (1, 1), submitted=date(1995, 10, 20))
    items = expected_reports([party], [late], as_of=date(2003, 1, 1), until=date(2008, 1, 1))
    assert owed(items, CRC) == [
        (1, date(1992, 9, 1), DueSource.TREATY),
        (2, date(1997, 9, 1), DueSource.TREATY),  # not five years after the late initial report
        (3, date(2002, 9, 1), DueSource.TREATY),
        (4, date(2007, 9, 1), DueSource.TREATY),
    ]
    assert [(i.status, i.is_satisfied, i.is_overdue, i.days_late) for i in items] == [
        (Status.SUBMITTED, True, False, None),
        (Status.OVERDUE, False, True, 1948),
        (Status.OVERDUE, False, True, 122),
        (Status.DUE, False, False, None),
    ]


def test_as_of_flips_is_overdue() -> None:
    party = Party("MEX", OPSC, date(2002, 5, 15), tracked_from=TRACKED)
    submitted = report(OPSC, (1, 1), submitted=date(2005, 3, 1))
    (before,) = expected_reports([party], [submitted], as_of=date(2004, 5, 14), until=date(2004, 5, 14))
    assert (before.due_date, before.status, before.days_late) == (date(2004, 5, 14), Status.DUE, None)
    (late,) = expected_reports([party], [submitted], as_of=date(2004, 5, 15), until=date(2004, 5, 15))
    assert (late.status, late.is_overdue, late.days_late, late.is_satisfied) == (Status.OVERDUE, True, 1, False)
    # Once submitted (as of then), it is satisfied and no longer overdue.
    (done,) = expected_reports([party], [submitted], as_of=date(2005, 3, 1), until=date(2005, 3, 1))
    assert (done.status, done.satisfied_by, done.submitted_date) == (Status.SUBMITTED, "r", date(2005, 3, 1))


def test_a_passed_date_is_overdue_only_where_the_history_is_kept() -> None:
    # No report on record and no tracking: nobody keeps this State's history, so a passed date
    # says nothing about the State.
    party = Party("RWA", CRC, date(1991, 2, 23))
    items = expected_reports([party], [], as_of=date(2019, 1, 1), until=date(2019, 1, 1))
    assert {i.status for i in items} == {Status.NO_REPORT_ON_RECORD}
    assert not any(i.is_overdue or i.days_late for i in items)
    # Tracked from 2010: the cycles due since then are overdue, the earlier ones not on record.
    tracked = Party("RWA", CRC, date(1991, 2, 23), tracked_from=date(2010, 1, 1))
    items = expected_reports([tracked], [], as_of=date(2019, 1, 1), until=date(2019, 1, 1))
    assert [(i.cycle, i.status) for i in items] == [
        (1, Status.NO_REPORT_ON_RECORD),
        (2, Status.NO_REPORT_ON_RECORD),
        (3, Status.NO_REPORT_ON_RECORD),
        (4, Status.NO_REPORT_ON_RECORD),
        (5, Status.OVERDUE),
        (6, Status.OVERDUE),
    ]


def test_a_report_on_record_keeps_the_history_from_the_date_it_covers() -> None:
    # The third report (due 2003) is on record, for any instrument: from then on the State's
    # history is kept, and the fourth is overdue; the first two are not on record.
    party = Party("RWA", CRC, date(1991, 2, 23))
    third = report(CRC, (3, 3), submitted=date(2003, 5, 1))
    items = expected_reports([party], [third], as_of=date(2009, 1, 1), until=date(2009, 1, 1))
    assert [(i.cycle, i.status) for i in items] == [
        (1, Status.NO_REPORT_ON_RECORD),
        (2, Status.NO_REPORT_ON_RECORD),
        (3, Status.SUBMITTED),
        (4, Status.OVERDUE),
    ]


def test_a_combined_report_spanning_three_cycles_satisfies_each() -> None:
    party = Party("KEN", CRC, date(1990, 9, 2), tracked_from=TRACKED)
    combined = report(CRC, (2, 4), submitted=date(2006, 6, 1), report_id="combined")
    items = expected_reports([party], [combined], as_of=date(2010, 1, 1), until=date(2010, 1, 1))
    assert [(i.cycle, i.satisfied_by, i.is_overdue) for i in items] == [
        (1, None, True),
        (2, "combined", False),
        (3, "combined", False),
        (4, "combined", False),
    ]
    assert items[1].report_ids == ["combined"]


def test_a_committee_date_applies_to_its_cycles_and_later_treaty_dates_are_provisional() -> None:
    # The Committee asked for the combined third and fourth reports by 20 April 2011.
    party = Party("BRA", CRC, date(1990, 11, 23), tracked_from=TRACKED)
    combined = report(CRC, (3, 4), due=date(2011, 4, 20), report_id="3-4")
    items = expected_reports([party], [combined], as_of=date(2013, 1, 1), until=date(2016, 1, 1))
    assert owed(items, CRC) == [
        (1, date(1992, 11, 22), DueSource.TREATY),
        (2, date(1997, 11, 22), DueSource.TREATY),
        (3, date(2011, 4, 20), DueSource.COMMITTEE),
        (4, date(2011, 4, 20), DueSource.COMMITTEE),
        (5, date(2012, 11, 22), DueSource.TREATY),  # the treaty's chain, after the Committee's date
    ]
    assert items[2].nominal_due_date == date(2002, 11, 22)
    assert items[3].nominal_due_date == date(2007, 11, 22)
    assert [(i.status, i.provisional) for i in items] == [
        (Status.OVERDUE, False),
        (Status.OVERDUE, False),
        (Status.OVERDUE, False),
        (Status.OVERDUE, False),
        (Status.PROVISIONAL, True),  # passed, but never called overdue
    ]


def test_concluding_observations_set_the_date_and_cycles_of_the_next_report() -> None:
    # Rwanda: the observations on its third and fourth reports asked for the fifth and sixth
    # combined "by 22 February 2018"; what follows is provisional.
    party = Party("RWA", CRC, date(1991, 2, 23))
    third = Filed(
        "3-4",
        "RWA",
        CRC,
        3,
        4,
        None,
        date(2009, 1, 1),
        concluding_observations_symbol="CRC/C/RWA/CO/3-4",
        next_due_date=date(2018, 2, 22),
        next_cycle_from=5,
        next_cycle_to=6,
    )
    items = expected_reports([party], [third], as_of=date(2026, 1, 1), until=date(2026, 1, 1))
    assert [(i.cycle, i.due_date, i.due_source, i.due_source_document, i.status) for i in items if i.cycle >= 5] == [
        (5, date(2018, 2, 22), DueSource.COMMITTEE, "CRC/C/RWA/CO/3-4", Status.OVERDUE),
        (6, date(2018, 2, 22), DueSource.COMMITTEE, "CRC/C/RWA/CO/3-4", Status.OVERDUE),
        (7, date(2023, 2, 22), DueSource.TREATY, None, Status.PROVISIONAL),
    ]
    assert items[4].nominal_due_date == date(2013, 2, 22)


def test_a_report_recording_the_nominal_date_is_not_a_committee_date() -> None:
    party = Party("BRA", CRC, date(1990, 11, 23))
    same = report(CRC, (1, 1), due=date(1992, 11, 22))
    (item,) = expected_reports([party], [same], as_of=date(1992, 1, 1), until=date(1992, 12, 1))
    assert (item.due_source, item.committee_due_date, item.provisional) == (DueSource.TREATY, None, False)


def test_a_crc_party_reports_on_the_opsc_inside_its_crc_cycle_after_the_initial_one() -> None:
    crc = Party("MEX", CRC, date(1990, 10, 21))
    opsc = Party("MEX", OPSC, date(2002, 4, 15))
    items = expected_reports([crc, opsc], [], as_of=date(2012, 1, 1), until=date(2012, 1, 1))
    assert owed(items, OPSC) == [(1, date(2004, 4, 14), DueSource.TREATY)]  # only the initial report
    assert [(i.cycle, i.due_date, i.includes) for i in items if i.instrument is CRC] == [
        (1, date(1992, 10, 20), []),
        (2, date(1997, 10, 20), []),
        (3, date(2002, 10, 20), []),
        (4, date(2007, 10, 20), [OPSC]),  # due after the OPSC initial report: it carries the OPSC
    ]


def test_an_opsc_only_party_reports_every_five_years_on_its_own() -> None:
    # The United States, party to the OPSC but not to the CRC (OPSC art. 12(2), second sentence):
    # in force 23 January 2003, second report due 22 January 2010.
    opsc = Party("USA", OPSC, date(2003, 1, 23), tracked_from=TRACKED)
    items = expected_reports([opsc], [], as_of=date(2014, 1, 1), until=date(2016, 1, 1))
    assert owed(items, OPSC) == [
        (1, date(2005, 1, 22), DueSource.TREATY),
        (2, date(2010, 1, 22), DueSource.TREATY),
        (3, date(2015, 1, 22), DueSource.TREATY),
    ]
    assert "second sentence" in items[1].rule
    assert [i.is_overdue for i in items] == [True, True, False]


def test_a_succession_without_its_date_is_date_unknown_never_computed() -> None:
    in_force, reason = party_in_force(CRC, "succession", date(1993, 5, 28))
    assert (in_force, reason) == (None, SUCCESSION_UNKNOWN)
    party = Party("SVK", CRC, in_force, reason)
    (item,) = expected_reports([party], [], as_of=date(2026, 1, 1), until=date(2026, 1, 1))
    assert (item.cycle, item.due_date, item.nominal_due_date, item.status, item.date_unknown_reason) == (
        1,
        None,
        None,
        Status.DATE_UNKNOWN,
        SUCCESSION_UNKNOWN,
    )
    # Slovakia, bound from 1 January 1993: its initial report was "due in 1994".
    in_force, reason = party_in_force(CRC, "succession", date(1993, 5, 28), None, date(1993, 1, 1))
    assert (in_force, reason) == (date(1993, 1, 1), None)
    assert nominal_due(date(1993, 1, 1), 1) == date(1994, 12, 31)


def test_a_disputed_succession_date_is_date_unknown_with_both_candidates() -> None:
    disputed = {"succession_effective_on": ["1991-10-08", "1991-10-06"]}
    in_force, reason = party_in_force(CRC, "succession", date(1992, 10, 12), None, None, disputed)
    assert (in_force, reason) == (None, "disputed succession date: 1991-10-08 or 1991-10-06")


def test_a_report_on_record_beyond_the_horizon_still_has_its_cycle() -> None:
    party = Party("MEX", CRC, date(1990, 9, 2))
    future = report(CRC, (3, 3), due=date(2005, 1, 1))
    items = expected_reports([party], [future], as_of=date(1991, 1, 1), until=date(1991, 1, 1))
    assert [i.cycle for i in items] == [1, 2, 3]


def test_no_cycle_is_listed_past_2199_whatever_a_report_claims_to_cover() -> None:
    # In force in 2190: the initial report falls due in 2192, the second in 2197, the third after 2199.
    party = Party("MEX", CRC, date(2190, 3, 1))
    claims_all = report(CRC, (1, 20), submitted=date(2191, 1, 1))
    items = expected_reports([party], [claims_all], as_of=LAST_DAY, until=date.max)
    assert [item.cycle for item in items] == [1, 2]
    assert max(item.nominal_due_date or date.min for item in items) <= LAST_DAY
    late = Party("MEX", CRC, date(2198, 6, 1))  # even the initial report would be due after 2199
    assert expected_reports([late], [report(CRC, (1, 1))], as_of=LAST_DAY, until=LAST_DAY) == []


@pytest.mark.parametrize(
    ("instrument", "deposited"),
    [(CRC, date.max), (CRC, date(9999, 12, 2)), (OPSC, date(9999, 12, 1)), (OPAC, date.max)],
)
def test_a_deposit_stored_in_the_last_month_of_9999_enters_into_force_on_its_last_day(
    instrument: Instrument, deposited: date
) -> None:
    assert entry_into_force(instrument, deposited) == date.max
    party = Party("MEX", instrument, date.max)
    assert expected_reports([party], [report(instrument, (1, 2))], as_of=LAST_DAY, until=LAST_DAY) == []


def test_a_crc_report_lists_the_protocols_it_carries_in_their_order_whatever_the_records_order() -> None:
    # Rwanda: OPAC and OPSC initial reports due in 2004, both carried by the CRC reports after them.
    parties = [
        Party("RWA", OPAC, date(2002, 5, 23)),
        Party("RWA", OPSC, date(2002, 4, 14)),
        Party("RWA", CRC, date(1991, 2, 23)),
    ]
    items = expected_reports(parties, [], as_of=date(2026, 12, 6), until=date(2026, 12, 6))
    assert [(i.instrument, i.cycle, i.includes) for i in items if i.cycle in (3, 4) or i.instrument is not CRC] == [
        (CRC, 3, []),
        (CRC, 4, [OPSC, OPAC]),
        (OPSC, 1, []),
        (OPAC, 1, []),
    ]
