"""A bounded, seeded fuzzer against the real HTTP check intake (aiohttp on 127.0.0.1).

Each round sends one submission mixing valid entries (each with a unique host) and malformed ones (deep
nesting, huge numbers, bad or out-of-range dates, control characters, wrong types), or a submission that
is broken as a whole (truncated, badly encoded, too deep, unsafe XML, wrong content type). The generator
knows which entries are valid, so every answer is checked against it: never a 5xx, every valid entry
written to raw.checks, every malformed entry refused with its index and reason, in the HTTP answer and
on the dead-letter topic.
"""

from __future__ import annotations

import asyncio
import random
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode
from xml.sax.saxutils import escape

import aiohttp
import orjson
from prometheus_client import CollectorRegistry

from vigie.producers.checks.http_intake import CheckIntake
from vigie.schemas.codec import dumps, loads
from vigie.sink import MemorySink
from vigie.topics import DEADLETTER, RAW_CHECKS

SEED = 20261207
ROUNDS = 600
TOKEN = "fuzz-token"
FORM = "application/x-www-form-urlencoded"
# The 50,000-level XML of the original report, urlencoded, is about 1 MB on its own.
MAX_BODY = 4 * 1024 * 1024


@dataclass
class Case:
    """One submission and what the intake must make of it."""

    name: str
    path: str
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)
    valid_hosts: list[str] = field(default_factory=list)
    bad_indices: list[int] = field(default_factory=list)
    whole: int | None = None  # the status when the submission is refused as a whole
    whole_dead_letters: int = 0  # 1 when that refusal is dead-lettered (it was authenticated)


class Gen:
    """Random pieces of submissions; `n` numbers the valid hosts so each delivery can be traced."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.n = 0

    def host(self) -> str:
        self.n += 1
        return f"ok{self.n}" + self.rng.choice(["", "-été", ".example.org", "-日本", "_x"])

    def text(self, newlines: bool = True) -> str:
        pieces = ["OK", " ", "|", ";", "=", "'", "é", "€", "日本", "😀", "&", "<", ">", "%", "\\n", "a=1;2;3"]
        if newlines:
            pieces.append("\n")
        return "".join(self.rng.choice(pieces) for _ in range(self.rng.randint(0, 30)))

    def deep_list(self, low: int, high: int) -> str:
        depth = self.rng.randint(low, high)
        return "[" * depth + "]" * depth

    def truncated(self, body: bytes, valid: Callable[[bytes], bool]) -> bytes:
        """A strict prefix of `body` that the format's own reader refuses."""
        while True:
            cut = body[: self.rng.randrange(1, len(body))]  # an empty field would be "NO DATA", not parsed
            if not valid(cut):
                return cut


def _json_ok(data: bytes) -> bool:
    try:
        orjson.loads(data)
        return True
    except orjson.JSONDecodeError:
        return False


def _xml_ok(data: bytes) -> bool:
    try:
        ET.fromstring(data)
        return True
    except ET.ParseError:
        return False


# -- Vigie's JSON API --------------------------------------------------------------------------------


def api_valid(g: Gen) -> tuple[str, str]:
    host = g.host()
    entry: dict[str, Any] = {"host": host, "status": g.rng.choice([0, 1, 2, 3, "2"]), "output": g.text()}
    if g.rng.random() < 0.5:
        entry["service"] = g.rng.choice(["disk", "HTTP & TLS", "été"])
    time = g.rng.choice([None, "2024-05-01T10:00:00+14:00", "2024-05-01T10:00:00.123456Z", 1700000000, 1.7e9])
    if time is not None:
        entry["check_time"] = time
    if g.rng.random() < 0.3:
        entry["duration"] = g.rng.choice([0, 0.5, 1e300])
    text = dumps(entry).decode()
    if g.rng.random() < 0.2:  # unknown keys are ignored, however deep (orjson reads 1024 levels)
        text = text[:-1] + ',"extra":' + g.deep_list(1, 1000) + "}"
    return host, text


API_BAD = [
    '"check_time": "9999-12-31T23:59:59-14:00"',
    '"check_time": "0001-01-01T00:00:00+14:00"',
    '"check_time": "2024-13-45T00:00:00Z"',
    '"check_time": "2024-02-30T10:00:00Z"',
    '"check_time": "2024-05-01T10:00:00"',
    '"check_time": "yesterday"',
    '"check_time": 1e308',
    '"check_time": -1',
    '"check_time": "99999999999999999999999"',
    '"status": 4',
    '"status": 1e308',
    '"status": 123456789012345678901234567890',
    '"status": "two"',
    '"status": true',
    '"status": 2.5',
    '"status": {"a": 1}',
    '"duration": -1',
    '"duration": "fast"',
    '"output": ["x"]',
    '"output": DEEP',
    '"host": ""',
    '"host": null',
    '"host": "a\\u0000b"',
    '"host": "' + "x" * 300 + '"',
    '"host": DEEP',
]


def api_bad(g: Gen) -> str:
    if g.rng.random() < 0.15:
        return g.rng.choice(['"text"', "5", "null", "[]", g.deep_list(300, 1000)])
    field_text = g.rng.choice(API_BAD).replace("DEEP", g.deep_list(255, 1000))
    base = {"host": "refused", "status": 0}
    key = field_text.split('"')[1]
    base.pop(key, None)
    rest = dumps(base).decode()[1:-1]
    return "{" + (rest + "," if rest else "") + field_text + "}"


def api_case(g: Gen) -> Case:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    content_type = g.rng.choice(["application/json", "text/xml", "text/plain; charset=bogus", ""])
    entries, valid, bad = [], [], []
    for i in range(g.rng.randint(1, 8)):
        if g.rng.random() < 0.5:
            host, text = api_valid(g)
            valid.append(host)
        else:
            text = api_bad(g)
            bad.append(i)
        entries.append(text)
    body = ("[" + ",".join(entries) + "]").encode()
    if len(entries) == 1 and entries[0].startswith("{") and g.rng.random() < 0.5:
        body = entries[0].encode()  # a single object, not a list
    if g.rng.random() < 0.25:
        broken = g.rng.choice(
            [
                g.truncated(body, _json_ok),
                body.replace(b'"host":"ok', b'"host":"\xff\xfeok', 1) if valid else b'"\xc3',
                b"[" * 5000 + b"]" * 5000,
                b'{"host": "h", "status": 1e400}',
                b"",
                b'{"host": "h", "status": NaN}',
                b"\xef\xbb\xbf<checkresults/>",
            ]
        )
        if not _json_ok(broken):
            return Case(
                "api-whole", "/api/v1/checks", broken, content_type, headers, whole=400, whole_dead_letters=1
            )
    return Case("api", "/api/v1/checks", body, content_type, headers, valid, bad)


# -- Nagios external commands --------------------------------------------------------------------------


def command_valid(g: Gen) -> tuple[str, str]:
    host = g.host()
    stamp = g.rng.choice(["", "[1700000000] ", " [0] ", "[99999999999] "])
    if g.rng.random() < 0.5:
        line = f"PROCESS_SERVICE_CHECK_RESULT;{host};svc;{g.rng.randint(0, 3)};{g.text(newlines=False)}"
    else:
        line = f"PROCESS_HOST_CHECK_RESULT;{host};{g.rng.randint(0, 2)};{g.text(newlines=False)}"
    return host, stamp + line


COMMAND_BAD = [
    "SCHEDULE_FORCED_SVC_CHECK;h;s;1700000000",
    "[99999999999999] PROCESS_HOST_CHECK_RESULT;h;0;UP",
    "[-1] PROCESS_HOST_CHECK_RESULT;h;0;UP",
    "[yesterday] PROCESS_HOST_CHECK_RESULT;h;0;UP",
    "PROCESS_SERVICE_CHECK_RESULT;h;s;5;out of range",
    "PROCESS_SERVICE_CHECK_RESULT;h;s;99999999999999999999;huge",
    "PROCESS_SERVICE_CHECK_RESULT;h;s",
    "PROCESS_HOST_CHECK_RESULT;h;3;not a host state",
    "PROCESS_HOST_CHECK_RESULT;a\x01b;0;control character",
    "PROCESS_SERVICE_CHECK_RESULT;;s;0;no host",
    "PROCESS_HOST_CHECK_RESULT;" + "x" * 300 + ";0;long host",
    "hello world",
    "[1700000000]",
]


def command_case(g: Gen) -> Case:
    lines, valid, bad = [], [], []
    for _ in range(g.rng.randint(1, 8)):
        if g.rng.random() < 0.2:
            lines.append(g.rng.choice(["", "# a comment", "   "]))
        if g.rng.random() < 0.5:
            host, line = command_valid(g)
            valid.append(host)
        else:
            line = g.rng.choice(COMMAND_BAD)
            bad.append(len(lines) + 1)
        lines.append(line)
    text = "\n".join(lines) + g.rng.choice(["", "\n", "\r\n"])
    if g.rng.random() < 0.5:  # the same lines through NRDP's submitcmd
        body = urlencode({"cmd": "submitcmd", "token": TOKEN, "command": text}).encode()
        return Case("nrdp-cmd", "/nrdp/", body, FORM, {}, valid, bad)
    headers = {"X-Vigie-Token": TOKEN}
    body = text.encode()
    if g.rng.random() < 0.25:
        broken = g.rng.choice([body + b"\xc3", b"\xff" + body, body[:1] + b"\xed\xa0\x80" + body[1:]])
        return Case(
            "commands-whole",
            "/api/v1/commands",
            broken,
            "text/plain",
            headers,
            whole=400,
            whole_dead_letters=1,
        )
    return Case(
        "commands",
        "/api/v1/commands",
        body,
        g.rng.choice(["text/plain", "application/json"]),
        headers,
        valid,
        bad,
    )


# -- NRDP XML and JSON ----------------------------------------------------------------------------------


def xml_valid(g: Gen) -> tuple[str, str]:
    host = g.host()
    kind = g.rng.choice(["host", "service"])
    state = g.rng.randint(0, 2 if kind == "host" else 3)
    parts = [f"<checkresult type='{kind}' checktype='1'><hostname>{escape(host)}</hostname>"]
    if kind == "service":
        parts.append("<servicename>svc</servicename>")
    parts.append(f"<state>{state}</state><output>{escape(g.text())}</output>")
    parts.append(g.rng.choice(["", "<time>1700000000</time>", "<time>0</time>", "<time></time>"]))
    if g.rng.random() < 0.2:  # unknown children are ignored while under the depth limit (8 levels)
        depth = g.rng.randint(1, 6)
        parts.append("<x>" * depth + "junk" + "</x>" * depth)
    parts.append("</checkresult>")
    return host, "".join(parts)


def xml_bad(g: Gen) -> str:
    ok = "<hostname>refused</hostname><state>0</state>"
    depth = g.rng.choice([7, 20, 1000, 50_000]) if g.rng.random() < 0.3 else 7
    return g.rng.choice(
        [
            f"<checkresult>{ok}" + "<a>" * depth + "x" + "</a>" * depth + "</checkresult>",
            "<a>" * (depth + 2) + "</a>" * (depth + 2),
            "<checkresult type='service'><hostname>h</hostname><state>0</state></checkresult>",
            "<checkresult><state>0</state></checkresult>",
            "<checkresult><hostname>h</hostname><state>9</state></checkresult>",
            "<checkresult type='host'><hostname>h</hostname><state>3</state></checkresult>",
            "<checkresult type='printer'>" + ok + "</checkresult>",
            "<checkresult checktype='7'>" + ok + "</checkresult>",
            f"<checkresult>{ok}<time>99999999999999</time></checkresult>",
            f"<checkresult>{ok}<time>1e400</time></checkresult>",
            f"<checkresult>{ok}<time>yesterday</time></checkresult>",
            "<checkresult><hostname>a&#9;b</hostname><state>0</state></checkresult>",
            "<checkresult><hostname>h</hostname><state>123456789012345678901234567890</state></checkresult>",
            "<bogus/>",
        ]
    )


def nrdp_json_valid(g: Gen) -> tuple[str, str]:
    host = g.host()
    kind = g.rng.choice(["host", "service"])
    entry: dict[str, Any] = {
        "checkresult": {"type": kind, "checktype": "1"},
        "hostname": host,
        "state": str(g.rng.randint(0, 2)),
        "output": g.text(),
    }
    if kind == "service":
        entry["servicename"] = "svc"
    if g.rng.random() < 0.5:
        entry["time"] = g.rng.choice([1700000000, "1700000000", 0, ""])
    return host, dumps(entry).decode()


NRDP_JSON_BAD = [
    '{"checkresult": {"type": "printer"}, "hostname": "h", "state": 0}',
    '{"checkresult": {"type": "host", "checktype": "7"}, "hostname": "h", "state": 0}',
    '{"checkresult": {"type": "host"}, "hostname": "h", "state": 9}',
    '{"checkresult": {"type": "host"}, "hostname": "h", "state": 1e308}',
    '{"checkresult": {"type": "host"}, "hostname": "h", "state": 0, "time": 1e300}',
    '{"checkresult": {"type": "host"}, "hostname": "h", "state": 0, "time": "9999-12-31T23:59:59-14:00"}',
    '{"checkresult": {"type": "host"}, "hostname": DEEP, "state": 0}',
    '{"checkresult": {"type": DEEP}, "hostname": "h", "state": 0}',
    '{"checkresult": "host", "hostname": "h", "state": 0}',
    '{"checkresult": {"type": "service"}, "hostname": "h", "state": 0}',
    '"not an object"',
]


def nrdp_case(g: Gen) -> Case:
    as_xml = g.rng.random() < 0.5
    entries, valid, bad = [], [], []
    for i in range(g.rng.randint(1, 6)):
        if g.rng.random() < 0.5:
            host, text = xml_valid(g) if as_xml else nrdp_json_valid(g)
            valid.append(host)
        else:
            text = (
                xml_bad(g) if as_xml else g.rng.choice(NRDP_JSON_BAD).replace("DEEP", g.deep_list(255, 1000))
            )
            bad.append(i)
        entries.append(text)
    if as_xml:
        data = "<?xml version='1.0'?>\n<checkresults>" + "".join(entries) + "</checkresults>"
        field_name, stage_ok = g.rng.choice(["XMLDATA", "xml", "xmldata"]), _xml_ok
        broken_choices = [
            "<checkresults>" + "<a>" * 100_000,
            "<!DOCTYPE x [<!ENTITY a 'b'>]><checkresults/>",
            "<checkresults><checkresult><hostname>&#1;</hostname></checkresult></checkresults>",
            "<checkresults><checkresult><hostname>&undefined;</hostname></checkresult></checkresults>",
            "<results/>",
            "not xml",
        ]
    else:
        data = '{"checkresults": [' + ",".join(entries) + "]}"
        field_name, stage_ok = g.rng.choice(["JSONDATA", "json"]), _json_ok
        broken_choices = ['{"checkresults": 5}', "[" * 5000, '{"checkresults": [1e400]}', '"text"']
    form: dict[str, str] = {"cmd": "submitcheck", "token": TOKEN, field_name: data}
    if g.rng.random() < 0.3:
        form["output_type"] = g.rng.choice(["json", "xml", "TYPE_JSON"])
    roll = g.rng.random()
    if roll < 0.15:
        truncated = g.truncated(data.encode(), stage_ok).decode("utf-8", errors="ignore")
        form[field_name] = truncated if not stage_ok(truncated.encode()) else g.rng.choice(broken_choices)
        return Case("nrdp-whole", "/nrdp/", urlencode(form).encode(), FORM, whole=400, whole_dead_letters=1)
    if roll < 0.25:
        form[field_name] = g.rng.choice(broken_choices)
        return Case("nrdp-whole", "/nrdp/", urlencode(form).encode(), FORM, whole=400, whole_dead_letters=1)
    body = urlencode(form).encode()
    if roll < 0.3:  # raw bytes that are not UTF-8: the form cannot be read, so there is no token either
        return Case("nrdp-form", "/nrdp/", body + b"&x=\xff\xfe", FORM, whole=400)
    if roll < 0.35:
        wrong = g.rng.choice(["multipart/form-data", FORM + "; charset=bogus"])
        return Case("nrdp-form", "/nrdp/", body, wrong, whole=400)
    if roll < 0.4:  # not a form at all: nothing is read, so the token is missing
        return Case("nrdp-form", "/nrdp/", body, g.rng.choice(["application/json", "text/xml"]), whole=401)
    return Case("nrdp-" + ("xml" if as_xml else "json"), "/nrdp/", body, FORM, {}, valid, bad)


# -- the run ---------------------------------------------------------------------------------------------


def _nrdp_reply(body: bytes, content_type: str) -> dict[str, Any]:
    """The NRDP answer as a dict, whichever of XML or JSON it came in (the XML must be well-formed)."""
    if content_type.startswith("application/json"):
        return loads(body)["result"]
    root = ET.fromstring(body)
    info = [e.text for e in root.findall("information")]
    return {
        "status": int(root.findtext("status")),
        "message": root.findtext("message"),
        "meta": {"output": root.findtext("meta/output")},
        "information": info,
    }


def check_case(case: Case, status: int, content_type: str, body: bytes, delivered: list, dead: list) -> None:
    where = f"{case.name}: {case.body[:300]!r}"
    assert status < 500, where
    if case.path == "/nrdp/":
        reply = _nrdp_reply(body, content_type)  # every NRDP answer parses, XML included
    hosts = [loads(r.value)["host"] for r in delivered]
    if case.whole is not None:
        assert status == case.whole, where
        assert hosts == [] and len(dead) == case.whole_dead_letters, where
        return
    assert hosts == case.valid_hosts, where
    reasons = [loads(r.value)["error"] for r in dead]
    # "unusable (...)" is the safety net's wording: each malformed entry here must be refused by a real check.
    assert not any("unusable (" in reason for reason in reasons), (where, reasons)
    label = (
        "line {}: "
        if "cmd" in case.name or case.name == "commands"
        else ("result #{}: " if case.name == "api" else "checkresult #{}: ")
    )
    assert len(reasons) == len(case.bad_indices), where
    for index, reason in zip(case.bad_indices, reasons, strict=True):
        assert reason.startswith(label.format(index)) and len(reason) > len(label.format(index)), (
            where,
            reason,
        )
    if case.path.startswith("/api/"):
        reply = loads(body)
        assert status == (202 if case.valid_hosts else 400), where
        assert (reply["accepted"], reply["rejected"]) == (len(case.valid_hosts), len(case.bad_indices)), where
        assert [e["index"] for e in reply["errors"]] == case.bad_indices, where
        return
    if case.valid_hosts:
        output = reply["meta"]["output"]
        assert status == 200 and output.startswith(f"{len(case.valid_hosts)} checks processed"), where
        if case.bad_indices:
            assert f", {len(case.bad_indices)} rejected: " in output, where
    else:
        assert status == 400 and reply["message"] == "BAD DATA", where
        assert len(reply["information"]) == len(case.bad_indices), where


def test_fuzzed_submissions_never_500_and_every_entry_is_delivered_or_refused_with_its_reason():
    g = Gen(SEED)
    makers = [api_case, command_case, nrdp_case]
    cases = [g.rng.choice(makers)(g) for _ in range(ROUNDS)]
    sink = MemorySink()
    registry = CollectorRegistry()
    clock_now = [0.0]

    def clock() -> float:
        return clock_now[0]

    async def main() -> None:
        intake = CheckIntake(sink, TOKEN, "127.0.0.1", 0, registry, max_body=MAX_BODY, clock=clock)
        await intake.start()
        try:
            async with aiohttp.ClientSession() as session:
                for case in cases:
                    clock_now[0] += 61  # wrong-content-type cases lose their token: keep them under the limit
                    before_checks, before_dead = len(sink.on(RAW_CHECKS)), len(sink.on(DEADLETTER))
                    headers = dict(case.headers)
                    if case.content_type:
                        headers["Content-Type"] = case.content_type
                    async with session.post(intake.url + case.path, data=case.body, headers=headers) as resp:
                        body = await resp.read()
                        check_case(
                            case,
                            resp.status,
                            resp.headers.get("Content-Type", ""),
                            body,
                            sink.on(RAW_CHECKS)[before_checks:],
                            sink.on(DEADLETTER)[before_dead:],
                        )
        finally:
            await intake.stop()

    asyncio.run(main())
    kinds = {c.name for c in cases}
    assert kinds >= {
        "api",
        "api-whole",
        "commands",
        "commands-whole",
        "nrdp-cmd",
        "nrdp-xml",
        "nrdp-json",
        "nrdp-whole",
        "nrdp-form",
    }
    valid = sum(len(c.valid_hosts) for c in cases if c.whole is None)
    refused = sum(len(c.bad_indices) for c in cases if c.whole is None)
    assert valid > 300 and refused > 300  # the run is not vacuous
    sample = registry.get_sample_value
    assert (
        sample("vigie_checks_produced_total", {"listener": "checks-http"})
        == valid
        == len(sink.on(RAW_CHECKS))
    )
    assert sample("vigie_checks_deadlettered_total", {"listener": "checks-http"}) == len(sink.on(DEADLETTER))
    assert sample("vigie_checks_received_total", {"listener": "checks-http"}) == valid + refused
