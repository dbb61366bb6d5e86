"""The treaty arithmetic, by worked example (app/calendar/rules.py cites the articles)."""

from datetime import date

import pytest

from app.calendar.rules import DueSource, Expected, Filed, Party, entry_into_force, expected_reports, nominal_due
from app.records import LAST_DAY
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


def owed(items: list[Expected], instrument: Instrument) -> list[tuple[int, date, DueSource]]:
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
        # OPSC before its own entry into force (art. 14(1)), and one month after (art. 14(2)).
        (OPSC, date(2001, 4, 5), date(2002, 1, 18)),
        (OPSC, date(2002, 1, 10), date(2002, 2, 10)),
        # One month after 31 January 2004 clamps to 29 February 2004.
        (OPSC, date(2004, 1, 31), date(2004, 2, 29)),
        # A deposit on 29 February: one month later is 29 March.
        (OPSC, date(2004, 2, 29), date(2004, 3, 29)),
        (OPAC, date(2001, 6, 1), date(2002, 2, 12)),
        (OPAC, date(2002, 3, 31), date(2002, 4, 30)),
    ],
)
def test_entry_into_force(instrument: Instrument, deposited: date, in_force: date) -> None:
    assert entry_into_force(instrument, deposited) == in_force


def test_29_february_entry_into_force_makes_an_initial_report_due_on_28_february() -> None:
    # "Within two years" (OPSC art. 12(1)): clamped back to 28 February, never rolled to 1 March.
    assert nominal_due(date(2004, 2, 29), 1) == date(2006, 2, 28)
    assert nominal_due(date(2004, 2, 29), 2) == date(2011, 2, 28)
    assert nominal_due(date(2004, 2, 29), 3) == date(2016, 2, 28)


def test_crc_cycles_chain_every_five_years_from_nominal_dates() -> None:
    party = Party("GHA", CRC, date(1990, 9, 2))
    late = report(CRC, (1, 1), submitted=date(1995, 10, 20))
    items = expected_reports([party], [late], as_of=date(2003, 1, 1), until=date(2008, 1, 1))
    assert owed(items, CRC) == [
        (1, date(1992, 9, 2), DueSource.TREATY),
        (2, date(1997, 9, 2), DueSource.TREATY),  # not five years after the late initial report
        (3, date(2002, 9, 2), DueSource.TREATY),
        (4, date(2007, 9, 2), DueSource.TREATY),
    ]
    assert [(i.is_satisfied, i.is_overdue, i.days_late) for i in items] == [
        (True, False, None),
        (False, True, 1947),
        (False, True, 121),
        (False, False, None),
    ]


def test_as_of_flips_is_overdue() -> None:
    party = Party("MEX", OPSC, date(2002, 5, 15))
    submitted = report(OPSC, (1, 1), submitted=date(2005, 3, 1))
    (before,) = expected_reports([party], [submitted], as_of=date(2004, 5, 15), until=date(2004, 5, 15))
    assert (before.due_date, before.is_overdue, before.days_late) == (date(2004, 5, 15), False, None)
    (late,) = expected_reports([party], [submitted], as_of=date(2004, 5, 16), until=date(2004, 5, 16))
    assert (late.is_overdue, late.days_late, late.is_satisfied) == (True, 1, False)
    # Once submitted (as of then), it is satisfied and no longer overdue.
    (done,) = expected_reports([party], [submitted], as_of=date(2005, 3, 1), until=date(2005, 3, 1))
    assert (done.is_overdue, done.satisfied_by, done.submitted_date) == (False, "r", date(2005, 3, 1))


def test_a_combined_report_spanning_three_cycles_satisfies_each() -> None:
    party = Party("KEN", CRC, date(1990, 9, 2))
    combined = report(CRC, (2, 4), submitted=date(2006, 6, 1), report_id="combined")
    items = expected_reports([party], [combined], as_of=date(2010, 1, 1), until=date(2010, 1, 1))
    assert [(i.cycle, i.satisfied_by, i.is_overdue) for i in items] == [
        (1, None, True),
        (2, "combined", False),
        (3, "combined", False),
        (4, "combined", False),
    ]
    assert items[1].report_ids == ["combined"]


def test_a_committee_date_applies_to_its_cycles_then_the_nominal_chain_returns() -> None:
    # The Committee asked for the combined third and fourth reports by 20 April 2011.
    party = Party("BRA", CRC, date(1990, 11, 23))
    combined = report(CRC, (3, 4), due=date(2011, 4, 20), report_id="3-4")
    items = expected_reports([party], [combined], as_of=date(2013, 1, 1), until=date(2016, 1, 1))
    assert owed(items, CRC) == [
        (1, date(1992, 11, 23), DueSource.TREATY),
        (2, date(1997, 11, 23), DueSource.TREATY),
        (3, date(2011, 4, 20), DueSource.COMMITTEE),
        (4, date(2011, 4, 20), DueSource.COMMITTEE),
        (5, date(2012, 11, 23), DueSource.TREATY),  # back on the treaty's chain
    ]
    assert items[2].nominal_due_date == date(2002, 11, 23)
    assert items[3].nominal_due_date == date(2007, 11, 23)
    assert items[4].is_overdue


def test_a_report_recording_the_nominal_date_is_not_a_committee_date() -> None:
    party = Party("BRA", CRC, date(1990, 11, 23))
    same = report(CRC, (1, 1), due=date(1992, 11, 23))
    (item,) = expected_reports([party], [same], as_of=date(1992, 1, 1), until=date(1992, 12, 1))
    assert (item.due_source, item.committee_due_date) == (DueSource.TREATY, None)


def test_a_crc_party_reports_on_the_opsc_inside_its_crc_cycle_after_the_initial_one() -> None:
    crc = Party("MEX", CRC, date(1990, 10, 21))
    opsc = Party("MEX", OPSC, date(2002, 4, 15))
    items = expected_reports([crc, opsc], [], as_of=date(2012, 1, 1), until=date(2012, 1, 1))
    assert owed(items, OPSC) == [(1, date(2004, 4, 15), DueSource.TREATY)]  # only the initial report
    assert [(i.cycle, i.due_date, i.includes) for i in items if i.instrument is CRC] == [
        (1, date(1992, 10, 21), []),
        (2, date(1997, 10, 21), []),
        (3, date(2002, 10, 21), []),
        (4, date(2007, 10, 21), [OPSC]),  # due after the OPSC initial report: it carries the OPSC
    ]


def test_an_opsc_only_party_reports_every_five_years_on_its_own() -> None:
    # A State party to the OPSC but not to the CRC (OPSC art. 12(2), second sentence).
    opsc = Party("USA", OPSC, date(2003, 1, 23))
    items = expected_reports([opsc], [], as_of=date(2014, 1, 1), until=date(2016, 1, 1))
    assert owed(items, OPSC) == [
        (1, date(2005, 1, 23), DueSource.TREATY),
        (2, date(2010, 1, 23), DueSource.TREATY),
        (3, date(2015, 1, 23), DueSource.TREATY),
    ]
    assert "second sentence" in items[1].rule
    assert [i.is_overdue for i in items] == [True, True, False]


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
    assert max(item.nominal_due_date for item in items) <= LAST_DAY
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
