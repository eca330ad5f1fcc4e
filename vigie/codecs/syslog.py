"""Syslog parser: turns the bytes of one syslog message (RFC 5424, RFC 3164/BSD, Cisco IOS/ASA) into a flat dict.

Output (always the same keys, see KEYS):

- pri, facility, severity: ints (null when the message has no valid PRI; for a Cisco message
  without PRI, severity falls back to the severity of the %FAC-SEV-MNEMONIC).
- version: the RFC 5424 version (1), null for other dialects.
- timestamp: RFC 3339 string normalised to UTC, always with microseconds and a Z suffix
  ("2024-01-15T09:01:02.123000Z", the same shape as vigie.schemas.codec.rfc3339), so strings
  sort in time order; null when absent or invalid. Timestamps that carry no zone (BSD, ISO
  without offset, Cisco without a zone name, FortiGate without tz=) are read in the zone the
  caller's resolver gives for the message's hostname and sender (`zones`), as UTC without one;
  vigie.codecs.timestamps states the rule at daylight-saving changes. BSD timestamps have no
  year: the year that puts the time closest to received_at is chosen.
- hostname, app_name, procid, msgid: str or null (RFC 5424 NILVALUE "-" gives null).
- structured_data: {sd-id: {param: value}} or null; a param repeated inside one element
  (allowed by RFC 5424, e.g. origin ip=) becomes a list of values.
- msg: str (UTF-8 decoded with replacement, leading BOM removed, trailing CR/LF/NUL removed);
  for "unknown" it is the whole text after the PRI.
- dialect: "rfc5424", "rfc3164", "cisco" or "unknown".
- errors: short strings saying what was malformed or recovered (empty list when clean).
- cisco: null, or for dialect "cisco" {seq, facility, severity, mnemonic, clock_mark, uptime}.
  For Cisco messages app_name is the facility ("LINK", "ASA") and msgid the mnemonic
  ("UPDOWN", "302013"), msg the text after "%FAC-SEV-MNEMONIC:".

The timestamp grammar is vigie.codecs.timestamps; the archive reads headers column-wise with the same one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from vigie.codecs.timestamps import (
    BSD,
    BSD_NC,
    CISCO_CLOCK_NC,
    ISO,
    ISO_NC,
    MONTHS,
    LocalZone,
    ZoneResolver,
    bsd_or_iso_stamp,
    bsd_stamp,
    cisco_stamp,
    closest_day,
    date_prefix,
    day_ordinal,
    iso_stamp,
    offset_seconds,
    rfc3339_stamp,
    utc_stamp,
)

KEYS: tuple[str, ...] = (
    "pri", "facility", "severity", "version", "timestamp", "hostname", "app_name", "procid",
    "msgid", "structured_data", "msg", "dialect", "errors", "cisco",
)

# RFC 5424 field length limits.
_MAX_HOSTNAME = 255
_MAX_APP_NAME = 48
_MAX_PROCID = 128
_MAX_MSGID = 32

_LEAD_WS = " \t\r\n\x00"
_TRAIL = "\r\n\x00"
_BOM = "\ufeff"
_DIGITS = frozenset("0123456789")

_PRI = re.compile(r"<(\d{1,3})>")
# RFC 5424: VERSION SP then a timestamp or NILVALUE.
_V5424 = re.compile(r"(\d{1,2}) (?=- |-$|\d{4}-)")
_CISCO = re.compile(
    # Relay/ASA header: "Jan 15 2024 10:01:02 fw01 : " or "Mar  1 18:46:11 router1 123: ".
    r"(?:(?P<hts>" + BSD_NC + "|" + ISO_NC + r")\s+(?P<hhost>[^\s:]+)(?:\s:\s+|\s+(?=\d{1,10}:\s|%)))?"
    r":?\s*"  # NX-OS and some ASA start with ": "
    r"(?:(?P<seq>\d{1,10})\s*:\s+)?"
    r"(?:(?P<dev>[A-Za-z][\w.\-]*):\s+)?"  # logging origin-id / device-id
    r"(?:(?P<node>[A-Za-z0-9]+(?:/[A-Za-z0-9]+)+):)?"  # IOS-XR node RP/0/RSP0/CPU0:
    r"(?:(?P<mark>[*.])?(?:(?P<cts>" + CISCO_CLOCK_NC + r")|(?P<up>\d{1,2}:\d{2}:\d{2}(?:\.\d{1,6})?|(?:\d{1,5}[ywdhm]){1,3}))\s*:\s*)?"
    r"(?:(?P<proc>[A-Za-z][\w.\-]*)\[(?P<pid>\d{1,10})\]:\s*)?"  # IOS-XR process
    r"%(?P<fac>[A-Z][A-Z0-9_]*(?:-[A-Z][A-Z0-9_]*)*)-(?P<sev>[0-7])-(?P<mn>[A-Za-z0-9_]+)\s?:\s?"
    r"(?P<msg>.*)",
    re.S,
)
# BSD TAG: "sshd[1234]: ", "su: ", HP ProCurve "00076 ports: "; without a colon only with a [pid].
_TAG = re.compile(
    r"(?:(?P<ev>\d{5}) (?=[^\s\[\]:]{1,128}: ))?(?P<tag>[^\s\[\]:]{1,128})(?:\[(?P<pid>[^\]\s]{0,128})\])?"
    r"(?:(?P<colon>:)(?:[ \t]|$)|(?<=\])(?:[ \t]|$))"
)
# Fast path for the most common shape, "<PRI>Mmm dd hh:mm:ss host tag[pid]: msg"; it only
# accepts what the general path would parse the same way (tests check this).
_FAST3164 = re.compile(
    r"<(\d{1,3})>([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d)(?: (\d{4}))? (?!\d{4}(?:\s|$))"
    r"([^\s\[\]:]+) ([^\s\[\]:]{1,128})(?:\[([^\]\s]{0,128})\])?:(?:[ \t]|$)"
)
_SD_ID = re.compile(r"\[([^\s=\]\"]+)")
_SD_PARAM = re.compile(r" +([^\s=\]\"]+)=\"([^\"\\]*(?:\\.[^\"\\]*)*)\"", re.S)
_SD_CLOSE = re.compile(r" *\]")
_SD_UNESCAPE = re.compile(r"\\([\"\\\]])")
_FGT = re.compile(r"date=(\d{4})-(\d{2})-(\d{2}) time=(\d{1,2}):(\d{2}):(\d{2})")
_FGT_DEV = re.compile(r"\bdevname=\"?([^\"\s]+)")
_FGT_TZ = re.compile(r"\btz=\"?([+-]\d{2}:?\d{2})")

# The zone in which a message's zone-less stamp is read, from the hostname its header names (None: UTC).
Where = Callable[[str | None], LocalZone | None]


def _utc(hostname: str | None) -> None:
    return None


def _unescape(value: str) -> str:
    return _SD_UNESCAPE.sub(r"\1", value) if "\\" in value else value


def _structured_data(text: str, errors: list[str]) -> tuple[dict[str, dict[str, Any]] | None, str]:
    """Parse SD-ELEMENTs at the start of text; returns (sd, rest). Malformed SD stays in rest."""
    sd: dict[str, dict[str, Any]] = {}
    pos = 0
    n = len(text)
    while pos < n and text[pos] == "[":
        m = _SD_ID.match(text, pos)
        if m is None:
            errors.append("malformed structured data")
            return sd or None, text[pos:]
        sd_id = m.group(1)
        params: dict[str, Any] = {}
        p = m.end()
        while True:
            pm = _SD_PARAM.match(text, p)
            if pm is None:
                break
            name, value = pm.group(1), _unescape(pm.group(2))
            old = params.get(name)
            if old is None:
                params[name] = value
            elif isinstance(old, list):
                old.append(value)
            else:
                params[name] = [old, value]
            p = pm.end()
        cm = _SD_CLOSE.match(text, p)
        if cm is None:
            errors.append("malformed structured data")
            return sd or None, text[pos:]
        if sd_id in sd:
            errors.append("duplicate sd-id")
            for k, v in params.items():
                sd[sd_id].setdefault(k, v)
        else:
            sd[sd_id] = params
        pos = cm.end()
    rest = text[pos:]
    if rest and rest[0] != " ":
        errors.append("no space after structured data")
        return sd, rest
    return sd, rest[1:]


def _nil(value: str | None, name: str, limit: int, errors: list[str]) -> str | None:
    """RFC 5424 header field: NILVALUE to None; over-long values kept but reported."""
    if value is None or value == "-":
        return None
    if value == "":
        errors.append(f"empty {name}")
        return None
    if len(value) > limit:
        errors.append(f"{name} too long")
    return value


def _result(
    pri: int | None, version: int | None, timestamp: str | None, hostname: str | None,
    app_name: str | None, procid: str | None, msgid: str | None, sd: dict | None, msg: str,
    dialect: str, errors: list[str], cisco: dict | None = None, severity: int | None = None,
) -> dict[str, Any]:
    if msg and msg[0] == _BOM:
        msg = msg[1:]
    return {
        "pri": pri,
        "facility": None if pri is None else pri >> 3,
        "severity": severity if pri is None else pri & 7,
        "version": version,
        "timestamp": timestamp,
        "hostname": hostname,
        "app_name": app_name,
        "procid": procid,
        "msgid": msgid,
        "structured_data": sd,
        "msg": msg,
        "dialect": dialect,
        "errors": errors,
        "cisco": cisco,
    }


def _rfc5424(
    pri: int | None, version: int, rest: str, received_at: datetime | None, errors: list[str], where: Where
) -> dict[str, Any]:
    if version != 1:
        errors.append("unsupported version")
    parts = rest.split(" ", 5)
    if len(parts) < 6:
        errors.append("truncated header")
        parts += [None] * (6 - len(parts))  # type: ignore[list-item]
    ts_s, host, app, procid, msgid, tail = parts
    timestamp = None
    if ts_s and ts_s != "-":
        local = None if where is _utc else where(_nil(host, "hostname", _MAX_HOSTNAME, []))
        timestamp = rfc3339_stamp(ts_s, received_at, errors, local)
    elif ts_s == "":
        errors.append("empty timestamp")
    sd: dict | None = None
    msg = ""
    if tail:
        if tail[0] == "-":
            msg = tail[2:] if tail[1:2] == " " else tail[1:]
            if len(tail) > 1 and tail[1] != " ":
                errors.append("no space after structured data")
        elif tail[0] == "[":
            sd, msg = _structured_data(tail, errors)
        else:
            errors.append("missing structured data")
            msg = tail
    return _result(
        pri, version, timestamp,
        _nil(host, "hostname", _MAX_HOSTNAME, errors),
        _nil(app, "app_name", _MAX_APP_NAME, errors),
        _nil(procid, "procid", _MAX_PROCID, errors),
        _nil(msgid, "msgid", _MAX_MSGID, errors),
        sd, msg, "rfc5424", errors,
    )


def _cisco(
    pri: int | None, m: re.Match[str], received_at: datetime | None, errors: list[str], where: Where
) -> dict[str, Any]:
    g = m.groupdict()
    timestamp = None
    hostname = g["dev"] or g["hhost"]
    if g["cts"]:
        timestamp = cisco_stamp(g["cts"], received_at, errors, where(hostname))
    elif g["hts"]:
        timestamp = bsd_or_iso_stamp(g["hts"], received_at, errors, where(hostname))
    seq = g["seq"]
    sev = int(g["sev"])
    info = {
        "seq": int(seq) if seq else None,
        "facility": g["fac"],
        "severity": sev,
        "mnemonic": g["mn"],
        "clock_mark": g["mark"],
        "uptime": g["up"],
    }
    return _result(
        pri, None, timestamp, hostname, g["fac"], g["pid"], g["mn"], None,
        g["msg"], "cisco", errors, info, sev,
    )


def _bsd_host(body: str) -> tuple[str | None, str, bool]:
    """After the timestamp: [HOSTNAME SP] then the rest; a first token that is a tag means no hostname.

    Returns (hostname, rest, whether a hostname is missing), so the stamp can be read in the host's zone.
    """
    body = body.lstrip(" ")
    first, _, after = body.partition(" ")
    if not first:
        return None, body, False
    if first[-1] == ":" or "[" in first:
        return None, body, True
    return first, after.lstrip(" "), False


def _bsd_body(
    pri: int | None, timestamp: str | None, split: tuple[str | None, str, bool], errors: list[str]
) -> dict[str, Any]:
    """[TAG[pid]: ] MSG after the hostname (_bsd_host's split)."""
    hostname, body, missing = split
    if hostname is None and not missing:
        return _result(pri, None, timestamp, None, None, None, None, None, body, "rfc3164", errors)
    if missing:
        errors.append("missing hostname")
    m = _TAG.match(body)
    if m:
        return _result(
            pri, None, timestamp, hostname, m.group("tag"), m.group("pid"), m.group("ev"), None,
            body[m.end():], "rfc3164", errors,
        )
    return _result(pri, None, timestamp, hostname, None, None, None, None, body, "rfc3164", errors)


def _fortigate(pri: int | None, m: re.Match[str], rest: str, received_at: datetime | None,
               errors: list[str], where: Where) -> dict[str, Any]:
    """FortiGate key=value logs have no syslog header; take host and time from devname=, date=, time=, tz=."""
    y, mo, d, h, mi, s = m.groups()
    tzm = _FGT_TZ.search(rest)
    off = offset_seconds(tzm.group(1)) if tzm else None
    if tzm and off is None:
        errors.append("invalid offset, assumed UTC")
        off = 0
    dev = _FGT_DEV.search(rest)
    host = dev.group(1) if dev else None
    timestamp = utc_stamp(int(y), int(mo), int(d), int(h), int(mi), int(s), 0, off, received_at, errors, where(host))
    return _result(pri, None, timestamp, host, None, None, None, None, rest, "unknown", errors)


def _fast3164(
    m: re.Match[str], text: str, received_at: datetime | None, errors: list[str], where: Where
) -> dict[str, Any] | None:
    """Result for a _FAST3164 match, or None to let the general path decide (and report)."""
    pri_s, mon, day, hh, mi, ss, year, host, tag, pid = m.groups()
    pri = int(pri_s)
    month = MONTHS.get(mon.lower())
    if pri > 191 or month is None or hh > "23" or mi > "59" or ss > "59":
        return None
    local = where(host)
    if local is None:
        o = day_ordinal(int(year), month, int(day)) if year else closest_day(month, int(day), received_at)
        if not o:
            return None
        stamp = date_prefix(o) + hh + ":" + mi + ":" + ss + ".000000Z"
    else:
        y = int(year) if year else None
        stamp = utc_stamp(y, month, int(day), int(hh), int(mi), int(ss), 0, None, received_at, [], local)
        if stamp is None:
            return None
    msg = text[m.end():]
    if msg and msg[0] == _BOM:
        msg = msg[1:]
    return {
        "pri": pri,
        "facility": pri >> 3,
        "severity": pri & 7,
        "version": None,
        "timestamp": stamp,
        "hostname": host,
        "app_name": tag,
        "procid": pid,
        "msgid": None,
        "structured_data": None,
        "msg": msg,
        "dialect": "rfc3164",
        "errors": errors,
        "cisco": None,
    }


def parse_unguarded(
    data: bytes | bytearray | memoryview | str, received_at: datetime | None, fast: bool = True,
    zones: ZoneResolver | None = None, sender: str | None = None, arrived: datetime | None = None,
) -> dict[str, Any]:
    """parse_syslog without its last-resort guard; fast=False skips the RFC 3164 fast path (tests compare both)."""
    errors: list[str] = []
    where: Where = _utc
    if zones is not None:
        near = arrived or received_at

        def where(hostname: str | None) -> LocalZone | None:
            tz = zones.zone(hostname, sender)
            return None if tz is None else LocalZone(tz, near)

    if isinstance(data, str):
        text = data
    else:
        if not isinstance(data, bytes):
            data = bytes(data)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("utf-8", "replace")
            errors.append("invalid utf-8 replaced")
    text = text.lstrip(_LEAD_WS).rstrip(_TRAIL)
    if fast and "%" not in text:
        m = _FAST3164.match(text)
        if m:
            res = _fast3164(m, text, received_at, errors, where)
            if res is not None:
                return res
    pri: int | None = None
    rest = text
    if text[:1] == "<":
        pm = _PRI.match(text)
        if pm is None:
            errors.append("malformed pri")
        else:
            value = int(pm.group(1))
            if value > 191:
                errors.append("pri out of range")
            else:
                pri = value
            rest = text[pm.end():]
    else:
        errors.append("no pri")

    c0 = rest[:1]
    if c0 in _DIGITS:
        vm = _V5424.match(rest)
        if vm:
            return _rfc5424(pri, int(vm.group(1)), rest[vm.end():], received_at, errors, where)
    if "%" in rest:
        cm = _CISCO.match(rest)
        if cm:
            return _cisco(pri, cm, received_at, errors, where)
    m = BSD.match(rest)
    if m:
        mon, day, y1, h, mi, s, frac, y2 = m.groups()
        split = _bsd_host(rest[m.end():])
        ts = bsd_stamp(mon, day, y1 or y2, h, mi, s, frac, None, received_at, errors, where(split[0]))
        return _bsd_body(pri, ts, split, errors)
    if c0 in _DIGITS:
        im = ISO.match(rest)
        if im and (im.end() == len(rest) or rest[im.end()] in " \t"):
            split = _bsd_host(rest[im.end():])
            return _bsd_body(pri, iso_stamp(im, received_at, errors, where(split[0])), split, errors)
    elif c0 == "d":
        fm = _FGT.match(rest)
        if fm:
            return _fortigate(pri, fm, rest, received_at, errors, where)
    tm = _TAG.match(rest)
    if tm and tm.group("colon") and pri is not None:
        errors.append("missing timestamp")
        return _result(
            pri, None, None, None, tm.group("tag"), tm.group("pid"), tm.group("ev"), None,
            rest[tm.end():], "rfc3164", errors,
        )
    errors.append("no syslog header")
    return _result(pri, None, None, None, None, None, None, None, rest, "unknown", errors)


def parse_syslog(
    data: bytes | bytearray | memoryview | str, received_at: datetime | None = None,
    zones: ZoneResolver | None = None, sender: str | None = None, arrived: datetime | None = None,
) -> dict[str, Any]:
    """Parse one syslog message; never raises, whatever the bytes (malformations go to "errors").

    received_at (aware, or naive meaning UTC; default now) chooses the year of timestamps that have
    none. zones gives the zone of the device (by the header's hostname, else the sender's address) in
    which a stamp without a zone is read; arrived (default received_at), the receive time that chooses
    between the two readings of a local time at a daylight-saving change.
    """
    try:
        return parse_unguarded(data, received_at, True, zones, sender, arrived)
    except Exception as exc:  # last-resort guard: the pipelines must never die on one message
        try:
            if isinstance(data, str):
                text = data
            else:
                text = bytes(data).decode("utf-8", "replace")
        except Exception:
            text = ""
        return _result(None, None, None, None, None, None, None, None, text, "unknown",
                       [f"parser error: {type(exc).__name__}"])
