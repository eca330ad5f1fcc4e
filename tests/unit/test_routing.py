"""Routes: matching with continue, time periods, repeat, escalation, flapping, resolved, Alertmanager webhook."""

import pytest

from tests import configured
from vigie.config import ConfigError
from vigie.pipelines.correlate.alerts import AlertState, to_alert
from vigie.pipelines.correlate.groups import Notifier
from vigie.pipelines.correlate.routing import Route, RouteError, Router, alertmanager_webhook_payload

T = 1_736_935_200.0  # Wednesday 2025-01-15 10:00 UTC (11:00 Paris)
PERIODS = {"workhours": {"timezone": "Europe/Paris", "monday..friday": "08:00-18:00"}}
ROUTER = configured.router(
    [
        {
            "name": "paris-net",
            "receiver": "noc",
            "match": ["site=paris", "severity=critical"],
            "continue": True,
            "escalate_after": "30m",
            "escalate_to": "managers",
            "repeat_interval": "1h",
        },
        {"name": "day-team", "match": {"site": "paris"}, "timeperiod": "workhours"},
        {"name": "managers", "match": ["site=never"]},
        {"name": "default", "receiver": "ops"},
    ],
    PERIODS,
)


def alert(severity="critical", site="paris", status="firing", **kw):
    return AlertState(
        "r1|check",
        "r1",
        site,
        "host",
        "check",
        "host",
        None,
        "liveness",
        severity,
        "DOWN",
        status,
        T,
        T,
        **kw,
    )


def reasons(notes):
    return [(n["route"], n["reason"]) for n in notes]


def test_match_order_and_continue():
    assert [r.name for r in ROUTER.match({"site": "paris", "severity": "critical"})] == [
        "paris-net",
        "day-team",
    ]
    assert [r.name for r in ROUTER.match({"site": "paris", "severity": "warning"})] == ["day-team"]
    assert [r.name for r in ROUTER.match({"site": "lyon", "severity": "critical"})] == ["default"]


class Notified:
    """The notify stage (groups.Notifier) over one alert, as the engine drives it: published states, then ticks."""

    def __init__(self, a):
        self.a = a
        self.notifier = Notifier(ROUTER)

    def __call__(self, now, changed=True):
        out = []
        if changed:
            self.notifier.member(self.a, now)
        self.notifier.flush(now, {self.a.fingerprint: self.a}, lambda _id: None, out)
        return out


def test_new_repeat_escalation_and_resolved():
    a = alert()
    told = Notified(a)
    notes = told(T)
    assert reasons(notes) == [("paris-net", "new"), ("day-team", "new")]
    n = notes[0]
    assert (
        n["schema"] == "notification/1" and n["receiver"] == "noc" and n["alert"]["fingerprint"] == "r1|check"
    )
    assert n["at"] == "2025-01-15T10:00:00.000000Z"
    assert told(T + 600, changed=False) == []
    notes = told(T + 1800, changed=False)  # 30 min, not acknowledged: escalate
    assert reasons(notes) == [("managers", "escalated")]
    notes = told(T + 3600, changed=False)  # 1 h repeat on paris-net; day-team repeats after 4 h
    assert reasons(notes) == [("paris-net", "repeat")]
    notes = told(T + 4 * 3600, changed=False)
    assert reasons(notes) == [("paris-net", "repeat"), ("day-team", "repeat")]
    a.status = "resolved"
    notes = told(T + 5 * 3600)
    assert reasons(notes) == [("paris-net", "resolved"), ("managers", "resolved"), ("day-team", "resolved")]
    assert told.notifier.groups == {}


def test_acknowledged_alert_neither_repeats_nor_escalates():
    a = alert()
    told = Notified(a)
    told(T)
    a.acknowledged = {"author": "alice", "reason": "on it", "at": "x"}
    assert told(T + 5 * 3600) == []


def test_out_of_period_waits_then_notifies():
    a = alert(severity="warning")
    told = Notified(a)
    evening = T + 8 * 3600  # 19:00 Paris
    assert told(evening) == []
    notes = told(T + 22 * 3600, changed=False)  # Thursday 09:00 Paris
    assert reasons(notes) == [("day-team", "new")]


def test_soft_and_suppressed_alerts_are_not_notified():
    assert Notified(alert(state_type="soft"))(T) == []
    assert Notified(alert(suppressed_by={"kind": "silence", "ref": "s"}))(T) == []


def test_flapping_replaces_problem_notifications():
    a = alert(severity="warning")
    told = Notified(a)
    assert reasons(told(T)) == [("day-team", "new")]
    a.flapping = True
    notes = told(T + 60)
    assert reasons(notes) == [("day-team", "flapping_start")] and notes[0]["alert"]["flapping"] is True
    a.status = "resolved"
    notes = told(T + 120)  # the recovery waits for group_interval after the last message
    assert notes == []
    a.flapping = False
    notes = told(T + 400)
    assert reasons(notes) == [("day-team", "flapping_stop"), ("day-team", "resolved")]


def test_severity_change_is_notified_again():
    a = alert(severity="warning")
    told = Notified(a)
    told(T)
    a.severity = "critical"
    notes = told(T + 60)  # critical now matches paris-net too: its first message; day-team's update waits
    assert reasons(notes) == [("paris-net", "new")]
    assert reasons(told(T + 300, changed=False)) == [("day-team", "updated")]


@pytest.mark.parametrize(
    ("routes", "error"),
    [
        ([{"name": "a", "timeperiod": "nope"}], "routes.0..timeperiod: expected one of"),
        ([{"name": "a", "escalate_to": "b", "escalate_after": "1m"}], "expected a route name"),
        ([{"name": "a", "escalate_after": "1m"}], "together"),
        ([{"name": "a", "colour": "red"}], "unknown key"),
        ([{"name": "a", "repeat_interval": "often"}], "repeat_interval"),
        ([{"name": "a", "match_re": {"host": "sw-("}}], "regular expression"),
        ([{"name": "a"}, {"name": "a"}], "unique route name"),
        ([{"name": "a", "active": "nope"}], "routes.0..active: expected one of"),
        ([{"name": "a", "hold_until_active": True}], "expected active too"),
        ([{"name": "a", "active": "workhours", "timeperiod": "workhours"}], "not both"),
        ([{}], "name"),
    ],
)
def test_route_errors(routes, error):
    # routes are checked once, by the config (Router.from_config takes the checked sections)
    with pytest.raises(ConfigError, match=error):
        configured.router(routes, PERIODS)


def test_router_refuses_an_unknown_period_or_escalation_target():
    with pytest.raises(RouteError, match="unknown time period"):
        Router([Route("a", "a", timeperiod="nope")])
    with pytest.raises(RouteError, match="unknown route"):
        Router([Route("a", "a", escalate_after=60, escalate_to="b")])


def test_alertmanager_webhook_payload():
    firing = to_alert(alert())
    gone = to_alert(alert(status="resolved", resolved_at=T + 60))
    gone["fingerprint"] = "r2|check"
    gone["host"] = "r2"
    body = alertmanager_webhook_payload(
        [firing, gone], ROUTER.by_name["paris-net"], external_url="https://vigie.example"
    )
    assert body["version"] == "4" and body["status"] == "firing" and body["receiver"] == "noc"
    assert body["groupKey"] == '{}/{route="paris-net"}:{route="paris-net"}'
    assert set(body) == {
        "version",
        "groupKey",
        "truncatedAlerts",
        "status",
        "receiver",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "alerts",
    }
    first, second = body["alerts"]
    assert first["status"] == "firing" and first["endsAt"] == "0001-01-01T00:00:00Z"
    assert first["labels"]["alertname"] == "host" and first["labels"]["host"] == "r1"
    assert first["startsAt"] == "2025-01-15T10:00:00.000000Z"
    assert first["generatorURL"] == "https://vigie.example/alerts/r1%7Ccheck"
    assert len(first["fingerprint"]) == 16 and first["fingerprint"] != second["fingerprint"]
    assert second["status"] == "resolved" and second["endsAt"] == "2025-01-15T10:01:00.000000Z"
    assert body["commonLabels"] == {
        "alertname": "host",
        "site": "paris",
        "component": "host",
        "severity": "critical",
    }
    assert alertmanager_webhook_payload([gone], "x")["status"] == "resolved"


def test_documented_route_keys():
    router = configured.router(
        [
            {
                "name": "staff",
                "timeperiod": "workhours",
                "match": {"site": "mairie"},
                "match_re": {"host": "sw-.*"},
                "webhook": "http://127.0.0.1:9000/hook",
                "repeat_interval": "4h",
            }
        ],
        PERIODS,
    )
    route = router.by_name["staff"]
    assert route.webhook == "http://127.0.0.1:9000/hook" and route.repeat_interval == 14400
    assert router.match({"site": "mairie", "host": "sw-1"}) == [route]
    assert router.match({"site": "mairie", "host": "rtr"}) == []
