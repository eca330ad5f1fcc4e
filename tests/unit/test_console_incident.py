"""The Incident page: its view model (members, timeline, messages per route), who may act, what Acknowledge and
Comment write (control/1 through the writer, audited), a 404 for an unknown id, and text shown as text."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

from tests.console_support import csrf_of, login, make_console, origin, serve
from vigie.console.i18n import catalogue
from vigie.console.pages.incident import (
    FLASH,
    ack_targets,
    alert_view,
    incident_view,
    member_row,
    messages_by_route,
    timeline,
)
from vigie.console.state import ConsoleState
from vigie.schemas.validate import validate
from vigie.topics import ALERTS, CONTROL, INCIDENTS, NOTIFICATIONS

TEMPLATES = Path(__file__).resolve().parents[2] / "vigie" / "console" / "templates"
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "json"
INC = "mairie-20261207T200000Z-0a1b2c3d"
ROOT_FP, CHILD_FP = "rtr-mairie|trap|link|3", "sw-ecole|check|PING"


def alert(fp: str, host: str, **extra: Any) -> dict[str, Any]:
    value = {"schema": "alert/1", "fingerprint": fp, "status": "firing", "severity": "critical", "host": host,
             "site": "mairie", "component": "Gi0/3", "summary": f"{host} problem", "first_seen": "2026-12-07T20:00:00Z",
             "last_seen": "2026-12-07T20:01:00Z", "count": 1, "state_type": "hard", "flapping": False,
             "suppressed_by": None, "incident_id": INC, "sources": ["trap"], "acknowledged": None}
    value.update(extra)
    return value


def incident(**extra: Any) -> dict[str, Any]:
    value = {"schema": "incident/1", "id": INC, "status": "open", "opened_at": "2026-12-07T20:00:00Z",
             "updated_at": "2026-12-07T20:00:40Z", "resolved_at": None, "severity": "critical", "site": "mairie",
             "root_cause": {"host": "rtr-mairie", "component": "Gi0/3", "reason": "link Gi0/3 down on rtr-mairie"},
             "alerts": [CHILD_FP, ROOT_FP], "symptoms": [CHILD_FP], "hosts": ["rtr-mairie", "sw-ecole"],
             "merged_into": None,
             "explain": [{"at": "2026-12-07T20:00:00Z", "decision": "open", "alert": ROOT_FP, "reason": "first alert"},
                         {"at": "2026-12-07T20:00:40Z", "decision": "symptom", "alert": CHILD_FP,
                          "reason": "sw-ecole is behind rtr-mairie, which is down"}]}
    value.update(extra)
    return value


def filled_state(**root_extra: Any) -> ConsoleState:
    state = ConsoleState()
    state.apply(ALERTS, ROOT_FP, alert(ROOT_FP, "rtr-mairie", **root_extra))
    state.apply(ALERTS, CHILD_FP, alert(CHILD_FP, "sw-ecole", state_type="soft",
                                        suppressed_by={"kind": "inhibited", "ref": INC}))
    state.apply(INCIDENTS, INC, incident())
    for at, route, receiver, reason in (("2026-12-07T20:00:05Z", "oncall", "sms", "new"),
                                        ("2026-12-07T20:00:06Z", "oncall", "mail", "new"),
                                        ("2026-12-07T20:30:05Z", "oncall", "sms", "repeat")):
        state.apply(NOTIFICATIONS, route, {"schema": "notification/1", "route": route, "receiver": receiver,
                                           "reason": reason, "at": at, "id": f"{receiver}-{reason}",
                                           "incident": {"id": INC}})
    return state


def test_members_show_role_state_suppression_and_ack() -> None:
    view = incident_view(filled_state(acknowledged={"author": "operator", "reason": "on it",
                                                    "at": "2026-12-07T20:02:00Z"}), INC)
    assert [(m["role"], m["host"], m["state_type"], m["suppressed"], m["acked_by"]) for m in view["members"]] == [
        ("cause", "rtr-mairie", "HARD", None, "operator"),
        ("symptom", "sw-ecole", "SOFT", f"inhibited: {INC}", None)]
    assert view["acked_by"] == ["operator"] and view["to_ack"] == [CHILD_FP]
    assert view["root"]["reason"] == "link Gi0/3 down on rtr-mairie"
    assert incident_view(ConsoleState(), INC) is None


def test_a_member_gone_from_the_alerts_topic_keeps_its_fingerprint_and_is_not_acked() -> None:
    gone = member_row("x|y", None, "cause")
    assert gone["known"] is False and ack_targets([gone]) == []
    resolved = member_row("a", alert("a", "h", status="resolved"), "cause")
    assert ack_targets([resolved, member_row("b", alert("b", "h"), "cause")]) == ["b"]


def test_the_timeline_orders_decisions_comments_acks_and_messages() -> None:
    acked = [alert(fp, "h", acknowledged={"author": "operator", "reason": "on it", "at": at})
             for fp, at in (("a", "2026-12-07T20:02:01Z"), ("b", "2026-12-07T20:02:00Z"))]
    comments = [{"kind": "comment", "author": "operator", "text": "called the school", "target": INC,
                 "created_at": "2026-12-07T20:03:00Z"}]
    messages = [{"route": "oncall", "receiver": "sms", "reason": "new", "at": "2026-12-07T20:00:05Z"},
                {"route": "night", "receiver": "night", "reason": "new", "at": "2026-12-07T20:00:06Z"}]
    entries = timeline(incident()["explain"] + ["a plain note"], comments, acked, messages)
    assert [(e["kind"], e["label"]) for e in entries] == [
        ("decision", "note"), ("decision", "open"), ("message", "new"), ("message", "new"), ("decision", "symptom"),
        ("ack", "acknowledged"), ("comment", "comment")]
    ack = entries[5]
    assert (ack["who"], ack["count"], ack["at"]) == ("operator", 2, "2026-12-07T20:02:00Z")  # one click, two members
    assert (entries[2]["who"], entries[3]["who"]) == ("oncall / sms", "night")  # a route's own receiver: once


def test_messages_are_grouped_by_route_and_receiver_newest_first() -> None:
    view = incident_view(filled_state(), INC)
    assert [(g["route"], g["receiver"], [m["reason"] for m in g["messages"]]) for g in view["routes"]] == [
        ("oncall", "mail", ["new"]), ("oncall", "sms", ["repeat", "new"])]
    assert messages_by_route([]) == []


def test_a_lone_alert_has_the_same_layout_with_one_member() -> None:
    state = filled_state()
    view = alert_view(state, ROOT_FP)
    assert [m["fingerprint"] for m in view["members"]] == [ROOT_FP] and view["incident_id"] == INC
    assert view["path"] == "/alerts/rtr-mairie%7Ctrap%7Clink%7C3" and view["root"]["host"] == "rtr-mairie"
    assert alert_view(state, "nope") is None


def run(coro):
    return asyncio.run(coro)


def test_an_operator_acks_through_the_writer_and_a_viewer_is_refused(tmp_path: Path) -> None:
    console = make_console(tmp_path, filled_state())

    async def go():
        async with serve(console) as client:
            await login(client, "viewer")
            page = await (await client.get(f"/incidents/{INC}")).text()
            assert "rtr-mairie" in page and 'name="ack"' not in page and 'name="comment"' not in page
            token = await csrf_of(client, f"/incidents/{INC}")
            refused = await client.post(f"/incidents/{INC}", data={"csrf": token, "action": "acknowledge"},
                                        headers=origin(client), allow_redirects=False)
            assert refused.status == 403
            assert console.writer.controls == []
            await client.post("/logout", data={"csrf": token}, headers=origin(client), allow_redirects=False)
            await login(client, "operator")
            token = await csrf_of(client, f"/incidents/{INC}")
            done = await client.post(f"/incidents/{INC}", data={"csrf": token, "action": "acknowledge", "reason": "on it"},
                                     headers=origin(client), allow_redirects=False)
            assert done.status == 303 and done.headers["Location"] == f"/incidents/{INC}?done=acknowledged"
            flashed = await (await client.get(done.headers["Location"])).text()
            assert FLASH["acknowledged"] in flashed
            again = await client.post(f"/incidents/{INC}", data={"csrf": token, "action": "comment",
                                                                 "text": "called the school"},
                                      headers=origin(client), allow_redirects=False)
            assert again.headers["Location"] == f"/incidents/{INC}?done=commented"
            page = await (await client.get(f"/incidents/{INC}")).text()
            assert "called the school" in page and "comment by operator" in page

    run(go())
    acks = [v for _k, v in console.writer.controls if v["kind"] == "acknowledge"]
    assert sorted(v["fingerprint"] for v in acks) == sorted([ROOT_FP, CHILD_FP])
    assert all(v["author"] == "operator" and v["reason"] == "on it" for v in acks)
    (comment,) = [v for _k, v in console.writer.controls if v["kind"] == "comment"]
    assert comment["target"] == INC and comment["text"] == "called the school"
    for _key, value in console.writer.controls:
        validate(value)
    assert all(key == value["id"] for key, value in console.writer.controls)
    actions = [(a["action"], a["user"], a["outcome"], a["target"]) for a in console.writer.audits
               if a["action"] != "login" and a["action"] != "logout"]
    assert actions == [("acknowledge", "operator", "ok", INC), ("comment", "operator", "ok", INC)]
    assert console.state.control[comment["id"]] == comment  # shown at once, before the feed brings it back


def test_refused_and_failed_writes_say_so_and_are_audited(tmp_path: Path) -> None:
    class DownWriter:
        def __init__(self) -> None:
            self.audits: list[dict[str, Any]] = []

        def control(self, key: str, value: Any, timeout: float = 10.0) -> None:
            raise TimeoutError("the broker did not take the control record within 10 s")

        def audit(self, entry: dict[str, Any], timeout: float = 10.0) -> None:
            self.audits.append(entry)

    console = make_console(tmp_path, filled_state(), writer=DownWriter())

    async def go():
        async with serve(console) as client:
            await login(client, "operator")
            token = await csrf_of(client, f"/incidents/{INC}")
            empty = await client.post(f"/incidents/{INC}", data={"csrf": token, "action": "comment", "text": "  "},
                                      headers=origin(client), allow_redirects=False)
            assert empty.headers["Location"].endswith("?done=refused")
            failed = await client.post(f"/incidents/{INC}", data={"csrf": token, "action": "acknowledge"},
                                       headers=origin(client), allow_redirects=False)
            assert failed.headers["Location"].endswith("?done=failed")
            unknown = await client.post(f"/incidents/{INC}", data={"csrf": token, "action": "delete"},
                                        headers=origin(client), allow_redirects=False)
            assert unknown.status == 400
            page = await (await client.get(failed.headers["Location"])).text()
            assert FLASH["failed"] in page and 'class="flash error"' in page

    run(go())
    outcomes = [(a["action"], a["outcome"]) for a in console.writer.audits if a["action"] != "login"]
    assert outcomes == [("comment", "refused"), ("acknowledge", "failed")]
    assert console.writer.audits[-1]["ids"] == [] and "did not take" in console.writer.audits[-1]["error"]
    assert console.state.control == {}  # nothing shown as done


def test_nothing_left_to_acknowledge_writes_nothing(tmp_path: Path) -> None:
    acked = {"author": "alice", "reason": "seen", "at": "2026-12-07T20:02:00Z"}
    state = filled_state(acknowledged=acked)
    state.apply(ALERTS, CHILD_FP, alert(CHILD_FP, "sw-ecole", status="resolved"))
    console = make_console(tmp_path, state)

    async def go():
        async with serve(console) as client:
            await login(client, "operator")
            page = await (await client.get(f"/incidents/{INC}")).text()
            assert re.search(r'<button type="submit" name="ack" disabled>', page)
            done = await client.post(f"/incidents/{INC}", data={"csrf": await csrf_of(client), "action": "acknowledge"},
                                     headers=origin(client), allow_redirects=False)
            assert done.headers["Location"].endswith("?done=nothing")

    run(go())
    assert console.writer.controls == []
    assert [a["outcome"] for a in console.writer.audits if a["action"] == "acknowledge"] == ["nothing to do"]


def test_an_unknown_incident_is_a_404_page_and_a_lone_alert_with_a_slash_is_found(tmp_path: Path) -> None:
    state = filled_state()
    slashed = "rtr-mairie|syslog|LINK-3-UPDOWN|Gi0/3"
    state.apply(ALERTS, slashed, alert(slashed, "rtr-mairie", incident_id=None))
    console = make_console(tmp_path, state)

    async def go():
        async with serve(console) as client:
            await login(client, "operator")
            missing = await client.get("/incidents/no-such-incident")
            assert missing.status == 404 and "No such incident." in await missing.text()
            post = await client.post("/incidents/no-such-incident", data={"csrf": await csrf_of(client), "action": "comment",
                                                                          "text": "x"}, headers=origin(client))
            assert post.status == 404
            lone = await client.get("/alerts/rtr-mairie%7Csyslog%7CLINK-3-UPDOWN%7CGi0%2F3")
            assert lone.status == 200 and "rtr-mairie problem" in await lone.text()
            lone = await client.get("/alerts/rtr-mairie|syslog|LINK-3-UPDOWN|Gi0/3")
            assert lone.status == 200

    run(go())


def test_a_summary_with_a_script_tag_is_shown_as_text(tmp_path: Path) -> None:
    state = filled_state(summary="<script>alert(1)</script>")
    state.apply(CONTROL, "comment-1", {"schema": "control/1", "kind": "comment", "id": "comment-1", "author": "x",
                                       "target": INC, "text": "<img src=x onerror=alert(2)>",
                                       "created_at": "2026-12-07T20:05:00Z"})
    console = make_console(tmp_path, state)

    async def go():
        async with serve(console) as client:
            await login(client, "viewer")
            return await (await client.get(f"/incidents/{INC}")).text()

    page = run(go())
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(2)&gt;" in page


def test_french_pages_and_every_message_has_a_french_entry(tmp_path: Path) -> None:
    fr = catalogue("fr")
    wanted = set()
    for name in ("incident.html", "host.html"):
        wanted |= set(re.findall(r"""_\(\s*(?:"([^"]+)"|'([^']+)')""", (TEMPLATES / name).read_text()))
    missing = sorted(m for pair in wanted for m in pair if m and m not in fr)
    assert missing == []
    assert all(text in fr for text in FLASH.values())
    # what the pages pass through _() from the data: roles, statuses, decisions, message reasons, event kinds
    reasons = json.loads((SCHEMAS / "notification-1.schema.json").read_text())["properties"]["reason"]["enum"]
    shown = {"cause", "symptom", "open", "resolved", "firing", "flapping", "join", "update", "refire", "resolve",
             "merge", "release", "remote", "truncated", "note", "comment", "acknowledged", "problem", "recovered",
             "check", "warn", "crit", "inhibited", "maintenance", "silence", "incident", "No such incident.",
             "No such alert.", "No such host.", "Unknown action.", *reasons}
    assert sorted(m for m in shown if m not in fr) == []
    console = make_console(tmp_path, filled_state(acknowledged={"author": "operator", "reason": "on it",
                                                                "at": "2026-12-07T20:02:00Z"}))

    async def go():
        async with serve(console) as client:
            await login(client, "operator")
            return await (await client.get(f"/incidents/{INC}", headers={"Accept-Language": "fr-FR"})).text()

    page = run(go())
    assert "Cause racine" in page and "acquitté par operator" in page and "symptôme" in page
