"""Nagios flap detection: weights 0.75..1.25 over 20 possible changes in 21 states, hysteresis thresholds."""

import pytest

from vigie.pipelines.correlate.flapping import (
    INITIAL_HISTORY,
    FlapConfig,
    is_flapping,
    percent_state_change,
    update,
)

# weight of a change at position x (1 = oldest pair, 20 = newest pair): (x - 1) * 0.5 / 19 + 0.75


def test_no_change_is_zero():
    assert percent_state_change(INITIAL_HISTORY) == 0.0


def test_newest_single_change():
    # one change at x = 20: weight 1.25 -> 1.25 * 100 / 20 = 6.25 %
    assert percent_state_change("o" * 20 + "c") == pytest.approx(6.25)


def test_oldest_single_change():
    # one change at x = 1: weight 0.75 -> 0.75 * 100 / 20 = 3.75 %
    assert percent_state_change("c" + "o" * 20) == pytest.approx(3.75)


def test_alternating_is_100_percent():
    # 20 changes: sum of weights = 20 * 0.75 + (0.5 / 19) * (0 + 1 + ... + 19) = 15 + 5 = 20 -> 100 %
    assert percent_state_change("oc" * 10 + "o") == pytest.approx(100.0)


def test_state_kinds_count_as_changes():
    # warning -> critical is a change too (x = 20): 6.25 %
    assert percent_state_change("w" * 20 + "c") == pytest.approx(6.25)


def test_start_and_stop_as_nagios_computes():
    cfg = FlapConfig()  # low 5 %, high 20 %
    h, flapping = INITIAL_HISTORY, False
    seen = []
    for sev in ("critical", "ok", "critical", "ok"):
        h, pct, flapping = update(h, flapping, sev, cfg)
        seen.append((round(pct, 2), flapping))
    # changes at x = 20                 -> 1.25                        = 6.25 %
    # changes at x = 19, 20             -> 1.22368 + 1.25              = 12.37 %
    # changes at x = 18, 19, 20         -> 1.19737 + 1.22368 + 1.25    = 18.36 %  (below 20: not yet)
    # changes at x = 17..20             -> 1.17105 + ... + 1.25 = 4.8421 -> 24.21 % >= 20: starts flapping
    assert seen == [(6.25, False), (12.37, False), (18.36, False), (24.21, True)]
    # OK results push the changes to older, lighter positions; between the thresholds nothing changes
    for _ in range(16):
        h, pct, flapping = update(h, flapping, "ok", cfg)
    # changes at x = 1..4: 0.75 + 0.77632 + 0.80263 + 0.82895 = 3.15789 -> 15.79 %, still flapping
    assert (round(pct, 2), flapping) == (15.79, True)
    h, pct, flapping = update(h, flapping, "ok", cfg)  # x = 1..3: 2.32895 -> 11.64 %
    h, pct, flapping = update(h, flapping, "ok", cfg)  # x = 1..2: 1.52632 -> 7.63 %
    assert (round(pct, 2), flapping) == (7.63, True)
    h, pct, flapping = update(h, flapping, "ok", cfg)  # x = 1: 0.75 -> 3.75 % <= 5: stops
    assert (round(pct, 2), flapping) == (3.75, False)


def test_thresholds_are_inclusive_and_configurable():
    cfg = FlapConfig(low_threshold=10.0, high_threshold=30.0)
    assert is_flapping(30.0, False, cfg) and not is_flapping(29.9, False, cfg)
    assert is_flapping(10.1, True, cfg) and not is_flapping(10.0, True, cfg)
    with pytest.raises(ValueError):
        FlapConfig(low_threshold=30, high_threshold=10)


def test_history_keeps_21_states():
    h = INITIAL_HISTORY
    for _ in range(50):
        h, _, _ = update(h, False, "critical", FlapConfig())
    assert h == "c" * 21


def test_disabled_never_flaps():
    _, pct, flapping = update("oc" * 10 + "o", False, "critical", FlapConfig(enabled=False))
    assert pct == pytest.approx(100.0) and flapping is False
