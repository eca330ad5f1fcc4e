"""Silences and maintenance: what is muted now or will be, by whom and why; create one (also prefilled from a
problem) and expire it.

Commands are the control/1 values the CLI writes (pipelines/correlate/silences.py command_value: checked by the
correlation worker's own parser and the JSON schema), written to the compacted control topic before the
page says done; an expiry is a tombstone on the command's id. The list is ConsoleState.control, i.e. what
was read back from the topic, so what the page shows is what the worker has.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from aiohttp import web
from confluent_kafka import KafkaException

from vigie.config import parse_duration
from vigie.console.server import CONSOLE, Console, NavItem, Route, T, error_page, render, user_of
from vigie.pipelines.correlate.silences import ControlError, command_value, parse_command
from vigie.timeperiods import WEEKDAYS, next_start
from vigie.topics import CONTROL

log = logging.getLogger("vigie.console.silences")
KINDS_SHOWN = ("silence", "maintenance")
STATUS_LABELS = {"in_force": "In force", "waiting": "Outside its hours", "upcoming": "Upcoming", "ended": "Ended",
                 "invalid": "Invalid"}  # in the order listed
STATUS_ORDER = tuple(STATUS_LABELS)
# How long a create or expire waits to see its own record come back from the control topic, so that the
# list shown next already has it (a round trip takes milliseconds; a broker in trouble must not hang the form).
ROUND_TRIP_WAIT = 5.0
_UNREADABLE_START = "Start: cannot read %(text)r, expected a date and time"
_UNREADABLE_END = "End: cannot read %(text)r, expected a date and time"
LOCAL_INPUT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends and shows


class FormError(ValueError):
    """A form that cannot become a command: the one-line message shown above the form, as an English
    catalogue message and its values (translated when shown)."""

    def __init__(self, message: str, **values: Any) -> None:
        super().__init__(message % values if values else message)
        self.message, self.values = message, values


@dataclass(frozen=True)
class ControlRow:
    """One silence or maintenance window as the page lists it."""

    id: str
    kind: str
    status: str  # in_force, waiting (recurring, outside its hours now), upcoming, ended, invalid
    author: str
    reason: str
    start: float | None
    end: float | None
    matchers: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    include_children: bool = True
    recurrence: tuple[tuple[tuple[str, ...], str], ...] = ()  # (days, hours) of a weekly window
    next_start: float | None = None  # recurring: when its hours next begin within [start, end)
    error: str = ""


def recurrence_parts(spec: Mapping[str, Any] | None) -> tuple[tuple[tuple[str, ...], str], ...]:
    """{"monday": "22:00-23:00", "tuesday": "22:00-23:00", "timezone": ...} -> ((("monday", "tuesday"), "22:00-23:00"),)."""
    by_hours: dict[str, list[str]] = {}
    for key, value in (spec or {}).items():
        if key in ("timezone", "tz", "alias", "exclude") or value is None:
            continue
        by_hours.setdefault(str(value), []).append(str(key))
    return tuple((tuple(days), hours) for hours, days in by_hours.items())


def _row(ident: str, value: dict[str, Any], now: float) -> ControlRow:
    author, reason = str(value.get("author") or ""), str(value.get("reason") or "")
    try:
        cmd = parse_command(value, key=ident, now=now)
    except ControlError as exc:
        return ControlRow(ident, str(value.get("kind") or ""), "invalid", author, reason, None, None, error=str(exc))
    upcoming_from = None
    if cmd.end is not None and now >= cmd.end:
        status = "ended"
    elif cmd.start is not None and now < cmd.start:
        status, upcoming_from = "upcoming", cmd.start
    elif cmd.active(now):
        status = "in_force"
    else:
        status, upcoming_from = "waiting", now
    following = None
    if cmd.recurrence is not None and upcoming_from is not None:
        following = next_start(cmd.recurrence, upcoming_from)
        if following is not None and cmd.end is not None and following >= cmd.end:
            following = None
    return ControlRow(
        ident, cmd.kind, status, cmd.author, cmd.reason, cmd.start, cmd.end,
        matchers=tuple(f"{m.name}{m.op}{m.value}" for m in cmd.matchers), hosts=cmd.hosts,
        include_children=cmd.include_children, recurrence=recurrence_parts(value.get("recurrence")),
        next_start=following)


def control_rows(control: Mapping[str, dict[str, Any]], now: float) -> dict[str, list[ControlRow]]:
    """Silences and maintenance windows of the control state, in force first, then by start: kind -> rows."""
    out: dict[str, list[ControlRow]] = {kind: [] for kind in KINDS_SHOWN}
    for ident, value in control.items():
        kind = value.get("kind") if isinstance(value, dict) else None
        kind = "maintenance" if kind == "downtime" else kind
        if kind in out:
            out[kind].append(_row(ident, value, now))
    for rows in out.values():
        rows.sort(key=lambda r: (STATUS_ORDER.index(r.status), r.start or 0.0, r.id))
    return out


# ---- forms -------------------------------------------------------------------------------------------------


def local_time(text: str, tz: ZoneInfo, what: str) -> float:
    """A datetime-local value ('2026-12-07T22:00') read as a wall-clock time of the console's zone."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        message = _UNREADABLE_START if what == "Start" else _UNREADABLE_END
        raise FormError(message, text=text.strip()) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.timestamp()


def window(form: Mapping[str, str], tz: ZoneInfo, now: float) -> tuple[float, float]:
    """(start, end) from start (default now) and an end, else a duration; an end given wins over the duration."""
    start_text, end_text = form.get("start", "").strip(), form.get("end", "").strip()
    duration_text = form.get("duration", "").strip()
    start = local_time(start_text, tz, "Start") if start_text else now
    if end_text:
        end = local_time(end_text, tz, "End")
    elif duration_text:
        try:
            end = start + parse_duration(duration_text)
        except ValueError:
            raise FormError("Duration: cannot read %(text)r, expected e.g. 2h, 30m or 1d", text=duration_text) from None
    else:
        raise FormError("Give a duration or an end.")
    if end <= start:
        raise FormError("End: must be after the start.")
    if end <= now:
        raise FormError("End: already past.")
    return start, end


def split_matchers(text: str) -> list[str]:
    """Matchers one per line, or Alertmanager's '{host="rtr1", severity!="info"}' (commas split outside quotes)."""
    out: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            part, quoted = "", False
            for char in line[1:-1]:
                if char == '"':
                    quoted = not quoted
                if char == "," and not quoted:
                    out.append(part.strip())
                    part = ""
                else:
                    part += char
            out.append(part.strip())
        else:
            out.append(line)
    return [m for m in out if m]


def _reason(form: Mapping[str, str]) -> str:
    reason = form.get("reason", "").strip()
    if not reason:
        raise FormError("Reason: required (it is shown to whoever is on call).")
    return reason


def silence_command(form: Mapping[str, str], author: str, tz: ZoneInfo, now: float) -> dict[str, Any]:
    """The control/1 silence of the form, or FormError."""
    matchers = split_matchers(form.get("matchers", ""))
    if not matchers:
        raise FormError('Matchers: give at least one, e.g. host="rtr1" or host=~"sw-.*".')
    reason = _reason(form)
    start, end = window(form, tz, now)
    return _command("silence", author, reason, now, start=start, end=end, matchers=matchers)


def maintenance_command(form: Mapping[str, str], days: list[str], author: str, tz: ZoneInfo,
                        now: float) -> dict[str, Any]:
    """The control/1 maintenance window of the form (weekly hours on the days ticked, if any), or FormError."""
    hosts = [h for h in form.get("hosts", "").replace(",", " ").split() if h]
    if not hosts:
        raise FormError("Hosts: give at least one host name.")
    reason = _reason(form)
    start, end = window(form, tz, now)
    hours = form.get("hours", "").strip()
    unknown = [d for d in days if d not in WEEKDAYS]
    if unknown:
        raise FormError("Days: %(day)r is not a weekday.", day=unknown[0])
    if bool(hours) != bool(days):
        raise FormError("Recurrence: tick the days and give the hours (e.g. 22:00-23:00), or neither.")
    recurrence = {"timezone": tz.key, **{day: hours for day in WEEKDAYS if day in days}} if days else None
    return _command("maintenance", author, reason, now, start=start, end=end, hosts=hosts,
                    include_children=bool(form.get("include_children")), recurrence=recurrence)


def _command(kind: str, author: str, reason: str, now: float, **fields: Any) -> dict[str, Any]:
    try:
        return command_value(kind, author, reason, now, **fields)
    except ValueError as exc:
        raise FormError("%(error)s", error=str(exc).splitlines()[0]) from None


def blank_forms(tz: ZoneInfo, now: float, host: str = "", component: str = "") -> dict[str, dict[str, Any]]:
    """The forms' initial values; from a problem, the silence matches its host and component."""
    start = datetime.fromtimestamp(now, tz).strftime(LOCAL_INPUT)
    matchers = "\n".join(f'{label}="{value}"' for label, value in (("host", host), ("component", component))
                         if value)
    return {
        "silence": {"matchers": matchers, "start": start, "duration": "2h", "end": "", "reason": ""},
        "maintenance": {"hosts": host, "include_children": True, "start": start, "duration": "2h", "end": "",
                        "hours": "", "days": [], "reason": ""},
    }


# ---- handlers ----------------------------------------------------------------------------------------------


def _settled(console: Console, key: str, value: dict[str, Any] | None) -> Callable[[], bool]:
    return lambda: (key in console.state.control) if value is not None else (key not in console.state.control)


async def write_control(console: Console, key: str, value: dict[str, Any] | None) -> bool:
    """Write a command (None: a tombstone) and wait until it is read back; False if not seen in time.

    Raises what the writer raises when the broker does not take it."""
    if console.writer is None:
        raise RuntimeError("the console has no Kafka writer")
    settled, seen = _settled(console, key, value), asyncio.Event()

    def listener(logical: str, changed: str) -> None:
        if logical == CONTROL and changed == key and settled():
            seen.set()

    console.state.listeners.append(listener)
    try:
        await asyncio.get_running_loop().run_in_executor(None, console.writer.control, key, value)
        if settled():
            return True
        try:
            await asyncio.wait_for(seen.wait(), ROUND_TRIP_WAIT)
        except TimeoutError:
            return False
        return True
    finally:
        console.state.listeners.remove(listener)


def _page(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    console = request.app[CONSOLE]
    now = console.clock()
    return render(request, template, status=status, rows=control_rows(console.state.control, now),
                  weekdays=WEEKDAYS, timezone=console.timezone.key, status_labels=STATUS_LABELS, **context)


async def list_page(request: web.Request) -> web.StreamResponse:
    console, t = request.app[CONSOLE], request[T]
    notice = ""
    written, expired = request.query.get("written", ""), request.query.get("expired", "")
    if written:
        notice = t.gettext("%(id)s written to the control topic.", id=written)
        if written not in console.state.control:
            notice += " " + t.gettext("Not read back yet: reload in a moment.")
    elif expired:
        notice = t.gettext("%(id)s expired.", id=expired)
    return _page(request, "silences.html", notice=notice, forms=blank_forms(console.timezone, console.clock()),
                 error="", error_form="")


async def new_page(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    host, component = request.query.get("host", "").strip(), request.query.get("component", "").strip()
    return _page(request, "silences_new.html", host=host, component=component, error="", error_form="",
                 forms=blank_forms(console.timezone, console.clock(), host, component))


def _typed(form: Mapping[str, Any], kind: str, console: Console) -> dict[str, dict[str, Any]]:
    """The forms as the person filled them (the failing one) and blank (the other), to give them back."""
    forms = blank_forms(console.timezone, console.clock())
    for name in forms[kind]:
        if name == "days":
            forms[kind]["days"] = form.getall("days", [])  # type: ignore[attr-defined]
        elif name == "include_children":
            forms[kind][name] = bool(form.get(name))
        else:
            forms[kind][name] = str(form.get(name, ""))
    return forms


async def _create(request: web.Request, kind: str) -> web.StreamResponse:
    console, t = request.app[CONSOLE], request[T]
    form = await request.post()
    plain = {k: str(v) for k, v in form.items()}
    author, now = user_of(request), console.clock()
    message, status, value = "", 400, {}
    try:
        if kind == "silence":
            value = silence_command(plain, author, console.timezone, now)
        else:
            value = maintenance_command(plain, [str(d) for d in form.getall("days", [])], author, console.timezone, now)
    except FormError as exc:
        message = t.gettext(exc.message, **exc.values)
    if not message:
        try:
            await write_control(console, value["id"], value)
        except (TimeoutError, RuntimeError, BufferError, KafkaException) as exc:
            log.warning("console: %s %s not written: %s", kind, value["id"], exc)
            message, status = t.gettext("The broker did not take the command: %(error)s", error=str(exc)), 503
    if message:
        return _page(request, "silences_new.html", status=status, host="", component="", error=message,
                     error_form=kind, forms=_typed(form, kind, console))
    details = {"matchers": value["matchers"]} if kind == "silence" else {"hosts": value["hosts"]}
    await console.audit(request, kind, value["id"], "ok", reason=value["reason"], start=value["start"],
                        end=value["end"], **details)
    raise web.HTTPSeeOther(f"/silences?written={quote(value['id'])}")


async def create_silence(request: web.Request) -> web.StreamResponse:
    return await _create(request, "silence")


async def create_maintenance(request: web.Request) -> web.StreamResponse:
    return await _create(request, "maintenance")


async def expire(request: web.Request) -> web.StreamResponse:
    console, t = request.app[CONSOLE], request[T]
    form = await request.post()
    ident = str(form.get("id", ""))
    value = console.state.control.get(ident)
    if not isinstance(value, dict) or value.get("kind") not in (*KINDS_SHOWN, "downtime"):
        return error_page(request, 404, t.gettext("No such silence or maintenance window."))
    try:
        await write_control(console, ident, None)
    except (TimeoutError, RuntimeError, BufferError, KafkaException) as exc:
        log.warning("console: expiry of %s not written: %s", ident, exc)
        return error_page(request, 503, t.gettext("The broker did not take the command: %(error)s", error=str(exc)))
    await console.audit(request, "expire", ident, "ok", kind=value.get("kind"))
    raise web.HTTPSeeOther(f"/silences?expired={quote(ident)}")


ROUTES = [
    Route("GET", "/silences", list_page),
    Route("GET", "/silences/new", new_page, capability="act"),
    Route("POST", "/silences", create_silence, capability="act"),
    Route("POST", "/silences/maintenance", create_maintenance, capability="act"),
    Route("POST", "/silences/expire", expire, capability="act"),
]
NAV = [NavItem("/silences", "Silences")]
