"""Nagios Core 4 time period syntax in vigie.timeperiods: every day/date form, Nagios' precedence of exceptions
over weekdays, ranges past midnight, DST days in Europe/Paris, one-line errors, and next_start/next_end
checked minute by minute on random instants."""

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.timeperiods import (
    ALWAYS,
    NEVER,
    TimePeriodError,
    check_timeperiods,
    contains,
    next_end,
    next_start,
    parse_timeperiod,
    parse_timeperiods,
)

PARIS = ZoneInfo("Europe/Paris")


def utc(*args):
    return datetime(*args, tzinfo=UTC).timestamp()


def paris(text):
    """Epoch of a Paris wall-clock time 'YYYY-MM-DD HH:MM' (the first one when the hour repeats)."""
    return datetime.fromisoformat(text).replace(tzinfo=PARIS).timestamp()


def period(spec):
    return parse_timeperiod("p", {"timezone": "Europe/Paris", **spec})


def days_covered(spec, first, last):
    """The dates from `first` to `last` whose noon is inside a period of one whole-day exception."""
    p = period({key: "00:00-24:00" for key in spec} if isinstance(spec, list) else spec)
    out, day = [], date.fromisoformat(first)
    while day <= date.fromisoformat(last):
        if contains(p, paris(f"{day} 12:00")):
            out.append(day.isoformat())
        day += timedelta(days=1)
    return out


# ---- each form of day or date ------------------------------------------------------------------------------


def test_weekdays_three_letter_forms_and_day_ranges():
    p = period({"mon": "08:00-09:00", "friday..sunday": "10:00-11:00"})
    # 2026-12-07 is a Monday, 2026-12-08 a Tuesday, 2026-12-11..13 Friday to Sunday
    assert contains(p, paris("2026-12-07 08:30")) and not contains(p, paris("2026-12-08 08:30"))
    assert all(contains(p, paris(f"2026-12-{d} 10:30")) for d in (11, 12, 13))
    assert not contains(p, paris("2026-12-07 10:30"))


def test_calendar_dates_ranges_skips_and_open_skips():
    assert days_covered(["2026-01-28"], "2026-01-26", "2026-01-30") == ["2026-01-28"]
    # inclusive at both ends
    assert days_covered(["2007-01-01 - 2008-02-01"], "2006-12-31", "2007-01-01") == ["2007-01-01"]
    assert days_covered(["2007-01-01 - 2008-02-01"], "2008-01-31", "2008-02-02") == ["2008-01-31", "2008-02-01"]
    # every 3rd day from 2007-01-01: 2008-01-31 is day 395 (395 % 3 = 2), 2008-02-01 day 396 (396 % 3 = 0)
    skip3 = ["2007-01-01 - 2008-02-01 / 3"]
    assert days_covered(skip3, "2007-01-01", "2007-01-07") == ["2007-01-01", "2007-01-04", "2007-01-07"]
    assert days_covered(skip3, "2008-01-30", "2008-02-05") == ["2008-02-01"]
    # "2008-04-01 / 7": every 7 days from then on, without end: 2026-12-08 is 6,825 days later (= 975 weeks)
    assert days_covered(["2008-04-01 / 7"], "2008-03-25", "2008-04-09") == ["2008-04-01", "2008-04-08"]
    assert days_covered(["2008-04-01 / 7"], "2026-12-05", "2026-12-12") == ["2026-12-08"]


def test_month_days():
    assert days_covered(["day 2"], "2026-02-01", "2026-02-03") == ["2026-02-02"]
    # day -1 is the last day of every month: 2026 is not a leap year, 2028 is
    assert days_covered(["day -1"], "2026-02-26", "2026-03-01") == ["2026-02-28"]
    assert days_covered(["day -1"], "2028-02-27", "2028-03-01") == ["2028-02-29"]
    assert days_covered(["day -1"], "2026-04-28", "2026-05-01") == ["2026-04-30"]
    assert days_covered(["day 1 - 15"], "2026-05-14", "2026-05-17") == ["2026-05-14", "2026-05-15"]
    # every 5th day from the 1st: 1, 6, 11 (16 is past the 15th)
    assert days_covered(["day 1 - 15 / 5"], "2026-05-01", "2026-05-20") == ["2026-05-01", "2026-05-06", "2026-05-11"]
    # an end past the month's last day ends on it (Nagios: "slipped past end of month"); day 31 skips April
    assert days_covered(["day 28 - 31"], "2026-04-27", "2026-05-01") == ["2026-04-28", "2026-04-29", "2026-04-30"]
    assert days_covered(["day 31"], "2026-03-30", "2026-05-01") == ["2026-03-31"]
    # over the month's end: day 25 - 5 covers the 25th to the end and the 1st to the 5th
    covered = days_covered(["day 25 - 5"], "2026-01-04", "2026-01-26")
    assert covered == ["2026-01-04", "2026-01-05", "2026-01-25", "2026-01-26"]


def test_month_dates():
    assert days_covered(["february 10"], "2026-02-09", "2026-02-11") == ["2026-02-10"]
    assert days_covered(["february -1"], "2026-02-27", "2026-03-01") == ["2026-02-28"]
    assert days_covered(["february -1"], "2028-02-28", "2028-03-01") == ["2028-02-29"]
    assert days_covered(["july 10 - 15"], "2026-07-09", "2026-07-16") == [f"2026-07-{d}" for d in range(10, 16)]
    covered = days_covered(["april 10 - may 15"], "2026-04-09", "2026-05-16")
    assert covered[0] == "2026-04-10" and covered[-1] == "2026-05-15" and len(covered) == 21 + 15
    assert days_covered(["july 10 - 15 / 2"], "2026-07-09", "2026-07-16") == ["2026-07-10", "2026-07-12", "2026-07-14"]
    # over the year's end, both sides (Nagios 4 matches only the December part)
    covered = days_covered(["december 30 - january 2"], "2026-12-29", "2027-01-03")
    assert covered == ["2026-12-30", "2026-12-31", "2027-01-01", "2027-01-02"]
    assert days_covered(["december 30 - january 2"], "2026-01-01", "2026-01-03") == ["2026-01-01", "2026-01-02"]


def test_weekday_of_month():
    # November 2026: Thursdays 5, 12, 19, 26, so thursday -1 november is 2026-11-26
    assert days_covered(["thursday -1 november"], "2026-11-01", "2026-11-30") == ["2026-11-26"]
    # January: Mondays of 2026 are 5, 12, 19; of 2027 are 4, 11, 18
    assert days_covered(["monday 3 january"], "2026-01-01", "2026-01-31") == ["2026-01-19"]
    assert days_covered(["monday 3 january"], "2027-01-01", "2027-01-31") == ["2027-01-18"]
    # every month: the third Monday of December 2026 is the 21st
    assert days_covered(["monday 3"], "2026-12-01", "2026-12-31") == ["2026-12-21"]
    assert days_covered(["mon 3"], "2026-11-01", "2026-11-30") == ["2026-11-16"]
    # third Monday to fourth Thursday: 21 to 24 December 2026, 16 to 26 November 2026
    assert days_covered(["monday 3 - thursday 4"], "2026-12-01", "2026-12-31") == [f"2026-12-{d}" for d in range(21, 25)]
    assert len(days_covered(["monday 3 - thursday 4"], "2026-11-01", "2026-11-30")) == 11
    # second to third Thursday of December 2026: 10 to 17
    assert days_covered(["thursday 2 - 3"], "2026-12-01", "2026-12-31") == [f"2026-12-{d}" for d in range(10, 18)]
    # first Tuesday of April 2026 is the 7th, second Friday of May 2026 the 8th
    covered = days_covered(["tuesday 1 april - friday 2 may"], "2026-04-01", "2026-05-31")
    assert covered[0] == "2026-04-07" and covered[-1] == "2026-05-08" and len(covered) == 32
    # every 6th day from April 7: April 13, 19, 25, May 1, 7; May 8 is day 31
    covered = days_covered(["tuesday 1 april - friday 2 may / 6"], "2026-04-01", "2026-05-31")
    assert covered == ["2026-04-07", "2026-04-13", "2026-04-19", "2026-04-25", "2026-05-01", "2026-05-07"]
    # a fifth Monday exists in June 2026 (1, 8, 15, 22, 29), not in July 2026 (6, 13, 20, 27)
    assert days_covered(["monday 5"], "2026-06-01", "2026-07-31") == ["2026-06-29"]


def test_keys_are_case_and_space_insensitive_as_nagios_writes_them():
    assert days_covered(["Thursday  -1   November"], "2026-11-01", "2026-11-30") == ["2026-11-26"]
    assert days_covered(["day 1-3"], "2026-11-01", "2026-11-30") == ["2026-11-01", "2026-11-02", "2026-11-03"]


# ---- precedence (base/utils.c _get_matching_timerange) ---------------------------------------------------------


def test_a_matching_exception_replaces_the_weekday_ranges_even_outside_its_own():
    p = period({"monday": "08:00-18:00", "day 7": "10:00-11:00"})
    # Monday 2026-12-07 is day 7: only 10:00-11:00 applies; Monday 2026-12-14 keeps 08:00-18:00
    assert not contains(p, paris("2026-12-07 09:00")) and contains(p, paris("2026-12-07 10:30"))
    assert contains(p, paris("2026-12-14 09:00"))


def test_precedence_by_exception_type():
    # calendar date before month date: 2026-07-14 has 09:00-10:00, other years' July 14 nothing
    p = period({"july 14": "", "2026-07-14": "09:00-10:00", "monday..sunday": "00:00-24:00"})
    assert contains(p, paris("2026-07-14 09:30")) and not contains(p, paris("2026-07-14 11:00"))
    assert not contains(p, paris("2027-07-14 09:30")) and contains(p, paris("2027-07-15 09:30"))
    # month date before month day
    p = period({"day 14": "08:00-20:00", "july 14": ""})
    assert not contains(p, paris("2026-07-14 12:00")) and contains(p, paris("2026-08-14 12:00"))
    # month day before weekday of a given month: Tuesday 2026-12-01 is day 1 and tuesday 1 december
    p = period({"tuesday 1 december": "08:00-09:00", "day 1": "10:00-11:00"})
    assert contains(p, paris("2026-12-01 10:30")) and not contains(p, paris("2026-12-01 08:30"))
    # weekday of a given month before weekday of every month: 2026-11-26 is the last Thursday
    p = period({"thursday -1": "08:00-09:00", "thursday -1 november": "10:00-11:00"})
    assert contains(p, paris("2026-11-26 10:30")) and not contains(p, paris("2026-11-26 08:30"))
    assert contains(p, paris("2026-12-31 08:30"))  # the last Thursday of December 2026 is the 31st


def test_within_a_type_the_first_defined_wins():
    first = period({"day 1 - 10": "08:00-09:00", "day 5": "10:00-11:00"})
    second = period({"day 5": "10:00-11:00", "day 1 - 10": "08:00-09:00"})
    assert contains(first, paris("2026-12-05 08:30")) and not contains(first, paris("2026-12-05 10:30"))
    assert contains(second, paris("2026-12-05 10:30")) and not contains(second, paris("2026-12-05 08:30"))


def test_holidays_as_nagios_writes_them_and_exclusions_over_exceptions():
    # Nagios' sample us-holidays idiom: an exception of 00:00-00:00 takes the day out
    periods = parse_timeperiods(
        {
            "sans_noel": {"monday..sunday": "00:00-24:00", "december 25": "00:00-00:00"},
            "lunch": {"monday..sunday": "12:00-13:00"},
            "work": {"2026-12-24": "08:00-18:00", "exclude": "lunch,sans_noel"},
        }
    )
    assert not contains(periods["sans_noel"], utc(2026, 12, 25, 12)) and contains(periods["sans_noel"], utc(2026, 12, 26))
    # exclusions are tested before the ranges: work is empty except on 2026-12-24 and 12:00-13:00 is out
    # (sans_noel covers the 24th, so work is empty that day too: exclusion wins over the exception)
    assert not contains(periods["work"], utc(2026, 12, 24, 9))
    narrow = parse_timeperiods(
        {"lunch": {"monday..sunday": "12:00-13:00"}, "work": {"2026-12-24": "08:00-18:00", "exclude": ["lunch"]}}
    )["work"]
    assert contains(narrow, utc(2026, 12, 24, 9)) and not contains(narrow, utc(2026, 12, 24, 12, 30))
    assert next_start(narrow, utc(2026, 12, 24, 12, 30)) == utc(2026, 12, 24, 13)


# ---- ranges --------------------------------------------------------------------------------------------------


def test_ranges_past_midnight_belong_to_the_day_they_start():
    # Friday 2026-12-11 22:00 to Saturday 02:00, although Saturday 2026-12-12 is an empty exception
    p = period({"friday": "22:00-02:00", "2026-12-12": "", "saturday": "10:00-11:00"})
    assert contains(p, paris("2026-12-12 01:30")) and not contains(p, paris("2026-12-12 02:00"))
    assert not contains(p, paris("2026-12-12 10:30")) and contains(p, paris("2026-12-19 10:30"))
    # a calendar date's night runs into the next day, whose own ranges still apply (Friday 2027-01-01)
    q = period({"2026-12-31": "22:00-02:00", "friday": "09:00-10:00"})
    assert contains(q, paris("2027-01-01 01:59")) and contains(q, paris("2027-01-01 09:30"))
    assert next_end(q, paris("2026-12-31 23:00")) == paris("2027-01-01 02:00")


def test_whole_day_and_several_ranges_per_key():
    p = period({"monday": "00:00-24:00", "tuesday": "06:00-08:00, 12:00-13:00,20:00-21:00"})
    assert contains(p, paris("2026-12-07 00:00")) and contains(p, paris("2026-12-07 23:59"))
    assert next_end(p, paris("2026-12-07 05:00")) == paris("2026-12-08 00:00")
    assert [contains(p, paris(f"2026-12-08 {h}")) for h in ("07:00", "09:00", "12:59", "13:00", "20:30")] == [
        True, False, True, False, True,
    ]
    assert next_start(p, paris("2026-12-08 08:00")) == paris("2026-12-08 12:00")


# ---- DST in Europe/Paris: last Sunday of March (2026-03-29) and of October (2026-10-25) ----------------------


def test_spring_forward_day():
    # 02:00 CET jumps to 03:00 CEST at 01:00 UTC: 02:30-04:00 starts at the jump, 03:00 CEST
    p = period({"2026-03-29": "02:30-04:00"})
    assert not contains(p, utc(2026, 3, 29, 0, 59, 59)) and contains(p, utc(2026, 3, 29, 1))
    assert next_start(p, utc(2026, 3, 29)) == utc(2026, 3, 29, 1)
    assert next_end(p, utc(2026, 3, 29, 1)) == utc(2026, 3, 29, 2)  # 04:00 CEST
    # a range inside the skipped hour never happens
    assert next_start(period({"2026-03-29": "02:00-03:00"}), utc(2026, 3, 28)) is None
    # the last Sunday of March lasts 23 hours: from 23:00 UTC on Saturday to 22:00 UTC
    day = period({"sunday -1 march": "00:00-24:00"})
    assert next_start(day, utc(2026, 3, 28, 12)) == utc(2026, 3, 28, 23)
    assert next_end(day, utc(2026, 3, 29, 12)) == utc(2026, 3, 29, 22)


def test_fall_back_day():
    # 03:00 CEST falls back to 02:00 CET at 01:00 UTC: 02:00-02:30 happens twice
    p = period({"2026-10-25": "02:00-02:30"})
    assert contains(p, utc(2026, 10, 25, 0, 10)) and not contains(p, utc(2026, 10, 25, 0, 45))
    assert contains(p, utc(2026, 10, 25, 1, 10)) and not contains(p, utc(2026, 10, 25, 1, 30))
    assert next_end(p, utc(2026, 10, 25, 0, 10)) == utc(2026, 10, 25, 0, 30)
    assert next_start(p, utc(2026, 10, 25, 0, 45)) == utc(2026, 10, 25, 1)
    assert next_end(p, utc(2026, 10, 25, 1, 10)) == utc(2026, 10, 25, 1, 30)
    # the last Sunday of October lasts 25 hours: 22:00 UTC on Saturday to 23:00 UTC on Sunday
    day = period({"sunday -1 october": "00:00-24:00"})
    assert next_start(day, utc(2026, 10, 24, 12)) == utc(2026, 10, 24, 22)
    assert next_end(day, utc(2026, 10, 25, 12)) == utc(2026, 10, 25, 23)


def test_skip_counts_calendar_days_across_dst():
    # every 7 days from Friday 2026-03-20: 2026-03-27, then 2026-04-03 after the spring change
    p = period({"2026-03-20 / 7": "09:00-10:00"})
    assert contains(p, paris("2026-04-03 09:30")) and not contains(p, paris("2026-04-02 09:30"))
    assert next_start(p, paris("2026-03-27 12:00")) == paris("2026-04-03 09:00")


# ---- configuration: check_timeperiods -------------------------------------------------------------------------


def test_the_docs_example_with_only_some_weekdays_is_valid():
    periods = check_timeperiods({"workhours": {"timezone": "Europe/Paris", "monday": "06:00-22:00"}})
    assert set(periods) == {"24x7", "never", "workhours"}
    assert periods["24x7"] is ALWAYS and periods["never"] is NEVER
    assert contains(periods["workhours"], paris("2026-12-07 06:00")) and not contains(periods["workhours"], paris("2026-12-08 07:00"))
    # keys a schema filled with None are as absent
    filled = check_timeperiods({"w": {"timezone": "Europe/Paris", "monday": "06:00-22:00", "tuesday": None, "exclude": None}})
    assert not contains(filled["w"], paris("2026-12-08 07:00"))
    # the zone used when none is given
    assert check_timeperiods({"w": {"monday": "06:00-07:00"}}, default_timezone="Europe/Paris")["w"].timezone == "Europe/Paris"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            {"workhours": {"tuesday": "6h-22h"}},
            'config: timeperiods.workhours.tuesday: expected ranges "HH:MM-HH:MM[,HH:MM-HH:MM]", got "6h-22h"',
        ),
        (
            {"workhours": {"tuesday": 8}},
            'config: timeperiods.workhours.tuesday: expected ranges "HH:MM-HH:MM[,HH:MM-HH:MM]", got 8',
        ),
        (
            {"workhours": {"timezone": "Europe/Pariss"}},
            'config: timeperiods.workhours.timezone: unknown time zone "Europe/Pariss"',
        ),
        ({"x": {"exclude": ["y"]}}, 'config: timeperiods.x.exclude: unknown time period "y"'),
        ({"x": {"exclude": "24x7, y"}}, 'config: timeperiods.x.exclude: unknown time period "y"'),
        ({"x": {"exclude": 3}}, "config: timeperiods.x.exclude: expected a list of time period names, got 3"),
        (
            {"a": {"exclude": ["b"]}, "b": {"exclude": "c"}, "c": {"exclude": ["a"]}},
            "config: timeperiods.a.exclude: exclusions form a cycle: a -> b -> c -> a",
        ),
        ({"a": {"exclude": "a"}}, "config: timeperiods.a.exclude: exclusions form a cycle: a -> a"),
        ({"x": {"monday": "25:00-26:00"}}, 'config: timeperiods.x.monday: bad time 25:00 in "25:00-26:00" (00:00 to 24:00)'),
        ({"x": {"monday": "08:00-24:30"}}, 'config: timeperiods.x.monday: bad time 24:30 in "08:00-24:30" (00:00 to 24:00)'),
        (
            {"x": {"february 30": "08:00-09:00"}},
            'config: timeperiods.x."february 30": day 30 does not exist in february (1 to 29, or -1 to -29 from the end)',
        ),
        (
            {"x": {"day 0": ""}},
            'config: timeperiods.x."day 0": day 0 does not exist in a month (1 to 31, or -1 to -31 from the end)',
        ),
        (
            {"x": {"monday 6": ""}},
            'config: timeperiods.x."monday 6": weekday count 6 does not exist (1 to 5, or -1 to -5 from the end)',
        ),
        ({"x": {"2026-02-30": ""}}, 'config: timeperiods.x.2026-02-30: 2026-02-30 is not a date'),
        ({"x": {"2008-02-01 - 2007-01-01": ""}}, 'config: timeperiods.x."2008-02-01 - 2007-01-01": the range ends before it starts'),
        (
            {"x": {"day 1 - 15 / 0": ""}},
            'config: timeperiods.x."day 1 - 15 / 0": skip interval / 0: expected 1 or more days',
        ),
        (
            {"x": {"monday 3 / 2": ""}},
            'config: timeperiods.x."monday 3 / 2": a skip interval needs a range of days (or a single calendar date)',
        ),
        ({"x": {"alias": 3}}, "config: timeperiods.x.alias: expected a string, got 3"),
        ({"x": "monday"}, 'config: timeperiods.x: expected a table of day or date keys and ranges, got "monday"'),
    ],
)
def test_bad_input_gives_one_line_naming_the_key(table, message):
    with pytest.raises(TimePeriodError) as info:
        check_timeperiods(table)
    assert str(info.value) == message


@pytest.mark.parametrize("key", ["funday", "monday..funday", "day", "july", "thursday -1 novembre", "1st monday"])
def test_unknown_keys_list_what_is_expected(key):
    with pytest.raises(TimePeriodError, match=r"^config: timeperiods\.x\.(\"[^\"]+\"|\w+): unknown key \(expected a weekday") as info:
        check_timeperiods({"x": {key: "08:00-09:00"}})
    assert "\n" not in str(info.value)


def test_runtime_messages_have_no_config_prefix():
    with pytest.raises(TimePeriodError, match=r'^timeperiods\.x\.timezone: unknown time zone "Mars/Olympus"$'):
        parse_timeperiods({"x": {"timezone": "Mars/Olympus"}})


# ---- next_start / next_end against a minute-by-minute scan ----------------------------------------------------

PROPERTY_PERIODS = parse_timeperiods(
    {
        "lunch_ny": {"timezone": "America/New_York", "monday..sunday": "07:00-07:20"},
        "mixed": {
            "timezone": "Europe/Paris",
            "monday..friday": "08:00-12:00,22:00-01:00",
            "saturday": "02:30-03:10",
            "sunday": "01:50-02:40",
            "day 1 - 15 / 5": "",
            "thursday -1": "10:00-10:30",
            "2026-03-29": "02:30-04:00",
            "2026-10-25": "02:00-02:30,23:30-00:30",
            "february -1": "00:00-24:00",
            "tuesday 1 april - friday 2 may / 6": "09:00-09:05",
            "exclude": ["lunch_ny"],
        },
        "nights": {"timezone": "Europe/Paris", "monday..sunday": "21:00-03:00", "july 10 - 20": "13:00-13:01"},
    }
)
# instants spread over 2026, and close to the two DST changes (hours and days around) and to month ends
_INSTANTS = st.one_of(
    st.integers(int(utc(2026, 1, 1)), int(utc(2027, 1, 1))),
    st.integers(int(utc(2026, 3, 28, 20)), int(utc(2026, 3, 29, 2))),
    st.integers(int(utc(2026, 10, 24, 21)), int(utc(2026, 10, 25, 2))),
    st.integers(int(utc(2026, 3, 27)), int(utc(2026, 3, 31))),
    st.integers(int(utc(2026, 10, 23)), int(utc(2026, 10, 27))),
    st.integers(int(utc(2026, 2, 27)), int(utc(2026, 3, 2))),
)
_SCAN = 4 * 24 * 60  # minutes scanned at most after the instant


def _scan_has(p, start, stop, inside):
    """Whether some minute in (start, stop) is `inside` the period."""
    t = start + 60
    for _ in range(_SCAN):
        if t >= stop:
            return False
        if contains(p, t) == inside:
            return True
        t += 60
    return False


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(name=st.sampled_from(["mixed", "nights"]), after=_INSTANTS)
def test_next_start_is_the_first_instant_inside(name, after):
    p = PROPERTY_PERIODS[name]
    start = next_start(p, after, horizon_days=40)
    assert start is not None and start >= after and contains(p, start)
    if start > after:
        assert not contains(p, start - 1) and not _scan_has(p, after, start, inside=True)


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(name=st.sampled_from(["mixed", "nights"]), after=_INSTANTS)
def test_next_end_is_the_first_instant_outside(name, after):
    p = PROPERTY_PERIODS[name]
    end = next_end(p, after, horizon_days=40)
    assert end is not None and end >= after and not contains(p, end)
    if end > after:
        assert contains(p, end - 1) and not _scan_has(p, after, end, inside=False)


def test_the_module_stays_pure_so_config_validation_can_import_it():
    # vigie.config imports vigie.timeperiods at merge: loading it must pull in no Vigie module (no import
    # cycle with vigie.config, no pipelines, producers or command line)
    code = "import sys, vigie.timeperiods; print(sorted(m for m in sys.modules if m.startswith('vigie.')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "['vigie.timeperiods']"
