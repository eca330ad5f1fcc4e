"""The Silences and maintenance page: the list folded from the control state, the forms turned into control/1
commands (the worker's parser and the schema), and the HTTP side (roles, Kafka write before done, audit)."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from multidict import MultiDict

from tests.console_support import csrf_of, login, make_console, origin, serve
from vigie.console.i18n import catalogue
from vigie.console.pages import silences
from vigie.console.pages.silences import (
    FormError,
    blank_forms,
    control_rows,
    maintenance_command,
    silence_command,
    split_matchers,
    window,
)
from vigie.console.state import ConsoleState
from vigie.pipelines.correlate.silences import command_value, parse_command
from vigie.schemas.validate import validate
from vigie.topics import CONTROL

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 12, 7, 21, 30, tzinfo=PARIS).timestamp()  # a Monday evening
HOUR = 3600.0


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS).timestamp()


def silence(ident: str, start: float, end: float, **extra) -> dict:
    return command_value("silence", "alice", "firmware", NOW - 10, id=ident, start=start, end=end,
                         matchers=["host=rtr1"], **extra)


def test_the_cli_and_the_console_build_the_same_commands() -> None:
    """vigie silence/maintenance/ack and the console share command_value: same value for the same input."""
    from argparse import Namespace

    from vigie.app.control_cli import build_command

    common = dict(id="c1", author="ops", reason="works")
    cli = build_command(Namespace(control_kind="silence", match=["host=rtr1"], start="2026-12-08T21:00:00Z",
                                  end=None, duration="2h", **common), now=NOW)
    assert cli == command_value("silence", "ops", "works", NOW, id="c1", start=at("2026-12-08T22:00"),
                                end=at("2026-12-09T00:00"), matchers=["host=rtr1"])
    cli = build_command(Namespace(control_kind="maintenance", host=["nas1"], only_hosts=True, start=None, end=None,
                                  duration="1h", recurrence="22:00-23:00", recurrence_days="tuesday",
                                  timezone="Europe/Paris", **common), now=NOW)
    assert cli == command_value("maintenance", "ops", "works", NOW, id="c1", start=NOW, end=NOW + HOUR,
                                hosts=["nas1"], include_children=False,
                                recurrence={"timezone": "Europe/Paris", "tuesday": "22:00-23:00"})
    cli = build_command(Namespace(control_kind="acknowledge", fingerprint=None, host="rtr1", service=None, match=[],
                                  **common), now=NOW)
    assert cli == command_value("acknowledge", "ops", "works", NOW, id="c1", matchers=["host=rtr1"])
    assert list(cli) == ["schema", "kind", "id", "author", "reason", "created_at", "start", "matchers"]
    with pytest.raises(ValueError, match="maintenance.hosts"):
        command_value("maintenance", "ops", "works", NOW, start=NOW, end=NOW + HOUR, hosts=[])


def test_rows_say_which_are_in_force_upcoming_waiting_or_ended() -> None:
    control = {
        "s-now": silence("s-now", NOW - HOUR, NOW + HOUR),
        "s-later": silence("s-later", NOW + HOUR, NOW + 2 * HOUR),
        "s-old": silence("s-old", NOW - 3 * HOUR, NOW - 2 * HOUR),
        "m-weekly": command_value("maintenance", "bob", "backups", NOW - 10, id="m-weekly", start=NOW - HOUR,
                                  end=NOW + 30 * 24 * HOUR, hosts=["nas1"], include_children=False,
                                  recurrence={"timezone": "Europe/Paris", "tuesday": "22:00-23:00",
                                              "thursday": "22:00-23:00", "sunday": "03:00-04:00"}),
        "a1": command_value("acknowledge", "bob", "on it", NOW - 10, id="a1", fingerprint="f1"),
        "bad": {"schema": "control/1", "kind": "silence", "id": "bad", "author": "x", "reason": "y",
                "start": "2026-12-07T20:00:00Z", "end": "2026-12-07T23:00:00Z", "matchers": ["host=~["]},
    }
    rows = control_rows(control, NOW)
    assert [(r.id, r.status) for r in rows["silence"]] == [
        ("s-now", "in_force"), ("s-later", "upcoming"), ("s-old", "ended"), ("bad", "invalid")]
    assert "not a valid regular expression" in rows["silence"][3].error
    assert rows["silence"][0].matchers == ("host=rtr1",) and rows["silence"][0].author == "alice"
    (weekly,) = rows["maintenance"]  # the acknowledgement is not listed here
    assert weekly.status == "waiting" and not weekly.include_children and weekly.hosts == ("nas1",)
    assert weekly.recurrence == ((("tuesday", "thursday"), "22:00-23:00"), (("sunday",), "03:00-04:00"))
    assert weekly.next_start == at("2026-12-08T22:00")  # Tuesday evening, local time
    inside = control_rows(control, at("2026-12-10T22:30"))["maintenance"][0]
    assert inside.status == "in_force" and inside.next_start is None


def test_matchers_one_per_line_or_in_alertmanager_braces() -> None:
    assert split_matchers('host="rtr1"\n\n  severity!=info ') == ['host="rtr1"', "severity!=info"]
    assert split_matchers('{host=~"sw-(a|b)", component="Gi0/1, uplink"}') == [
        'host=~"sw-(a|b)"', 'component="Gi0/1, uplink"']
    assert split_matchers("host=~a{1,3}") == ["host=~a{1,3}"]  # no braces around: the comma is the regex's


def test_window_reads_local_times_and_prefers_an_end_to_the_duration() -> None:
    assert window({"start": "2026-12-08T22:00", "duration": "2h"}, PARIS, NOW) == (
        at("2026-12-08T22:00"), at("2026-12-09T00:00"))
    assert window({"start": "", "duration": "90m"}, PARIS, NOW) == (NOW, NOW + 5400)
    assert window({"start": "2026-12-08T22:00", "duration": "2h", "end": "2026-12-08T23:00"}, PARIS, NOW)[1] == \
        at("2026-12-08T23:00")
    for form, message in (({"duration": "soon"}, "Duration: cannot read 'soon'"),
                          ({"start": "", "duration": ""}, "Give a duration or an end."),
                          ({"start": "tomorrow", "duration": "1h"}, "Start: cannot read 'tomorrow'"),
                          ({"start": "2026-12-08T22:00", "end": "2026-12-08T21:00"}, "End: must be after"),
                          ({"start": "2026-12-01T22:00", "duration": "1h"}, "End: already past.")):
        with pytest.raises(FormError, match=re.escape(message)):
            window(form, PARIS, NOW)


def test_silence_form_becomes_a_command_the_worker_and_the_schema_accept() -> None:
    value = silence_command({"matchers": 'host="rtr1"\ncomponent=~"Gi0/.*"', "duration": "2h", "reason": " fibre cut "},
                            "operator", PARIS, NOW)
    validate(value)
    cmd = parse_command(value)
    assert (cmd.kind, cmd.author, cmd.reason, cmd.start, cmd.end) == ("silence", "operator", "fibre cut", NOW, NOW + 7200)
    assert [m.to_dict() for m in cmd.matchers] == [{"name": "host", "op": "=", "value": "rtr1"},
                                                   {"name": "component", "op": "=~", "value": "Gi0/.*"}]
    assert value["id"].startswith("silence-")
    for form, message in (({"matchers": "", "duration": "1h", "reason": "x"}, "Matchers: give at least one"),
                          ({"matchers": "host=a", "duration": "1h", "reason": "  "}, "Reason: required"),
                          ({"matchers": "host=~[", "duration": "1h", "reason": "x"}, "not a valid regular expression"),
                          ({"matchers": "colour=red", "duration": "1h", "reason": "x"}, "label 'colour' is not one of")):
        with pytest.raises(FormError, match=re.escape(message)):
            silence_command(form, "operator", PARIS, NOW)


def test_maintenance_form_with_a_weekly_recurrence_in_the_console_zone() -> None:
    form = {"hosts": "nas1, nas2", "start": "2026-12-07T00:00", "end": "2027-01-07T00:00", "hours": "22:00-23:00",
            "reason": "backups"}
    value = maintenance_command(form, ["tuesday", "thursday"], "operator", PARIS, NOW)
    validate(value)
    cmd = parse_command(value)
    assert cmd.hosts == ("nas1", "nas2") and not cmd.include_children  # the box was not ticked
    assert value["recurrence"] == {"timezone": "Europe/Paris", "tuesday": "22:00-23:00", "thursday": "22:00-23:00"}
    assert cmd.active(at("2026-12-08T22:30")) and not cmd.active(at("2026-12-09T22:30"))
    once = maintenance_command({"hosts": "core1", "duration": "1h", "reason": "x", "include_children": "1"}, [],
                               "operator", PARIS, NOW)
    assert once["include_children"] is True and "recurrence" not in once
    for form, days, message in (
            ({"hosts": "", "duration": "1h", "reason": "x"}, [], "Hosts: give at least one"),
            ({"hosts": "a", "duration": "1h", "reason": "x", "hours": "22:00-23:00"}, [], "Recurrence: tick the days"),
            ({"hosts": "a", "duration": "1h", "reason": "x"}, ["monday"], "Recurrence: tick the days"),
            ({"hosts": "a", "duration": "1h", "reason": "x", "hours": "22h"}, ["monday"], "maintenance.recurrence"),
            ({"hosts": "a", "duration": "1h", "reason": "x", "hours": "22:00-23:00"}, ["someday"], "not a weekday")):
        with pytest.raises(FormError, match=re.escape(message)):
            maintenance_command(form, days, "operator", PARIS, NOW)


def test_forms_prefilled_from_a_problem() -> None:
    forms = blank_forms(PARIS, NOW, host="sw-mairie", component="Gi0/1")
    assert split_matchers(forms["silence"]["matchers"]) == ['host="sw-mairie"', 'component="Gi0/1"']
    assert forms["maintenance"]["hosts"] == "sw-mairie" and forms["silence"]["start"] == "2026-12-07T21:30"
    assert blank_forms(PARIS, NOW)["silence"]["matchers"] == ""


def test_every_message_of_the_pages_has_a_french_entry() -> None:
    root = Path(silences.__file__).parents[1]
    texts = "".join((root / "templates" / name).read_text() for name in
                    ("silences.html", "silences_new.html", "silence_forms.html", "duty.html"))
    messages = set(re.findall(r'_\("((?:[^"\\]|\\.)*)"', texts))
    code = "".join((root / "pages" / name).read_text() for name in ("silences.py", "duty.py"))
    messages |= set(re.findall(r'(?:gettext|FormError)\(\s*"([^"]+)"', code))
    messages |= set(re.findall(r'^_UNREADABLE_\w+ = "([^"]+)"', code, re.M))
    messages |= set(re.findall(r"FormError\(\s*'([^']+)'", code))
    messages |= {label for label in silences.STATUS_LABELS.values()}
    messages |= {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "Silences",
                 "On duty", "receiving", "holding", "off", "shadowed"}
    messages.discard("%(error)s")
    missing = sorted(m for m in messages if m not in catalogue("fr"))
    assert not missing, missing


# ---- HTTP --------------------------------------------------------------------------------------------------


def run(coro):
    return asyncio.run(coro)


class Loopback:
    """The writer, with the round trip through the control topic: what is written is read back into the state."""

    def __init__(self, state: ConsoleState, loop: asyncio.AbstractEventLoop, inner) -> None:
        self.state, self.loop, self.inner = state, loop, inner
        self.controls, self.audits = inner.controls, inner.audits

    def control(self, key, value, timeout: float = 10.0) -> None:
        self.inner.control(key, value)
        self.loop.call_soon_threadsafe(self.state.apply, CONTROL, key, value)

    def audit(self, entry, timeout: float = 10.0) -> None:
        self.inner.audit(entry)


def console_at(tmp_path: Path, state: ConsoleState | None = None):
    return make_console(tmp_path, state=state or ConsoleState())


async def login_at_now(client, console, role: str) -> None:
    """Log in on the real clock (accounts are stamped with it), then let the pages see the test's NOW."""
    await login(client, role)
    console.clock = lambda: NOW


def test_viewer_sees_the_list_without_buttons_and_cannot_post(tmp_path: Path) -> None:
    state = ConsoleState()
    state.apply(CONTROL, "s-now", silence("s-now", NOW - HOUR, NOW + HOUR))
    console = console_at(tmp_path, state)

    async def go():
        async with serve(console) as client:
            await login_at_now(client, console, "viewer")
            page = await client.get("/silences")
            text = await page.text()
            assert page.status == 200 and 'data-id="s-now"' in text and "host=rtr1" in text
            assert "Expire" not in text and 'action="/silences"' not in text
            assert "12/7/26, 8:30\u202fPM" in text or "12/7/26, 8:30 PM" in text  # Paris time, not UTC (19:30)
            token = await csrf_of(client, "/silences")
            for path, data in (("/silences", {"matchers": "host=a", "duration": "1h", "reason": "x"}),
                               ("/silences/maintenance", {"hosts": "a", "duration": "1h", "reason": "x"}),
                               ("/silences/expire", {"id": "s-now"})):
                refused = await client.post(path, data={"csrf": token, **data}, headers=origin(client))
                assert refused.status == 403
            assert (await client.get("/silences/new?host=a")).status == 403

    run(go())
    assert console.writer.controls == []


def test_operator_creates_a_silence_written_and_audited_then_listed(tmp_path: Path) -> None:
    console = console_at(tmp_path)

    async def go():
        console.writer = Loopback(console.state, asyncio.get_running_loop(), console.writer)
        async with serve(console) as client:
            await login_at_now(client, console, "operator")
            form = await client.get("/silences/new?host=sw-mairie&component=Gi0/1")
            assert 'host=&#34;sw-mairie&#34;' in await form.text()
            token = await csrf_of(client, "/silences")
            done = await client.post("/silences", data={
                "csrf": token, "matchers": 'host="sw-mairie"\ncomponent="Gi0/1"', "start": "2026-12-07T21:30",
                "duration": "2h", "end": "", "reason": "switch swap"}, headers=origin(client), allow_redirects=False)
            assert done.status == 303 and done.headers["Location"].startswith("/silences?written=silence-")
            listed = await (await client.get(done.headers["Location"])).text()
            assert "written to the control topic" in listed and "Not read back yet" not in listed
            assert "switch swap" in listed and "component=Gi0/1" in listed
            weekly = await client.post("/silences/maintenance", data=MultiDict([
                ("csrf", token), ("hosts", "nas1 nas2"), ("start", "2026-12-07T00:00"), ("end", "2027-01-07T00:00"),
                ("days", "tuesday"), ("hours", "22:00-23:00"), ("reason", "backups")]), headers=origin(client),
                allow_redirects=False)
            assert weekly.status == 303
            listed = await (await client.get(weekly.headers["Location"])).text()
            assert "nas1, nas2" in listed and "tuesday 22:00-23:00" in listed and "Outside its hours" in listed

    run(go())
    (key, value), (_, weekly) = console.writer.controls
    assert weekly["recurrence"] == {"timezone": "Europe/Paris", "tuesday": "22:00-23:00"}
    assert weekly["include_children"] is False and weekly["author"] == "operator"
    assert [a["hosts"] for a in console.writer.audits if a["action"] == "maintenance"] == [["nas1", "nas2"]]
    validate(value)
    assert parse_command(value).author == "operator" and value["end"] == "2026-12-07T22:30:00.000000Z"
    audit = [a for a in console.writer.audits if a["action"] == "silence"]
    assert audit and audit[0]["target"] == key and audit[0]["user"] == "operator" and audit[0]["outcome"] == "ok"
    assert audit[0]["matchers"] == ['host="sw-mairie"', 'component="Gi0/1"']


def test_a_form_error_gives_the_form_back_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    console = console_at(tmp_path)

    async def go():
        async with serve(console) as client:
            await login_at_now(client, console, "admin")
            token = await csrf_of(client, "/silences")
            bad = await client.post("/silences/maintenance", data=MultiDict([
                ("csrf", token), ("hosts", "nas1"), ("duration", "1h"), ("reason", "backups"), ("hours", "22h"),
                ("days", "monday"), ("days", "friday")]), headers=origin(client))
            text = await bad.text()
            assert bad.status == 400 and 'role="alert"' in text and "maintenance.recurrence" in text
            assert 'value="nas1"' in text and 'value="22h"' in text and 'value="friday" checked' in text
            fr = await client.post("/silences", data={"csrf": token, "matchers": "host=a", "duration": "bientôt",
                                                      "reason": "x"},
                                   headers={**origin(client), "Accept-Language": "fr"})
            assert fr.status == 400 and "Durée : impossible de lire" in await fr.text()

    run(go())
    assert console.writer.controls == [] and not [a for a in console.writer.audits if a["action"] != "login"]


def test_expire_writes_a_tombstone_for_the_id_and_is_audited(tmp_path: Path) -> None:
    state = ConsoleState()
    state.apply(CONTROL, "m1", command_value("maintenance", "bob", "works", NOW - 10, id="m1", start=NOW,
                                             end=NOW + HOUR, hosts=["core1"]))
    state.apply(CONTROL, "a1", command_value("acknowledge", "bob", "on it", NOW - 10, id="a1", fingerprint="f"))
    console = console_at(tmp_path, state)

    async def go():
        console.writer = Loopback(console.state, asyncio.get_running_loop(), console.writer)
        async with serve(console) as client:
            await login_at_now(client, console, "operator")
            token = await csrf_of(client, "/silences")
            done = await client.post("/silences/expire", data={"csrf": token, "id": "m1"}, headers=origin(client),
                                     allow_redirects=False)
            assert done.status == 303 and done.headers["Location"] == "/silences?expired=m1"
            assert 'data-id="m1"' not in await (await client.get("/silences")).text()
            ack = await client.post("/silences/expire", data={"csrf": token, "id": "a1"}, headers=origin(client))
            assert ack.status == 404  # an acknowledgement is not withdrawn from this page
            cross = await client.post("/silences/expire", data={"csrf": token, "id": "a1"},
                                      headers={"Origin": "https://evil.example"})
            assert cross.status == 403 and "Cross-site" in await cross.text()

    run(go())
    assert console.writer.controls == [("m1", None)]
    assert [(a["action"], a["target"], a["kind"]) for a in console.writer.audits if a["action"] == "expire"] == [
        ("expire", "m1", "maintenance")]


def test_a_broker_that_refuses_gives_the_form_back_and_no_audit(tmp_path: Path, monkeypatch) -> None:
    console = console_at(tmp_path)

    class Refusing:
        audits: list = []

        def control(self, key, value, timeout=10.0):
            raise TimeoutError("the broker did not take the control record within 10 s")

        def audit(self, entry, timeout=10.0):
            self.audits.append(entry)

    console.writer = Refusing()

    async def go():
        async with serve(console) as client:
            await login_at_now(client, console, "operator")
            token = await csrf_of(client, "/silences")
            bad = await client.post("/silences", data={"csrf": token, "matchers": "host=a", "duration": "1h",
                                                       "reason": "x"}, headers=origin(client))
            assert bad.status == 503 and "The broker did not take the command" in await bad.text()

    run(go())
    assert [a["action"] for a in console.writer.audits] == ["login"]


def test_a_command_not_read_back_in_time_is_said_so(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(silences, "ROUND_TRIP_WAIT", 0.01)
    console = console_at(tmp_path)  # the recording writer: nothing comes back from the topic

    async def go():
        async with serve(console) as client:
            await login_at_now(client, console, "operator")
            token = await csrf_of(client, "/silences")
            done = await client.post("/silences", data={"csrf": token, "matchers": "host=a", "duration": "1h",
                                                        "reason": "x"}, headers=origin(client))
            assert done.status == 200 and "Not read back yet" in await done.text()

    run(go())
    assert len(console.writer.controls) == 1
