"""Control commands: matchers, silences, acknowledgements, maintenance windows, validation errors."""

import pytest

from tests import configured
from vigie.pipelines.correlate.silences import (
    ControlError,
    ControlState,
    covered_hosts,
    parse_command,
    parse_matcher,
)

T = 1_740_823_200.0  # Saturday 2025-03-01 10:00 UTC
INV = configured.inventory(
    {"hosts": {"r1": {}, "sw1": {"parents": ["r1"]}, "pc1": {"parents": ["sw1"]}, "other": {}}}
)
LABELS = {"host": "sw1", "site": "paris", "component": "Gi0/1", "severity": "critical", "service": "PING"}


def base(kind, **kw):
    return {
        "schema": "control/1",
        "id": f"{kind}-1",
        "kind": kind,
        "author": "alice",
        "reason": "works",
        "start": "2025-03-01T10:00:00Z",
        "end": "2025-03-01T11:00:00Z",
        **kw,
    }


@pytest.mark.parametrize(
    ("text", "hit"),
    [
        ("host=sw1", True),
        ("host!=sw1", False),
        ("host=~sw.*", True),
        ("host=~w1", False),  # anchored
        ("severity!~warn.*", True),
        ("service=~PING|HTTP", True),
        ("site = 'paris'", True),
        ("kind=check", False),
    ],
)
def test_matchers(text, hit):
    assert parse_matcher(text).matches(LABELS) is hit


def test_silence_matches_within_its_time_range():
    state = ControlState()
    state.add(
        parse_command(
            base("silence", matchers=["host=~sw.*", {"name": "severity", "op": "=", "value": "critical"}])
        ),
        INV,
    )
    assert state.suppression("sw1", LABELS, T + 10) == {"kind": "silence", "ref": "silence-1"}
    assert (
        state.suppression("sw1", LABELS, T - 1) is None and state.suppression("sw1", LABELS, T + 3600) is None
    )
    assert state.suppression("sw1", dict(LABELS, severity="warning"), T + 10) is None
    assert state.expire(T + 3600) == ["silence-1"] and not state.silences


def test_maintenance_covers_children_unless_told_not_to():
    cmd = parse_command(base("maintenance", hosts=["r1"]))
    assert covered_hosts(cmd, INV) == {"r1", "sw1", "pc1"}
    only = parse_command(base("maintenance", hosts="r1", include_children=False))
    assert covered_hosts(only, INV) == {"r1"}
    state = ControlState()
    state.add(cmd, INV)
    assert state.suppression("pc1", dict(LABELS, host="pc1"), T + 60) == {
        "kind": "maintenance",
        "ref": "maintenance-1",
    }
    assert state.suppression("other", dict(LABELS, host="other"), T + 60) is None
    again = ControlState.from_dict(state.to_dict(), INV)
    assert again.suppression("pc1", LABELS, T + 60) is not None


def test_recurring_maintenance_weekly_in_a_time_zone():
    # every Saturday 10:00-12:00 Paris time, for the whole year
    cmd = parse_command(
        base(
            "maintenance",
            hosts=["r1"],
            start="2025-01-01T00:00:00Z",
            end="2026-01-01T00:00:00Z",
            recurrence={"timezone": "Europe/Paris", "saturday": "10:00-12:00"},
        )
    )
    assert cmd.active(T)  # 11:00 Paris on Saturday 1 March
    assert not cmd.active(T + 7200)  # 13:00 Paris
    assert cmd.active(T + 7 * 86400) and not cmd.active(T + 86400)


def test_acknowledge_and_topology_commands():
    ack = parse_command(
        {"kind": "ack", "id": "a1", "author": "bob", "reason": "looking", "fingerprint": "x"}, now=T
    )
    assert ack.kind == "acknowledge" and ack.start == T and ack.end is None
    topo = parse_command(
        {
            "kind": "topology",
            "id": "t1",
            "author": "bob",
            "reason": "new switch",
            "hosts": {"sw2": {"parents": ["r1"]}},
        },
        now=T,
    )
    assert topo.topology == {"hosts": {"sw2": {"parents": ["r1"]}}}


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ({"kind": "mute"}, "control.kind"),
        (base("silence", author=""), "silence.author"),
        (base("silence", reason=None), "silence.reason"),
        (base("silence", matchers=["host=~a"], end=None), "start and end"),
        (base("silence", matchers=["host=~a"], end="2025-03-01T09:00:00Z"), "end: must be after start"),
        (base("silence", matchers=["host=~a"], start="yesterday"), "RFC 3339"),
        (base("silence", matchers=["host=~a"], start="2025-03-01T10:00:00"), "time zone"),
        (base("silence"), "silence.matchers: required"),
        (base("silence", matchers=["colour=red"]), "not one of"),
        (base("silence", matchers=["host=~("]), "regular expression"),
        (base("silence", matchers=[]), "at least one"),
        (base("maintenance"), "maintenance.hosts"),
        (base("maintenance", hosts=["r1"], recurrence={"funday": "1"}), "maintenance.recurrence"),
        (base("acknowledge"), "fingerprint or matchers"),
        (base("topology"), "topology.hosts"),
        ({**base("silence", matchers=["host=a"]), "id": None}, "silence.id"),
    ],
)
def test_command_errors_are_clear(value, error):
    with pytest.raises(ControlError, match=error):
        parse_command(value)
