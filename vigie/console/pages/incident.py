"""Incident: one problem as the correlator explained it — root cause, members, decisions, messages sent —
with the operators' Acknowledge and Comment. `/alerts/{fingerprint}` shows a lone alert the same way.

The view model is pure (tested without HTTP); the handlers write control/1 values through the console's
writer and audit them before the page says done (POST, then 303 back with a flash message).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from aiohttp import web

from vigie.console.i18n import to_datetime
from vigie.console.server import ACCOUNT, CONSOLE, Route, T, error_page, render
from vigie.control_commands import acknowledge_command, comment_command
from vigie.topics import CONTROL

REASON_MAX = 500  # characters of an acknowledgement's reason (it is shown in every message that follows)
DEFAULT_ACK_REASON = "acknowledged in the console"
# Flash messages a redirect may name (?done=...): only these, so a link cannot make the page say anything else.
FLASH = {
    "acknowledged": "Acknowledgement written; the alerts show it once the pipelines have applied it.",
    "nothing": "Nothing to acknowledge: every member is already acknowledged or resolved.",
    "commented": "Comment added.",
    "refused": "Refused: a comment needs text (at most 4000 characters), a reason at most 500.",
    "failed": "The command could not be written to Kafka (the broker did not take it); try again.",
}
FLASH_ERRORS = frozenset({"refused", "failed"})


def _epoch(value: Any) -> float:
    dt = to_datetime(value)
    return dt.timestamp() if dt else 0.0


def member_row(fingerprint: str, alert: dict[str, Any] | None, role: str) -> dict[str, Any]:
    """One member as the table shows it; an alert no longer on the topic keeps its fingerprint only."""
    if alert is None:
        return {"fingerprint": fingerprint, "role": role, "known": False, "host": "", "component": "", "summary": "",
                "severity": "unknown", "status": "", "state_type": "", "since": None, "acked_by": None,
                "suppressed": None, "flapping": False}
    ack = alert.get("acknowledged") or None
    suppressed = alert.get("suppressed_by") or None
    return {
        "fingerprint": fingerprint, "role": role, "known": True, "host": alert.get("host") or "",
        "component": alert.get("component") or "", "summary": alert.get("summary") or "",
        "severity": alert.get("severity") or "unknown", "status": alert.get("status") or "",
        "state_type": str(alert.get("state_type") or "").upper(), "since": alert.get("first_seen"),
        "acked_by": ack.get("author") if isinstance(ack, dict) else None,
        "suppressed": f"{suppressed.get('kind')}: {suppressed.get('ref')}" if isinstance(suppressed, dict) else None,
        "flapping": bool(alert.get("flapping")),
    }


def ack_targets(members: Iterable[dict[str, Any]]) -> list[str]:
    """The fingerprints an Acknowledge should cover: firing members nobody has acknowledged yet."""
    return [m["fingerprint"] for m in members if m["known"] and m["status"] == "firing" and not m["acked_by"]]


def comments_on(control: dict[str, dict[str, Any]], target: str) -> list[dict[str, Any]]:
    return [c for c in control.values() if c.get("kind") == "comment" and c.get("target") == target]


def timeline(explain: Iterable[Any], comments: Iterable[dict[str, Any]], alerts: Iterable[dict[str, Any]],
             messages: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The correlator's decisions, people's comments and acknowledgements, and the messages sent, oldest first.

    Acknowledgements are read from the alerts (what the pipelines applied), one entry per author and reason
    however many members one click covered.
    """
    out: list[dict[str, Any]] = []
    for entry in explain:
        if isinstance(entry, str):  # the contract allows plain strings
            out.append({"at": None, "kind": "decision", "label": "note", "who": "", "text": entry, "alert": None})
        elif isinstance(entry, dict):
            out.append({"at": entry.get("at"), "kind": "decision", "label": str(entry.get("decision") or ""),
                        "who": "", "text": str(entry.get("reason") or ""), "alert": entry.get("alert")})
    for c in comments:
        out.append({"at": c.get("created_at"), "kind": "comment", "label": "comment", "who": c.get("author", ""),
                    "text": c.get("text", ""), "alert": None})
    acks: dict[tuple[str, str], dict[str, Any]] = {}
    for a in alerts:
        ack = a.get("acknowledged")
        if not isinstance(ack, dict):
            continue
        key = (str(ack.get("author") or ""), str(ack.get("reason") or ""))
        seen = acks.get(key)
        if seen is None:
            acks[key] = {"at": ack.get("at"), "kind": "ack", "label": "acknowledged", "who": key[0], "text": key[1],
                         "alert": a.get("fingerprint"), "count": 1}
        else:
            seen["count"] += 1
            if _epoch(ack.get("at")) < _epoch(seen["at"]):
                seen["at"] = ack.get("at")
    out.extend(acks.values())
    for m in messages:
        route, receiver = str(m.get("route") or ""), str(m.get("receiver") or "")
        where = route + (f" / {receiver}" if receiver and receiver != route else "")
        out.append({"at": m.get("at"), "kind": "message", "label": str(m.get("reason") or ""), "who": where,
                    "text": "", "alert": None})
    out.sort(key=lambda e: _epoch(e["at"]))
    return out


def messages_by_route(messages: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages grouped by route and receiver (as configured), newest first within each group."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for m in messages:
        groups.setdefault((str(m.get("route") or ""), str(m.get("receiver") or "")), []).append(m)
    return [{"route": route, "receiver": receiver,
             "messages": sorted(sent, key=lambda m: _epoch(m.get("at")), reverse=True)}
            for (route, receiver), sent in sorted(groups.items())]


def _view(kind: str, ref: str, head: dict[str, Any], members: list[dict[str, Any]], explain: list[Any],
          state: Any) -> dict[str, Any]:
    known = [state.alerts[m["fingerprint"]] for m in members if m["fingerprint"] in state.alerts]
    messages = list(state.messages.get(ref, ()))
    acked_by = sorted({m["acked_by"] for m in members if m["acked_by"]})
    return {"kind": kind, "ref": ref, **head, "members": members, "acked_by": acked_by,
            "timeline": timeline(explain, comments_on(state.control, ref), known, messages),
            "routes": messages_by_route(messages), "to_ack": ack_targets(members),
            "path": f"/{'incidents' if kind == 'incident' else 'alerts'}/{quote(ref, safe='')}"}


def incident_view(state: Any, incident_id: str) -> dict[str, Any] | None:
    """What the Incident page shows of one incident/1 value, with its members' latest alert values."""
    inc = state.incidents.get(incident_id)
    if inc is None:
        return None
    symptoms = set(inc.get("symptoms") or ())
    members = [member_row(fp, state.alerts.get(fp), "symptom" if fp in symptoms else "cause")
               for fp in inc.get("alerts") or ()]
    members.sort(key=lambda m: (m["role"] != "cause", m["status"] != "firing", m["host"], m["component"]))
    root = inc.get("root_cause") or {}
    head = {"status": inc.get("status", ""), "severity": inc.get("severity", "unknown"), "site": inc.get("site") or "",
            "opened_at": inc.get("opened_at"), "updated_at": inc.get("updated_at"),
            "resolved_at": inc.get("resolved_at"), "merged_into": inc.get("merged_into"),
            "root": {"host": root.get("host", ""), "component": root.get("component") or "",
                     "reason": root.get("reason", "")},
            "incident_id": None, "hosts": list(inc.get("hosts") or ())}
    return _view("incident", incident_id, head, members, list(inc.get("explain") or ()), state)


def alert_view(state: Any, fingerprint: str) -> dict[str, Any] | None:
    """A lone alert in the Incident page's layout: itself as root cause and only member."""
    alert = state.alerts.get(fingerprint)
    if alert is None:
        return None
    row = member_row(fingerprint, alert, "cause")
    head = {"status": alert.get("status", ""), "severity": row["severity"], "site": alert.get("site") or "",
            "opened_at": alert.get("first_seen"), "updated_at": alert.get("last_seen"),
            "resolved_at": alert.get("resolved_at"), "merged_into": None,
            "root": {"host": row["host"], "component": row["component"], "reason": row["summary"]},
            "incident_id": alert.get("incident_id") if alert.get("incident_id") in state.incidents else None,
            "hosts": [row["host"]]}
    return _view("alert", fingerprint, head, [row], [], state)


def view_of(state: Any, kind: str, ref: str) -> dict[str, Any] | None:
    return incident_view(state, ref) if kind == "incident" else alert_view(state, ref)


def _missing(request: web.Request, kind: str) -> web.Response:
    return error_page(request, 404, request[T].gettext("No such incident." if kind == "incident" else "No such alert."))


def _show(kind: str):
    async def show(request: web.Request) -> web.StreamResponse:
        console = request.app[CONSOLE]
        t = request[T]
        view = view_of(console.state, kind, request.match_info["ref"])
        if view is None:
            return _missing(request, kind)
        done = request.query.get("done", "")
        flash = {"text": t.gettext(FLASH[done]), "error": done in FLASH_ERRORS} if done in FLASH else None
        return render(request, "incident.html", v=view, flash=flash, can_act=request[ACCOUNT].can("act"))

    return show


async def _write(request: web.Request, values: list[dict[str, Any]], written: list[str]) -> None:
    """Every value on the control topic, acknowledged by the broker, before the page says done; `written`
    gets the ids the broker took (all of them, or those before a failure)."""
    console = request.app[CONSOLE]

    def send() -> None:
        for value in values:
            console.writer.control(value["id"], value)
            written.append(value["id"])

    await asyncio.get_running_loop().run_in_executor(None, send)
    for value in values:  # shown at once; the feed brings the same records back
        console.state.apply(CONTROL, value["id"], value)


def _act(kind: str):
    async def act(request: web.Request) -> web.StreamResponse:
        console = request.app[CONSOLE]
        ref = request.match_info["ref"]
        view = view_of(console.state, kind, ref)
        if view is None:
            return _missing(request, kind)
        form = await request.post()
        action = str(form.get("action", ""))
        author = request[ACCOUNT].name
        now = console.clock()
        try:
            if action == "acknowledge":
                reason = str(form.get("reason", "")).strip() or DEFAULT_ACK_REASON
                if len(reason) > REASON_MAX:
                    raise ValueError(f"acknowledge: a reason has at most {REASON_MAX} characters")
                if not view["to_ack"]:
                    await console.audit(request, "acknowledge", ref, "nothing to do", on=kind)
                    raise web.HTTPSeeOther(f"{view['path']}?done=nothing")
                values = [acknowledge_command(author, reason, now, fingerprint=fp) for fp in view["to_ack"]]
                details: dict[str, Any] = {"fingerprints": view["to_ack"], "reason": reason}
                done = "acknowledged"
            elif action == "comment":
                values = [comment_command(author, str(form.get("text", "")), ref, now)]
                details, done = {"comment_id": values[0]["id"]}, "commented"
            else:
                return error_page(request, 400, request[T].gettext("Unknown action."))
        except ValueError as exc:
            await console.audit(request, action, ref, "refused", on=kind, error=str(exc))
            raise web.HTTPSeeOther(f"{view['path']}?done=refused") from None
        written: list[str] = []
        try:
            await _write(request, values, written)
        except (TimeoutError, RuntimeError) as exc:  # feed.Writer: not taken, or refused, by the broker
            await console.audit(request, action, ref, "failed", on=kind, error=str(exc), ids=written, **details)
            raise web.HTTPSeeOther(f"{view['path']}?done=failed") from None
        await console.audit(request, action, ref, "ok", on=kind, ids=written, **details)
        raise web.HTTPSeeOther(f"{view['path']}?done={done}")

    return act


ROUTES = [
    Route("GET", "/incidents/{ref:.+}", _show("incident")),
    Route("POST", "/incidents/{ref:.+}", _act("incident"), capability="act"),
    Route("GET", "/alerts/{ref:.+}", _show("alert")),
    Route("POST", "/alerts/{ref:.+}", _act("alert"), capability="act"),
]
