"""The meaning of an SNMP poll: ENTITY-SENSOR scaling, numbers from strings, hysteresis, late polls."""

from __future__ import annotations

import pytest

from vigie.producers.checks.plugin_output import check_result
from vigie.producers.snmp.polling import (
    CRITICAL,
    OK,
    UNKNOWN,
    WARNING,
    Reading,
    Schedule,
    Thresholds,
    entity_sensor_value,
    evaluate,
    number_from,
    plugin_output,
)


def test_entity_sensor_scale_and_precision_follow_rfc_3433() -> None:
    assert entity_sensor_value(245, 9, 1) == pytest.approx(24.5)  # units, one decimal
    assert entity_sensor_value(24500, 8, 0) == pytest.approx(24.5)  # milli
    assert entity_sensor_value(3, 10, 0) == pytest.approx(3000)  # kilo
    assert entity_sensor_value(-55, 9, 1) == pytest.approx(-5.5)
    with pytest.raises(ValueError):
        entity_sensor_value(1, 0, 0)
    with pytest.raises(ValueError):
        entity_sensor_value(1, 9, 10)


def test_numbers_are_read_from_agent_strings() -> None:
    assert number_from(b"24.5") == 24.5 and number_from("  31 C") == 31 and number_from(7) == 7.0
    assert number_from("-3.5e1") == -35.0
    for bad in ("N/A", b"", True):
        with pytest.raises(ValueError):
            number_from(bad)


def test_hysteresis_rises_at_once_and_falls_only_past_the_margin() -> None:
    t = Thresholds(warning=30, critical=35, hysteresis=1)
    assert t.level(29.9) == OK and t.level(30) == WARNING and t.level(35) == CRITICAL
    assert t.level(34.5, CRITICAL) == CRITICAL  # within the margin below critical
    assert t.level(33.9, CRITICAL) == WARNING
    assert t.level(29.5, WARNING) == WARNING and t.level(28.9, WARNING) == OK
    assert t.level(29.5, CRITICAL) == WARNING  # from critical, it falls as far as the margins allow
    assert t.level(29.5, OK) == OK  # rising needs the threshold itself


def test_a_value_flapping_around_the_threshold_changes_state_once() -> None:
    t = Thresholds(warning=30, critical=None, hysteresis=1)
    state, changes = OK, 0
    for value in (29.8, 30.1, 29.7, 30.2, 29.6, 30.0, 29.9, 29.5, 30.3):
        new = t.level(value, state)
        changes += new != state
        state = new
    assert changes == 1 and state == WARNING


def test_below_thresholds_for_low_values() -> None:
    t = Thresholds(warning=15, critical=10, direction="below", hysteresis=0.5)
    assert t.level(16) == OK and t.level(15) == WARNING and t.level(9) == CRITICAL
    assert t.level(15.3, WARNING) == WARNING and t.level(15.6, WARNING) == OK
    assert t.perf() == ("15:", "10:")


def test_evaluate_takes_the_worst_item_and_an_unread_item_is_unknown_without_cooling() -> None:
    t = Thresholds(warning=30, critical=35)
    status, states = evaluate([Reading("in", 31), Reading("out", 20)], t, {})
    assert status == WARNING and states == {"in": WARNING, "out": OK}
    status, states = evaluate([Reading("in", None, error="timeout"), Reading("out", 20)], t, {"in": CRITICAL})
    assert status == UNKNOWN and states["in"] == CRITICAL
    status, _ = evaluate([Reading("in", None, error="timeout"), Reading("out", 36)], t, {})
    assert status == CRITICAL


def test_the_output_parses_as_a_plugin_result_with_performance_data() -> None:
    t = Thresholds(warning=30, critical=35)
    readings = [Reading("inlet", 31.5, "C"), Reading("outlet", 27, "C")]
    status, states = evaluate(readings, t, {})
    value = check_result("probe-r1", "room-temp", status, plugin_output("room-temp", status, readings, states, t),
                         "active")
    assert value["status"] == WARNING and value["output"].startswith("SNMP WARNING - room-temp: inlet 31.5 C (WARNING)")
    assert [(p["label"], p["value"], p["uom"], p["warn"], p["crit"]) for p in value["perfdata"]] == \
        [("inlet", 31.5, "C", "30", "35"), ("outlet", 27.0, "C", "30", "35")]


def test_a_poll_still_running_or_a_stall_counts_late_and_is_not_queued() -> None:
    s = Schedule(interval=30, next_due=100)
    assert not s.due(99) and s.due(100) and s.next_due == 130
    s.running = True
    assert not s.due(131) and s.late == 1 and s.next_due == 160
    s.running = False
    assert s.due(250) and s.late == 1 + 3 and s.next_due == 280  # 160, 190, 220 missed; 250 runs
