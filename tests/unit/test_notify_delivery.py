"""The pure parts of delivery: fitting one SMS, retries with back-off, give-up age across restarts,
the delivery-state table skipping receivers that have a message (SQLite file reopened)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vigie.pipelines.notify.base import Permanent
from vigie.pipelines.notify.delivery import Observer, RetryPolicy, deliver
from vigie.pipelines.notify.runner import failure_notice, message_id
from vigie.pipelines.notify.sms import GSM7_LIMIT, UCS2_LIMIT, fit_sms, gsm7_length, ucs2_length
from vigie.pipelines.notify.state import FAILED, SENT, DeliveryState, Row, expired, row_of, stored_row
from vigie.schemas.validate import validate

# ---- one SMS -------------------------------------------------------------------------------------------------


def test_gsm7_text_keeps_160_characters_and_is_cut_with_an_ellipsis() -> None:
    exact = "é" * GSM7_LIMIT  # é is in the GSM-7 basic alphabet
    assert fit_sms(exact) == exact
    cut = fit_sms("a" * 200)
    assert gsm7_length(cut) == GSM7_LIMIT and cut.endswith("...") and cut.startswith("a" * 157)


def test_extension_characters_count_twice() -> None:
    text = "€" * 81  # 162 septets
    cut = fit_sms(text)
    assert gsm7_length(cut) <= GSM7_LIMIT and cut == "€" * 78 + "..."


def test_french_accents_outside_gsm7_are_dropped_so_160_still_fit() -> None:
    text = "Problème sur la fenêtre de maintenance, reçu à 22h : " + "x" * 120
    fitted = fit_sms(text)
    assert gsm7_length(fitted) == GSM7_LIMIT  # ê and ç became e and c: not a 70-character UCS-2 SMS
    assert fitted.startswith("Problème sur la fenetre de maintenance, recu à 22h")


def test_text_outside_gsm7_falls_to_70_ucs2_units_without_splitting_a_pair() -> None:
    greek_and_cyrillic = "Сбой маршрутизатора " * 5
    cut = fit_sms(greek_and_cyrillic)
    assert ucs2_length(cut) == UCS2_LIMIT and cut.endswith("…")
    emoji = "🚨" * 40  # each is two UTF-16 units
    cut = fit_sms(emoji)
    assert ucs2_length(cut) <= UCS2_LIMIT and cut == "🚨" * 34 + "…"
    assert fit_sms("Сбой") == "Сбой"


# ---- retries, give-up, state ---------------------------------------------------------------------------------


class Clock:
    """Time that moves only when the deliverer waits."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.waits: list[float] = []

    def wait(self, seconds: float) -> bool:
        self.waits.append(round(seconds, 3))
        self.now += seconds
        return False


class FakeChannel:
    """A channel failing with the given exceptions in turn, then accepting."""

    kind = "fake"

    def __init__(self, receiver: str, failures: list[Exception] | None = None) -> None:
        self.receiver = receiver
        self.failures = list(failures or [])
        self.attempts = 0
        self.got: list[dict] = []

    def send(self, notification: dict[str, Any]) -> None:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        self.got.append(notification)


class Recorder(Observer):
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def sent(self, channel: Any, seconds: float) -> None:
        self.events.append(("sent", channel.receiver))

    def retry(self, channel: Any, error: str) -> None:
        self.events.append(("retry", channel.receiver))

    def gave_up(self, channel: Any, error: str) -> None:
        self.events.append(("gave_up", channel.receiver))


POLICY = RetryPolicy(min_backoff=1, max_backoff=4, give_up_after=20, jitter=0)


def _deliver(mid: str, channels: list, state: DeliveryState, clock: Clock, obs: Observer | None = None):
    return deliver(mid, {"id": mid}, channels, state, POLICY, clock=lambda: clock.now, wait=clock.wait, observer=obs)


def test_retries_back_off_exponentially_up_to_the_maximum_without_delaying_the_other_receiver() -> None:
    clock, state, obs = Clock(), DeliveryState(), Recorder()
    flaky = FakeChannel("mail", [OSError("down")] * 4)
    steady = FakeChannel("chat")
    out = _deliver("m1", [flaky, steady], state, clock, obs)
    assert out.sent == ["chat", "mail"] and out.failed == {}
    assert clock.waits == [1, 2, 4, 4]  # doubled, capped at max_backoff
    assert obs.events[:2] == [("retry", "mail"), ("sent", "chat")]
    assert state.get("m1", "mail") is not None and state.get("m1", "mail").attempts == 5


def test_gives_up_at_the_give_up_age_and_a_permanent_refusal_at_once() -> None:
    clock, state, obs = Clock(), DeliveryState(), Recorder()
    down = FakeChannel("mail", [OSError("down")] * 100)
    refusing = FakeChannel("hook", [Permanent("HTTP 400")])
    out = _deliver("m1", [down, refusing], state, clock, obs)
    assert out.failed["hook"] == "HTTP 400" and refusing.attempts == 1
    assert out.failed["mail"].startswith("gave up after 19 s: down")  # waits 1+2+4+4+4+4; another 4 would pass 20
    assert state.get("m1", "mail").status == FAILED and ("gave_up", "mail") in obs.events


def test_the_state_survives_a_reopen_sent_receivers_are_skipped_and_the_age_counts_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "notify" / "delivery.sqlite"
    clock, state = Clock(), DeliveryState(path)
    chat = FakeChannel("chat")
    mail = FakeChannel("mail", [OSError("down")] * 100)
    state.begin("m1", "mail", clock.now)
    state.begin("m1", "chat", clock.now)
    chat.send({})
    state.finish("m1", "chat", SENT, "", clock.now)
    state.close()  # the notifier dies here, mail still pending
    clock.now += 19.2  # it comes back 19.2 s later: one more second of back-off would pass the 20 s age
    state = DeliveryState(path)
    chat2 = FakeChannel("chat")
    out = _deliver("m1", [chat2, mail], state, clock)
    assert chat2.attempts == 0 and out.sent == ["chat"]  # not sent twice
    assert mail.attempts == 1 and out.failed["mail"].startswith("gave up after 19 s")  # the age kept counting
    state.close()


def test_a_stop_while_waiting_leaves_the_message_pending() -> None:
    state = DeliveryState()
    out = deliver("m1", {}, [FakeChannel("mail", [OSError("down")])], state, POLICY, clock=lambda: 0.0,
                  wait=lambda s: True)
    assert out.stopped and state.get("m1", "mail").status == "pending"


def test_purge_forgets_only_finished_rows_past_the_age() -> None:
    state = DeliveryState()
    state.begin("old", "r", 10)
    state.finish("old", "r", SENT, "", 10)
    state.begin("pending", "r", 10)
    state.begin("new", "r", 100)
    state.finish("new", "r", SENT, "", 100)
    assert state.purge(50) == 1
    assert state.get("old", "r") is None and state.get("pending", "r") and state.get("new", "r")


# ---- message id, notification_failed ---------------------------------------------------------------------------


def test_message_id_is_the_notifications_own_else_where_it_was_read() -> None:
    assert message_id({"id": "abc"}, "t", 1, 2) == "abc"
    assert message_id({}, "vigie.notifications", 1, 42) == "vigie.notifications/1/42"


@pytest.mark.parametrize("with_alerts", [False, True])
def test_failure_notice_is_a_valid_notification(with_alerts: bool) -> None:
    alert = {"schema": "alert/1", "fingerprint": "h|check|PING", "status": "firing", "severity": "critical",
             "host": "h", "site": "s", "component": "PING", "summary": "down", "first_seen": "2026-11-29T10:00:00Z",
             "last_seen": "2026-11-29T10:00:00Z", "count": 1, "state_type": "hard", "flapping": False,
             "suppressed_by": None, "incident_id": None, "sources": ["check"]}
    value = {"schema": "notification/1", "route": "staff", "reason": "new", "at": "2026-11-29T10:00:00Z",
             "alert": alert, "incident": None}
    if with_alerts:
        value["alerts"] = [alert]
    notice = failure_notice(value, "m1", "mail", "HTTP 400")
    validate(notice)
    assert notice["reason"] == "notification_failed" and notice["failure"]["receiver"] == "mail"
    assert notice["id"] == failure_notice(value, "m1", "mail", "other")["id"]  # stable: told once per failure


def test_correlate_accepts_routes_that_name_receivers() -> None:
    from vigie.config import validate as validate_config
    from vigie.pipelines.correlate.engine import Engine

    cfg = validate_config({"receivers": {"push": {"type": "ntfy", "url": "http://127.0.0.1/t"}},
                           "routes": [{"name": "ops", "receivers": ["push"], "fallback": "push"}]})
    assert [r.name for r in Engine.from_config(cfg).router.routes] == ["ops"]


def test_purge_with_pending_too_forgets_every_row_past_the_age() -> None:
    state = DeliveryState()
    state.begin("old", "r", 10)
    state.finish("old", "r", SENT, "", 10)
    state.begin("abandoned", "r", 10)  # its message is past the topic's retention: never read again
    state.begin("new", "r", 100)
    assert state.purge(50, pending_too=True) == 2
    assert state.get("old", "r") is None and state.get("abandoned", "r") is None and state.get("new", "r")


def test_table_rows_expire_by_their_last_change_whatever_their_status() -> None:
    rows = {
        "m1|mail": stored_row(Row(SENT, 10.0, 1, ""), 2, now=20.0),
        "m2|mail": stored_row(Row("pending", 10.0, 3, "down"), 0, now=40.0),  # retried until 40
        "m3|mail": stored_row(Row(FAILED, 5.0, 9, "gave up"), 1, now=30.0),
        "m4|mail": stored_row(Row(SENT, 60.0, 1, ""), 1, now=61.0),
    }
    assert sorted(expired(rows.items(), older_than=35.0)) == [("m1|mail", 2), ("m3|mail", 1)]
    assert row_of(rows["m2|mail"]) == Row("pending", 10.0, 3, "down")  # what deliver() reads back


def test_a_table_row_without_its_partition_is_left_alone() -> None:
    """A row written before rows carried their changelog partition: a tombstone sent elsewhere would delete nothing."""
    legacy = {"status": SENT, "first_attempt": 1.0, "attempts": 1, "error": ""}
    assert expired([("m0|mail", legacy)], older_than=100.0) == []


def test_the_switch_to_wal_is_retried_while_another_connection_holds_the_file() -> None:
    """SQLite answers "database is locked" at once (no busy wait) when two connections would deadlock on the
    switch, as two routes opening one state file together did: the switch is retried, other errors are not."""
    import sqlite3

    from vigie.pipelines.notify.state import _set_wal

    class Racing:
        def __init__(self, refusals: int, error: str = "database is locked") -> None:
            self.refusals, self.error, self.calls = refusals, error, 0

        def execute(self, sql: str) -> None:
            self.calls += 1
            if self.calls <= self.refusals:
                raise sqlite3.OperationalError(self.error)

    racing = Racing(3)
    _set_wal(racing, pause=0)  # type: ignore[arg-type]
    assert racing.calls == 4
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        _set_wal(Racing(10), attempts=5, pause=0)  # type: ignore[arg-type]
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        _set_wal(Racing(1, "disk I/O error"), pause=0)  # type: ignore[arg-type]


def test_a_route_whose_thread_fails_stops_the_notifier_and_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failing route used to die alone, unseen, its messages never delivered: now the process stops with it."""
    import threading

    from vigie.kafka_client import KafkaSettings
    from vigie.pipelines.notify import runner

    def notifier(kafka: Any, settings: Any, stop: threading.Event, *args: Any) -> None:
        if settings.route == "broken":
            raise OSError("disk full")
        stop.wait()

    monkeypatch.setattr(runner, "run_notifier", notifier)
    routes = [runner.RouteSettings(route="fine", channels=[]), runner.RouteSettings(route="broken", channels=[])]
    stop = threading.Event()
    failed = runner.run_routes(KafkaSettings(bootstrap_servers="127.0.0.1:1"), routes, stop)
    assert failed == "route broken: OSError: disk full" and stop.is_set()
