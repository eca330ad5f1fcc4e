"""Time periods in a zone: weekday ranges, exclusions, dates, wrap past midnight, DST-correct next_start."""

from datetime import UTC, datetime

import pytest

from vigie.timeperiods import (
    ALWAYS,
    TimePeriodError,
    contains,
    next_end,
    next_start,
    parse_timeperiod,
    parse_timeperiods,
)


def utc(*args):
    return datetime(*args, tzinfo=UTC).timestamp()


PERIODS = parse_timeperiods(
    {
        "holidays": {"timezone": "Europe/Paris", "2025-05-01": "00:00-24:00"},
        "workhours": {"timezone": "Europe/Paris", "monday..saturday": "06:00-22:00", "exclude": ["holidays"]},
        "lunch": {"timezone": "Europe/Paris", "monday..friday": "12:00-13:00"},
        "nights": {"timezone": "Europe/Paris", "friday": "22:00-02:00"},
    }
)
WORK = PERIODS["workhours"]


def test_workhours_in_winter_and_summer():
    # Wednesday 2025-01-15: Paris is UTC+1, so 06:00 local = 05:00 UTC
    assert not contains(WORK, utc(2025, 1, 15, 4, 59))
    assert contains(WORK, utc(2025, 1, 15, 5, 0))
    assert contains(WORK, utc(2025, 1, 15, 20, 59)) and not contains(WORK, utc(2025, 1, 15, 21, 0))
    # Wednesday 2025-07-16: UTC+2, 06:00 local = 04:00 UTC
    assert contains(WORK, utc(2025, 7, 16, 4, 0)) and not contains(WORK, utc(2025, 7, 16, 3, 59))
    # Sunday is outside
    assert not contains(WORK, utc(2025, 1, 19, 12, 0))


def test_dst_transition_days():
    # Saturday 2025-03-29 (UTC+1): 04:30 UTC = 05:30 local -> outside
    assert not contains(WORK, utc(2025, 3, 29, 4, 30))
    # Monday 2025-03-31 after the spring change (UTC+2): 04:30 UTC = 06:30 local -> inside
    assert contains(WORK, utc(2025, 3, 31, 4, 30))
    # next start after Saturday 22:00 local: Monday 06:00 CEST = 04:00 UTC (Sunday excluded, DST crossed)
    assert next_start(WORK, utc(2025, 3, 29, 21, 30)) == utc(2025, 3, 31, 4, 0)
    # autumn: Saturday 2025-10-25 06:00 CEST = 04:00 UTC; Monday 2025-10-27 06:00 CET = 05:00 UTC
    assert next_start(WORK, utc(2025, 10, 25, 3, 0)) == utc(2025, 10, 25, 4, 0)
    assert next_start(WORK, utc(2025, 10, 25, 21, 0)) == utc(2025, 10, 27, 5, 0)
    # the repeated hour on 2025-10-26 (02:00-03:00 twice) is inside a night range both times
    night = parse_timeperiod("n", {"timezone": "Europe/Paris", "sunday": "02:00-03:00"})
    assert contains(night, utc(2025, 10, 26, 0, 30)) and contains(night, utc(2025, 10, 26, 1, 30))
    # the missing hour on 2025-03-30 never happens
    assert next_start(night, utc(2025, 3, 30, 0, 0)) == utc(2025, 4, 6, 0, 0)


def test_exclusions_and_dates():
    # Thursday 2025-05-01 is a holiday: excluded all day, next start Friday 06:00 CEST
    assert not contains(WORK, utc(2025, 5, 1, 10, 0))
    assert next_start(WORK, utc(2025, 5, 1, 10, 0)) == utc(2025, 5, 2, 4, 0)
    busy = parse_timeperiod(
        "busy", {"timezone": "Europe/Paris", "monday..friday": "09:00-18:00", "exclude": "lunch"}, PERIODS
    )
    # Wednesday 2025-01-15 12:30 CET is lunch; work resumes at 13:00 CET = 12:00 UTC
    assert not contains(busy, utc(2025, 1, 15, 11, 30))
    assert next_start(busy, utc(2025, 1, 15, 11, 30)) == utc(2025, 1, 15, 12, 0)


def test_range_wrapping_past_midnight_and_next_end():
    nights = PERIODS["nights"]
    # Friday 2025-01-17 23:00 CET and Saturday 01:30 CET are inside, Saturday 02:00 is not
    assert contains(nights, utc(2025, 1, 17, 22, 0)) and contains(nights, utc(2025, 1, 18, 0, 30))
    assert not contains(nights, utc(2025, 1, 18, 1, 0))
    assert next_end(nights, utc(2025, 1, 17, 22, 0)) == utc(2025, 1, 18, 1, 0)


def test_builtins_and_inside_returns_now():
    assert contains(ALWAYS, utc(2025, 1, 1)) and PERIODS["24x7"] is ALWAYS
    assert not contains(PERIODS["never"], utc(2025, 1, 1))
    assert next_start(PERIODS["never"], utc(2025, 1, 1), horizon_days=10) is None
    assert next_start(WORK, utc(2025, 1, 15, 10, 0)) == utc(2025, 1, 15, 10, 0)


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ({"timezone": "Mars/Olympus"}, "time zone"),
        ({"monday": "6h-22h"}, "HH:MM"),
        ({"monday": "25:00-26:00"}, "bad time"),
        ({"funday": "06:00-07:00"}, "unknown key"),
        ({"exclude": ["nope"]}, "unknown time period"),
    ],
)
def test_errors_name_the_key(spec, error):
    with pytest.raises(TimePeriodError, match=error):
        parse_timeperiod("p", spec)


def test_exclusion_cycle_is_reported():
    with pytest.raises(TimePeriodError, match="cycle"):
        parse_timeperiods({"a": {"exclude": ["b"]}, "b": {"exclude": ["a"]}})
