"""Parse passive check submissions (NRDP JSON and XML, Nagios external commands, Vigie's JSON API) into raw.checks values."""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.parsers import expat

from orjson import JSONEncodeError

from vigie.producers.checks.plugin_output import check_result, unescape_newlines
from vigie.schemas.codec import dumps, loads, parse_rfc3339

# A passive host result carries a host state (0 UP, 1 DOWN, 2 UNREACHABLE); raw.checks carries plugin
# codes, so DOWN becomes CRITICAL and UNREACHABLE becomes UNKNOWN (the topology decides the root cause).
HOST_STATE_TO_STATUS = {0: 0, 1: 2, 2: 3}
HOST_STATE_NAMES = {0: "UP", 1: "DOWN", 2: "UNREACHABLE"}

log = logging.getLogger(__name__)

MAX_NAME = 255
MAX_EPOCH = 1e11  # check times are refused past this (year 5138), whether given as epoch or as RFC 3339
# NRDP needs three levels (checkresults/checkresult/field); deeper elements are dropped while parsing
# and their entry refused, so no later walk of the tree (ElementTree's serializer recurses) meets 50,000.
MAX_XML_DEPTH = 8
# An entry that cannot be written back is dead-lettered as this much of its submission.
MAX_DEAD_RAW = 64 * 1024
_SHOWN = 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_EXT_LINE = re.compile(r"^\s*(?:\[(?P<ts>[^\]]*)\]\s*)?(?P<cmd>[A-Z_]+)(?:;(?P<args>.*))?$", re.S)


class PayloadError(ValueError):
    """The whole submission is undecodable (bad JSON, bad or unsafe XML): it goes to the dead-letter topic."""


@dataclass
class EntryError:
    """One rejected entry: where it was in the batch, why, and its raw text for the dead-letter topic."""

    index: int
    error: str
    raw: bytes

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "error": self.error}


@dataclass
class Batch:
    """What one submission yielded: the accepted raw.checks values and the per-entry errors."""

    results: list[dict[str, Any]] = field(default_factory=list)
    errors: list[EntryError] = field(default_factory=list)


class _EntryInvalid(ValueError):
    """Internal: one entry is unusable; the message is the per-entry error."""


def _show(value: Any) -> str:
    """A submitted value for an error message: short, and never the repr of a deep container (it recurses)."""
    if value is None or isinstance(value, bool | int | float | str):
        shown = repr(value)
        return shown if len(shown) <= _SHOWN else shown[: _SHOWN - 4] + "...'"
    return f"<{type(value).__name__}>"


def _utf8(data: str, what: str) -> bytes:
    """A decoded text as UTF-8; a lone surrogate would only fail later, when the result is written."""
    try:
        return data.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PayloadError(f"{what} is not valid Unicode: {exc}") from None


def _text(data: str | bytes, what: str) -> str:
    if isinstance(data, str):
        _utf8(data, what)
        return data
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"{what} is not valid UTF-8: {exc}") from None


def _name(value: Any, what: str, required: bool = True) -> str | None:
    """A host or service name: a non-empty string without control characters."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise _EntryInvalid(f"{what} is missing")
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise _EntryInvalid(f"{what} must be a string, not {type(value).__name__}")
    value = value.strip()
    if _CONTROL.search(value):
        raise _EntryInvalid(f"{what} {_show(value)} contains control characters")
    if len(value) > MAX_NAME:
        raise _EntryInvalid(f"{what} is longer than {MAX_NAME} characters")
    return value


def _code(value: Any, what: str = "state") -> int:
    """An integer return code given as a number or a numeric string."""
    if isinstance(value, bool):
        raise _EntryInvalid(f"{what} must be an integer, not {_show(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d{1,6}\s*", value):
        return int(value)
    raise _EntryInvalid(f"{what} {_show(value)} is not an integer")


def _status(code: int, is_host: bool, host_states: bool) -> int:
    """Map a submitted code to the raw.checks status; host states when the sender speaks UP/DOWN/UNREACHABLE."""
    if is_host and host_states:
        if code not in HOST_STATE_TO_STATUS:
            raise _EntryInvalid(f"host state {code} is not 0 (UP), 1 (DOWN) or 2 (UNREACHABLE)")
        return HOST_STATE_TO_STATUS[code]
    if code not in (0, 1, 2, 3):
        raise _EntryInvalid(f"state {code} is not 0 (OK), 1 (WARNING), 2 (CRITICAL) or 3 (UNKNOWN)")
    return code


def _epoch(value: Any) -> float | None:
    """A submitted check time in epoch seconds; None (meaning now) when absent or zero, as NRDP does."""
    if value is None or value == "":
        return None
    try:
        ts = float(value)
    except (TypeError, ValueError):
        raise _EntryInvalid(f"time {_show(value)} is not an epoch timestamp") from None
    if ts == 0:
        return None
    if not 0 < ts < MAX_EPOCH:
        raise _EntryInvalid(f"time {_show(value)} is out of range")
    return ts


def _output(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise _EntryInvalid(f"output must be a string, not {type(value).__name__}")
    return value


def _nrdp_entry(
    type_: Any, checktype: Any, hostname: Any, servicename: Any, state: Any, output: Any, time: Any
) -> dict[str, Any]:
    """One NRDP checkresult as NRDP would hand it to Nagios: type defaults to host, checktype to passive."""
    for what, value in (("type", type_), ("checktype", checktype)):
        if not (value is None or isinstance(value, str | int)):
            raise _EntryInvalid(f"{what} must be a string, not {type(value).__name__}")
    kind = str(type_ or "host").strip().lower()
    if kind not in ("host", "service"):
        raise _EntryInvalid(f"type {_show(type_)} is not 'host' or 'service'")
    ctype = str(checktype).strip() if checktype not in (None, "") else "1"
    if ctype not in ("0", "1"):
        raise _EntryInvalid(f"checktype {_show(checktype)} is not 0 (active) or 1 (passive)")
    host = _name(hostname, "hostname")
    service = _name(servicename, "servicename") if kind == "service" else None
    status = _status(_code(state), kind == "host", host_states=ctype == "1")
    assert host is not None
    return check_result(host, service, status, unescape_newlines(_output(output)), "nrdp", _epoch(time))


def _collect(
    entries: Iterable[tuple[int, Any]],
    convert: Callable[[Any], dict[str, Any]],
    label: str,
    raw_of: Callable[[Any], bytes],
) -> Batch:
    """Convert each (index, entry); a refused entry is kept with its reason and raw form, the others go on."""
    batch = Batch()
    for index, entry in entries:
        try:
            batch.results.append(convert(entry))
            continue
        except ValueError as exc:  # _EntryInvalid and check_result's own refusals
            reason = str(exc)
        except Exception as exc:  # a case the checks above missed: it refuses this entry, not the batch
            reason = f"unusable ({type(exc).__name__}: {exc})"
            log.warning("passive check %s refused by an unexpected %s", label.format(index), reason)
        batch.errors.append(EntryError(index, f"{label.format(index)}: {reason}", raw_of(entry)))
    return batch


def _json_raw(entry: Any, document: str | bytes) -> bytes:
    """A JSON entry written back for the dead-letter topic; orjson writes 254 levels at most, so deeper
    entries are represented by their submission (at most MAX_DEAD_RAW bytes of it)."""
    try:
        return dumps(entry)
    except JSONEncodeError:
        whole = document.encode("utf-8") if isinstance(document, str) else bytes(document)
        return whole[:MAX_DEAD_RAW]


def parse_nrdp_json(data: str | bytes) -> Batch:
    """Parse NRDP's JSONDATA: {"checkresults": [{"checkresult": {"type": ...}, "hostname": ..., ...}]}."""
    try:
        doc = loads(data)
    except ValueError as exc:
        raise PayloadError(f"BAD JSON: {exc}") from None
    if isinstance(doc, dict) and "checkresults" in doc:
        entries = doc["checkresults"]
    elif isinstance(doc, list):
        entries = doc
    else:
        raise PayloadError("BAD JSON: expected an object with a 'checkresults' list")
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list):
        raise PayloadError("BAD JSON: 'checkresults' must be a list")

    def convert(entry: Any) -> dict[str, Any]:
        if not isinstance(entry, dict):
            raise _EntryInvalid(f"checkresult must be an object, not {type(entry).__name__}")
        attrs = entry.get("checkresult") or {}
        if not isinstance(attrs, dict):
            raise _EntryInvalid("'checkresult' must be an object holding type and checktype")
        return _nrdp_entry(
            attrs.get("type", entry.get("type")),
            attrs.get("checktype", entry.get("checktype")),
            entry.get("hostname"),
            entry.get("servicename"),
            entry.get("state"),
            entry.get("output"),
            entry.get("time"),
        )

    return _collect(enumerate(entries), convert, "checkresult #{}", lambda entry: _json_raw(entry, data))


class UnsafeXML(PayloadError):
    """The XML declares a DOCTYPE or entities; refused so entity expansion (billion laughs, XXE) can't happen."""


def _forbid(what: str):
    def handler(*_args: Any) -> None:
        raise UnsafeXML(f"BAD XML: {what} is not allowed")

    return handler


class _DepthGuard:
    """ElementTree's TreeBuilder that drops elements nested deeper than `max_depth`, noting which entry held them."""

    def __init__(self, max_depth: int) -> None:
        self.builder = ET.TreeBuilder()
        self.max_depth = max_depth
        self.depth = 0
        self.open: list[ET.Element] = []
        # ids of the root and of the root's child that held a dropped element (both: the root may be the entry)
        self.too_deep: set[int] = set()

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        self.depth += 1
        if self.depth > self.max_depth:
            self.too_deep.update(id(elem) for elem in self.open[:2])
            return
        self.open.append(self.builder.start(tag, attrs))

    def end(self, tag: str) -> None:
        self.depth -= 1
        if self.depth >= self.max_depth:
            return
        self.open.pop()
        self.builder.end(tag)

    def data(self, text: str) -> None:
        if self.depth <= self.max_depth:
            self.builder.data(text)


def _parse_xml(data: str | bytes) -> tuple[ET.Element, set[int]]:
    """The root, and the ids of the root or root children whose content was nested past MAX_XML_DEPTH."""
    raw = _utf8(data, "XML") if isinstance(data, str) else bytes(data)
    head = raw.lower()
    if b"<!doctype" in head or b"<!entity" in head:
        raise UnsafeXML("BAD XML: DOCTYPE and entity declarations are not allowed")
    # A text form field is already decoded: tell expat so, whatever the XML declaration says.
    parser = expat.ParserCreate("UTF-8" if isinstance(data, str) else None)
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    guard = _DepthGuard(MAX_XML_DEPTH)
    parser.buffer_text = True
    parser.StartElementHandler = guard.start
    parser.EndElementHandler = guard.end
    parser.CharacterDataHandler = guard.data
    parser.StartDoctypeDeclHandler = _forbid("DOCTYPE")
    parser.EntityDeclHandler = _forbid("an entity declaration")
    parser.UnparsedEntityDeclHandler = _forbid("an unparsed entity")
    parser.ExternalEntityRefHandler = _forbid("an external entity")
    parser.NotationDeclHandler = _forbid("a notation declaration")
    try:
        parser.Parse(raw, True)
        return guard.builder.close(), guard.too_deep
    except expat.ExpatError as exc:
        raise PayloadError(f"BAD XML: {exc}") from None
    except AssertionError:
        raise PayloadError("BAD XML: no root element") from None


def safe_xml_fromstring(data: str | bytes) -> ET.Element:
    """Parse XML with expat into an ElementTree, refusing DOCTYPE, entity declarations and external entities;
    elements nested deeper than MAX_XML_DEPTH are left out."""
    return _parse_xml(data)[0]


def parse_nrdp_xml(data: str | bytes) -> Batch:
    """Parse NRDP's XMLDATA: <checkresults><checkresult type=.. checktype=..><hostname/>...</checkresult>."""
    root, too_deep = _parse_xml(data)
    if root.tag == "checkresult":
        entries = [root]
    elif root.tag == "checkresults":
        entries = list(root)
    else:
        raise PayloadError(f"BAD XML: root element is <{root.tag}>, expected <checkresults>")

    def convert(elem: ET.Element) -> dict[str, Any]:
        if elem.tag != "checkresult":
            raise _EntryInvalid(f"unexpected element <{elem.tag}>, expected <checkresult>")
        if id(elem) in too_deep:
            raise _EntryInvalid(f"elements nested deeper than {MAX_XML_DEPTH} levels")

        def child(name: str) -> str | None:
            node = elem.find(name)
            return None if node is None else (node.text or "")

        return _nrdp_entry(
            elem.get("type"),
            elem.get("checktype"),
            child("hostname"),
            child("servicename"),
            child("state"),
            child("output"),
            child("time"),
        )

    return _collect(
        enumerate(entries), convert, "checkresult #{}", lambda elem: ET.tostring(elem, encoding="utf-8")
    )


def parse_external_commands(data: str | bytes, source: str = "passive") -> Batch:
    """Parse Nagios external command lines; PROCESS_SERVICE_CHECK_RESULT and PROCESS_HOST_CHECK_RESULT are accepted."""
    text = _text(data, "command text")
    lines = (
        (lineno, line)
        for lineno, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    )
    return _collect(
        lines, lambda line: _external_command(line, source), "line {}", lambda line: line.encode("utf-8")
    )


def _external_command(line: str, source: str) -> dict[str, Any]:
    m = _EXT_LINE.match(line)
    if not m:
        raise _EntryInvalid("not an external command ([timestamp] COMMAND;args)")
    ts_text, cmd, args = m.group("ts"), m.group("cmd"), m.group("args")
    check_time: float | None = None
    if ts_text is not None:
        if not re.fullmatch(r"\s*\d{1,11}\s*", ts_text):
            raise _EntryInvalid(f"timestamp [{ts_text}] is not epoch seconds")
        check_time = _epoch(ts_text)
    if cmd == "PROCESS_SERVICE_CHECK_RESULT":
        parts = (args or "").split(";", 3)
        if len(parts) < 4:
            raise _EntryInvalid(f"{cmd} needs host;service;return_code;output")
        host, service, code, output = parts
        status = _status(_code(code, "return code"), is_host=False, host_states=False)
        return check_result(
            _name(host, "host") or "",
            _name(service, "service"),
            status,
            unescape_newlines(output),
            source,
            check_time,
        )
    if cmd == "PROCESS_HOST_CHECK_RESULT":
        parts = (args or "").split(";", 2)
        if len(parts) < 3:
            raise _EntryInvalid(f"{cmd} needs host;status_code;output")
        host, code, output = parts
        status = _status(_code(code, "host status code"), is_host=True, host_states=True)
        return check_result(
            _name(host, "host") or "", None, status, unescape_newlines(output), source, check_time
        )
    raise _EntryInvalid(
        f"command {cmd} is not supported (only PROCESS_SERVICE_CHECK_RESULT and PROCESS_HOST_CHECK_RESULT)"
    )


def _api_time(value: Any) -> datetime | float | None:
    """check_time in Vigie's API: RFC 3339 text or epoch seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and not re.fullmatch(r"\s*\d+(\.\d+)?\s*", value):
        try:
            dt = parse_rfc3339(value.strip())
        except ValueError:
            raise _EntryInvalid(f"check_time {_show(value)} is neither RFC 3339 nor epoch seconds") from None
        if dt.tzinfo is None:
            raise _EntryInvalid(f"check_time {_show(value)} has no UTC offset")
        try:
            utc = dt.astimezone(UTC)  # 9999-12-31T23:59:59-14:00 is past datetime.max once in UTC
        except OverflowError:
            raise _EntryInvalid(f"check_time {_show(value)} is out of range") from None
        if not 0 < utc.timestamp() < MAX_EPOCH:
            raise _EntryInvalid(f"check_time {_show(value)} is out of range")
        return utc
    return _epoch(value)


def _api_entry(entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise _EntryInvalid(f"a check result must be an object, not {type(entry).__name__}")
    host = _name(entry.get("host", entry.get("hostname")), "host")
    service = _name(entry.get("service", entry.get("servicename")), "service", required=False)
    raw_status = entry.get("status", entry.get("state"))
    if raw_status is None:
        raise _EntryInvalid("status is missing")
    status = _status(_code(raw_status, "status"), is_host=False, host_states=False)
    duration = entry.get("duration")
    if duration is not None and (
        isinstance(duration, bool) or not isinstance(duration, int | float) or duration < 0
    ):
        raise _EntryInvalid(f"duration {_show(duration)} is not a non-negative number of seconds")
    assert host is not None
    return check_result(
        host,
        service,
        status,
        _output(entry.get("output")),
        "passive",
        _api_time(entry.get("check_time")),
        duration,
    )


def parse_api_checks(data: str | bytes) -> Batch:
    """Parse Vigie's JSON API body: one result or a list of {host, service, status, output, check_time, duration}."""
    try:
        doc = loads(data)
    except ValueError as exc:
        raise PayloadError(f"BAD JSON: {exc}") from None
    entries = doc if isinstance(doc, list) else [doc]
    return _collect(enumerate(entries), _api_entry, "result #{}", lambda entry: _json_raw(entry, data))
