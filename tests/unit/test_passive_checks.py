"""Unit tests of passive check parsing (NRDP JSON/XML, external commands, JSON API) and of the HTTP intake."""

from __future__ import annotations

import asyncio
import base64
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from vigie.producers.checks.http_intake import CheckIntake, intake_metrics
from vigie.producers.checks.passive import (
    MAX_XML_DEPTH,
    PayloadError,
    UnsafeXML,
    parse_api_checks,
    parse_external_commands,
    parse_nrdp_json,
    parse_nrdp_xml,
    safe_xml_fromstring,
)
from vigie.schemas.codec import dumps, loads
from vigie.sink import MemorySink
from vigie.topics import DEADLETTER, RAW_CHECKS

TOKEN = "s3cret-token"

# What send_nrdp.py builds for one host and one service result.
SEND_NRDP_XML = (
    "<?xml version='1.0'?>\n<checkresults>\n"
    "<checkresult type='host' checktype='1'><hostname>router1</hostname><state>1</state>"
    "<output>PING CRITICAL - Packet loss = 100%|rta=0ms;100;500;0</output></checkresult>"
    "<checkresult type='service' checktype='1'><hostname>web1</hostname><servicename>HTTP &amp; TLS</servicename>"
    "<state>2</state><output>HTTP CRITICAL - 503 &lt;Service Unavailable&gt;\\nretry later|time=0.5s;1;2</output>"
    "</checkresult></checkresults>"
)

# NRDP's own example JSON (its landing page), with a service entry.
NRDP_JSON = {
    "checkresults": [
        {
            "checkresult": {"type": "host", "checktype": "1"},
            "hostname": "somehost",
            "state": "0",
            "output": "Everything looks okay! | perfdata=1;",
        },
        {
            "checkresult": {"type": "service", "checktype": "1"},
            "hostname": "somehost",
            "servicename": "someservice",
            "state": "1",
            "output": "WARNING: Danger Will Robinson! | perfdata=1;",
        },
    ]
}


# -- NRDP JSON -----------------------------------------------------------------------------------------


def test_nrdp_json():
    batch = parse_nrdp_json(dumps(NRDP_JSON))
    assert batch.errors == []
    host, svc = batch.results
    assert (host["host"], host["service"], host["status"], host["source"]) == ("somehost", None, 0, "nrdp")
    assert host["output"] == "Everything looks okay!"
    assert host["perfdata"][0]["label"] == "perfdata"
    assert (svc["service"], svc["status"], svc["output"]) == (
        "someservice",
        1,
        "WARNING: Danger Will Robinson!",
    )
    assert svc["schema"] == "check_result/1"


def test_nrdp_json_host_states_map_to_status():
    entries = [
        {"checkresult": {"type": "host"}, "hostname": "h", "state": s, "output": "x"} for s in (0, 1, 2, "1")
    ]
    batch = parse_nrdp_json(dumps({"checkresults": entries}))
    assert [r["status"] for r in batch.results] == [0, 2, 3, 2]  # UP, DOWN, UNREACHABLE, DOWN


def test_nrdp_json_active_host_result_keeps_plugin_code_and_time():
    entry = {
        "checkresult": {"type": "host", "checktype": "0"},
        "hostname": "h",
        "state": 3,
        "output": "x",
        "time": "1700000000",
    }
    (r,) = parse_nrdp_json(dumps({"checkresults": [entry]})).results
    assert r["status"] == 3
    assert r["check_time"] == "2023-11-14T22:13:20.000000Z"


def test_nrdp_json_type_defaults_to_host_like_nrdp():
    (r,) = parse_nrdp_json('{"checkresults": [{"hostname": "h", "state": "0", "output": "OK"}]}').results
    assert r["service"] is None


def test_nrdp_json_bad_entries_do_not_spoil_good_ones():
    entries = [
        {
            "checkresult": {"type": "service"},
            "hostname": "h",
            "servicename": "ok",
            "state": 0,
            "output": "OK",
        },
        {"checkresult": {"type": "service"}, "hostname": "h", "state": 0, "output": "no service name"},
        {"checkresult": {"type": "service"}, "hostname": "", "servicename": "s", "state": 0},
        {"checkresult": {"type": "service"}, "hostname": "h", "servicename": "s", "state": 4},
        {"checkresult": {"type": "host"}, "hostname": "h", "state": 3},
        {"checkresult": {"type": "printer"}, "hostname": "h", "state": 0},
        {"checkresult": {"type": "service"}, "hostname": "h", "servicename": "s", "state": "two"},
        {
            "checkresult": {"type": "service", "checktype": "7"},
            "hostname": "h",
            "servicename": "s",
            "state": 0,
        },
        {"checkresult": {"type": "host"}, "hostname": "bad\nname", "state": 0},
        "not an object",
        {"checkresult": {"type": "host"}, "hostname": "h2", "state": 0, "output": "UP"},
    ]
    batch = parse_nrdp_json(dumps({"checkresults": entries}))
    assert [r["host"] for r in batch.results] == ["h", "h2"]
    errors = {e.index: e.error for e in batch.errors}
    assert errors == {
        1: "checkresult #1: servicename is missing",
        2: "checkresult #2: hostname is missing",
        3: "checkresult #3: state 4 is not 0 (OK), 1 (WARNING), 2 (CRITICAL) or 3 (UNKNOWN)",
        4: "checkresult #4: host state 3 is not 0 (UP), 1 (DOWN) or 2 (UNREACHABLE)",
        5: "checkresult #5: type 'printer' is not 'host' or 'service'",
        6: "checkresult #6: state 'two' is not an integer",
        7: "checkresult #7: checktype '7' is not 0 (active) or 1 (passive)",
        8: "checkresult #8: hostname 'bad\\nname' contains control characters",
        9: "checkresult #9: checkresult must be an object, not str",
    }
    assert (
        loads(batch.errors[0].raw)["output"] == "no service name"
    )  # the raw entry, for the dead-letter topic


@pytest.mark.parametrize("body", [b"{not json", b'{"results": []}', b'"text"', b'{"checkresults": 5}', b""])
def test_nrdp_json_undecodable(body):
    with pytest.raises(PayloadError, match="BAD JSON"):
        parse_nrdp_json(body)


# -- NRDP XML ------------------------------------------------------------------------------------------


def test_nrdp_xml_as_send_nrdp_sends_it():
    batch = parse_nrdp_xml(SEND_NRDP_XML)
    assert batch.errors == []
    host, svc = batch.results
    assert (host["host"], host["service"], host["status"]) == ("router1", None, 2)  # DOWN
    assert host["perfdata"][0]["crit"] == "500"
    assert svc["service"] == "HTTP & TLS"
    assert svc["output"] == "HTTP CRITICAL - 503 <Service Unavailable>"
    assert svc["long_output"] == "retry later"  # send_nrdp's escaped \n is a newline, as in Nagios
    assert svc["perfdata"][0]["value"] == 0.5


def test_nrdp_xml_real_newlines_bytes_and_declared_encoding():
    xml = (
        "<?xml version='1.0' encoding='ISO-8859-1'?><checkresults><checkresult type='service'>"
        "<hostname>h</hostname><servicename>s</servicename><state>0</state>"
        "<output>OK été\nsecond line|a=1</output></checkresult></checkresults>"
    )
    (r,) = parse_nrdp_xml(xml.encode("iso-8859-1")).results
    assert r["output"] == "OK été" and r["long_output"] == "second line"
    (r,) = parse_nrdp_xml(xml).results  # a decoded form field: the declaration is moot
    assert r["output"] == "OK été"


def test_nrdp_xml_bad_entries():
    xml = (
        "<checkresults>"
        "<checkresult type='service'><hostname>h</hostname><servicename>s</servicename><state>0</state>"
        "<output>OK</output></checkresult>"
        "<checkresult type='service'><hostname>h</hostname><state>0</state></checkresult>"
        "<bogus/>"
        "<checkresult type='host'><hostname>h</hostname><state>9</state></checkresult>"
        "</checkresults>"
    )
    batch = parse_nrdp_xml(xml)
    assert len(batch.results) == 1
    assert [e.index for e in batch.errors] == [1, 2, 3]
    assert "servicename is missing" in batch.errors[0].error
    assert "unexpected element <bogus>" in batch.errors[1].error
    assert ET.fromstring(batch.errors[2].raw).find("state").text == "9"


@pytest.mark.parametrize(
    "xml",
    ["<checkresults><checkresult>", "not xml", "<results/>", "", "<checkresults></wrong>"],
)
def test_nrdp_xml_undecodable(xml):
    with pytest.raises(PayloadError, match="BAD XML"):
        parse_nrdp_xml(xml)


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<checkresults><checkresult><hostname>&lol3;</hostname><state>0</state></checkresult></checkresults>"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<checkresults><checkresult><hostname>h</hostname><state>0</state><output>&xxe;</output></checkresult></checkresults>"""


@pytest.mark.parametrize("xml", [BILLION_LAUGHS, XXE], ids=["billion-laughs", "xxe"])
def test_xml_entities_and_doctype_refused(xml):
    with pytest.raises(UnsafeXML):
        parse_nrdp_xml(xml)
    with pytest.raises(UnsafeXML):
        parse_nrdp_xml(xml.encode())


def test_doctype_hidden_from_the_byte_scan_is_still_refused_by_the_parser():
    """UTF-16 hides '<!DOCTYPE' from a byte search; expat's own DOCTYPE handler must catch it."""
    with pytest.raises(UnsafeXML):
        safe_xml_fromstring(XXE.replace('<?xml version="1.0"?>', "").encode("utf-16"))


def test_undefined_entity_is_an_error_not_an_expansion():
    with pytest.raises(PayloadError):
        safe_xml_fromstring("<a>&undefined;</a>")


# -- external commands ---------------------------------------------------------------------------------


def test_external_commands():
    text = (
        "[1700000000] PROCESS_SERVICE_CHECK_RESULT;web1;HTTP;1;HTTP WARNING; slow; very|time=3s;2;5\n"
        "\n"
        "# a comment\n"
        "[1700000001] PROCESS_HOST_CHECK_RESULT;router1;1;PING CRITICAL\\nall packets lost\n"
        "PROCESS_HOST_CHECK_RESULT;router2;2;UNREACHABLE behind router1\n"
    )
    batch = parse_external_commands(text)
    assert batch.errors == []
    svc, down, unreach = batch.results
    assert (svc["host"], svc["service"], svc["status"], svc["source"]) == ("web1", "HTTP", 1, "passive")
    assert svc["output"] == "HTTP WARNING; slow; very"
    assert svc["perfdata"][0]["crit"] == "5"
    assert svc["check_time"] == "2023-11-14T22:13:20.000000Z"
    assert (down["service"], down["status"], down["long_output"]) == (None, 2, "all packets lost")
    assert unreach["status"] == 3


def test_external_commands_bad_lines_are_reported_by_line_number():
    text = (
        "PROCESS_SERVICE_CHECK_RESULT;h;s;0;OK\n"
        "SCHEDULE_FORCED_SVC_CHECK;h;s;1700000000\n"
        "PROCESS_SERVICE_CHECK_RESULT;h;s;5;out of range\n"
        "PROCESS_SERVICE_CHECK_RESULT;h;s\n"
        "PROCESS_HOST_CHECK_RESULT;h;3;not a host state\n"
        "[yesterday] PROCESS_HOST_CHECK_RESULT;h;0;UP\n"
        "hello world\n"
        "PROCESS_SERVICE_CHECK_RESULT;;s;0;no host\n"
    )
    batch = parse_external_commands(text.encode())
    assert len(batch.results) == 1
    errors = {e.index: e.error for e in batch.errors}
    assert set(errors) == {2, 3, 4, 5, 6, 7, 8}
    assert "SCHEDULE_FORCED_SVC_CHECK is not supported" in errors[2]
    assert "state 5 is not 0 (OK)" in errors[3]
    assert "needs host;service;return_code;output" in errors[4]
    assert "host state 3 is not 0 (UP)" in errors[5]
    assert "timestamp [yesterday]" in errors[6]
    assert "not an external command" in errors[7]
    assert errors[8] == "line 8: host is missing"
    assert batch.errors[0].raw == b"SCHEDULE_FORCED_SVC_CHECK;h;s;1700000000"


def test_external_commands_not_utf8():
    with pytest.raises(PayloadError, match="UTF-8"):
        parse_external_commands(b"PROCESS_HOST_CHECK_RESULT;h;0;\xff")


# -- Vigie's JSON API ----------------------------------------------------------------------------------


def test_api_checks_single_and_list():
    (one,) = parse_api_checks(b'{"host": "h", "service": "s", "status": 2, "output": "CRIT|a=1"}').results
    assert (one["host"], one["service"], one["status"], one["source"]) == ("h", "s", 2, "passive")
    batch = parse_api_checks(
        dumps(
            [
                {
                    "host": "h",
                    "status": 0,
                    "output": "UP",
                    "check_time": "2024-05-01T10:00:00Z",
                    "duration": 0.2,
                },
                {"host": "h", "service": "s", "status": "1", "check_time": 1700000000},
            ]
        )
    )
    assert batch.errors == []
    assert batch.results[0]["service"] is None
    assert batch.results[0]["check_time"] == "2024-05-01T10:00:00.000000Z"
    assert batch.results[0]["duration"] == 0.2
    assert batch.results[1]["status"] == 1 and batch.results[1]["output"] == ""


def test_api_checks_bad_entries():
    batch = parse_api_checks(
        dumps(
            [
                {"service": "s", "status": 0},
                {"host": "h", "output": "no status"},
                {"host": "h", "status": 0, "check_time": "2024-05-01T10:00:00"},
                {"host": "h", "status": 0, "check_time": "last tuesday"},
                {"host": "h", "status": 0, "duration": -1},
                {"host": "h", "status": 0, "output": ["not", "text"]},
                {"host": "h", "status": 0},
            ]
        )
    )
    assert len(batch.results) == 1
    messages = [e.error for e in batch.errors]
    assert messages == [
        "result #0: host is missing",
        "result #1: status is missing",
        "result #2: check_time '2024-05-01T10:00:00' has no UTC offset",
        "result #3: check_time 'last tuesday' is neither RFC 3339 nor epoch seconds",
        "result #4: duration -1 is not a non-negative number of seconds",
        "result #5: output must be a string, not list",
    ]


# -- HTTP intake ---------------------------------------------------------------------------------------


def serve(
    sink: MemorySink,
    scenario: Callable[[CheckIntake, aiohttp.ClientSession], Awaitable[Any]],
    **kwargs: Any,
) -> Any:
    """Run `scenario` against a real intake on 127.0.0.1, port chosen by the system."""

    async def main() -> Any:
        intake = CheckIntake(sink, TOKEN, "127.0.0.1", 0, **kwargs)
        await intake.start()
        try:
            async with aiohttp.ClientSession() as session:
                return await scenario(intake, session)
        finally:
            await intake.stop()

    return asyncio.run(main())


async def _post(session: aiohttp.ClientSession, url: str, **kwargs: Any) -> tuple[int, dict, bytes]:
    async with session.post(url, **kwargs) as resp:
        return resp.status, dict(resp.headers), await resp.read()


def test_intake_requires_a_token_and_binds_loopback_by_default():
    for token in ("", "   ", None):
        with pytest.raises(ValueError, match="token is required"):
            CheckIntake(MemorySink(), token)  # type: ignore[arg-type]
    assert CheckIntake(MemorySink(), TOKEN).host == "127.0.0.1"


def test_nrdp_xml_submission():
    sink = MemorySink()
    registry = CollectorRegistry()

    async def scenario(intake, session):
        return await _post(
            session,
            intake.url + "/nrdp/",
            data={"cmd": "submitcheck", "token": TOKEN, "XMLDATA": SEND_NRDP_XML},
        )

    status, headers, body = serve(sink, scenario, registry=registry, listener="nrdp-test")
    assert status == 200
    assert headers["Content-Type"].startswith("text/xml")
    root = ET.fromstring(body)
    assert root.tag == "result"
    assert root.findtext("status") == "0" and root.findtext("message") == "OK"
    assert root.findtext("meta/output") == "2 checks processed"
    records = sink.on(RAW_CHECKS)
    assert [r.key for r in records] == [b"router1", b"web1"]
    value = loads(records[1].value)
    assert (value["service"], value["status"], value["source"]) == ("HTTP & TLS", 2, "nrdp")
    assert records[0].header("listener") == b"nrdp-test"
    assert records[0].header("peer") == b"127.0.0.1"
    assert registry.get_sample_value("vigie_checks_received_total", {"listener": "nrdp-test"}) == 2
    assert registry.get_sample_value("vigie_checks_produced_total", {"listener": "nrdp-test"}) == 2


def test_nrdp_json_submission_answers_json():
    sink = MemorySink()

    async def scenario(intake, session):
        return await _post(
            session,
            intake.url + "/nrdp",
            data={"cmd": "submitcheck", "token": TOKEN, "JSONDATA": dumps(NRDP_JSON).decode()},
        )

    status, headers, body = serve(sink, scenario)
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert loads(body) == {"result": {"status": 0, "message": "OK", "meta": {"output": "2 checks processed"}}}
    assert len(sink.on(RAW_CHECKS)) == 2


def test_nrdp_hello_needs_no_token():
    async def scenario(intake, session):
        return await _post(session, intake.url + "/nrdp/", data={"cmd": "hello"})

    status, _, body = serve(MemorySink(), scenario)
    assert status == 200
    assert ET.fromstring(body).findtext("product") == "nrdp"


@pytest.mark.parametrize(
    ("token", "message"), [(None, "NO TOKEN"), ("wrong", "BAD TOKEN"), (TOKEN + "x", "BAD TOKEN")]
)
def test_nrdp_token_required(token, message):
    sink = MemorySink()
    registry = CollectorRegistry()
    form = {"cmd": "submitcheck", "XMLDATA": SEND_NRDP_XML}
    if token is not None:
        form["token"] = token

    async def scenario(intake, session):
        return await _post(session, intake.url + "/nrdp/", data=form)

    status, _, body = serve(sink, scenario, registry=registry)
    assert status == 401
    root = ET.fromstring(body)
    assert root.findtext("status") == "-1" and root.findtext("message") == message
    assert sink.records == []
    assert (
        registry.get_sample_value(
            "vigie_checks_rejected_total", {"listener": "checks-http", "reason": "auth"}
        )
        == 1
    )


def test_nrdp_bad_xml_is_dead_lettered_without_the_token():
    sink = MemorySink()
    bad = "<checkresults><checkresult><hostname>h</hostname>"

    async def scenario(intake, session):
        return await _post(
            session, intake.url + "/nrdp/", data={"cmd": "submitcheck", "token": TOKEN, "XMLDATA": bad}
        )

    status, _, body = serve(sink, scenario)
    assert status == 400
    assert ET.fromstring(body).findtext("message") == "BAD XML"
    (dl,) = sink.on(DEADLETTER)
    value = loads(dl.value)
    assert base64.b64decode(value["raw"]) == bad.encode()
    assert TOKEN.encode() not in dl.value
    assert value["stage"] == "checks.nrdp.xml" and dl.key == b"127.0.0.1"
    assert sink.on(RAW_CHECKS) == []


def test_nrdp_xxe_is_refused_and_dead_lettered():
    sink = MemorySink()

    async def scenario(intake, session):
        return await _post(
            session, intake.url + "/nrdp/", data={"cmd": "submitcheck", "token": TOKEN, "XMLDATA": XXE}
        )

    status, _, _ = serve(sink, scenario)
    assert status == 400
    assert sink.on(RAW_CHECKS) == [] and len(sink.on(DEADLETTER)) == 1


def test_nrdp_no_data_and_unknown_command():
    async def scenario(intake, session):
        a = await _post(session, intake.url + "/nrdp/", data={"cmd": "submitcheck", "token": TOKEN})
        b = await _post(session, intake.url + "/nrdp/", data={"cmd": "rm-rf", "token": TOKEN})
        return a, b

    (sa, _, ba), (sb, _, bb) = serve(MemorySink(), scenario)
    assert (sa, ET.fromstring(ba).findtext("message")) == (400, "NO DATA")
    assert (sb, ET.fromstring(bb).findtext("message")) == (400, "BAD COMMAND")


def test_nrdp_submitcmd_accepts_check_results():
    sink = MemorySink()
    command = "[1700000000] PROCESS_SERVICE_CHECK_RESULT;h;s;2;CRITICAL - down"

    async def scenario(intake, session):
        return await _post(
            session, intake.url + "/nrdp/", data={"cmd": "submitcmd", "token": TOKEN, "command": command}
        )

    status, _, _ = serve(sink, scenario)
    assert status == 200
    (record,) = sink.on(RAW_CHECKS)
    assert loads(record.value)["source"] == "nrdp"


def test_nrdp_partial_batch_reports_rejects_and_dead_letters_them():
    sink = MemorySink()
    xml = (
        "<checkresults><checkresult type='host'><hostname>h</hostname><state>0</state><output>UP</output>"
        "</checkresult><checkresult type='host'><hostname>h</hostname><state>7</state></checkresult></checkresults>"
    )

    async def scenario(intake, session):
        return await _post(
            session, intake.url + "/nrdp/", data={"cmd": "submitcheck", "token": TOKEN, "XMLDATA": xml}
        )

    status, _, body = serve(sink, scenario)
    assert status == 200
    assert (
        ET.fromstring(body)
        .findtext("meta/output")
        .startswith("1 checks processed, 1 rejected: checkresult #1")
    )
    assert len(sink.on(RAW_CHECKS)) == 1
    (dl,) = sink.on(DEADLETTER)
    assert b"<state>7</state>" in base64.b64decode(loads(dl.value)["raw"])


def test_api_checks_requires_bearer_token():
    sink = MemorySink()

    async def scenario(intake, session):
        body = {"host": "h", "status": 0}
        none = await _post(session, intake.url + "/api/v1/checks", json=body)
        wrong = await _post(
            session, intake.url + "/api/v1/checks", json=body, headers={"Authorization": "Bearer x"}
        )
        good = await _post(
            session, intake.url + "/api/v1/checks", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        alt = await _post(session, intake.url + "/api/v1/checks", json=body, headers={"X-Vigie-Token": TOKEN})
        return none, wrong, good, alt

    none, wrong, good, alt = serve(sink, scenario)
    assert none[0] == 401 and none[1]["WWW-Authenticate"].startswith("Bearer")
    assert wrong[0] == 401
    assert good[0] == 202 and loads(good[2]) == {"accepted": 1, "rejected": 0, "errors": []}
    assert alt[0] == 202
    assert len(sink.on(RAW_CHECKS)) == 2


def test_api_checks_partial_and_all_bad():
    sink = MemorySink()
    auth = {"Authorization": f"Bearer {TOKEN}"}

    async def scenario(intake, session):
        partial = await _post(
            session,
            intake.url + "/api/v1/checks",
            json=[{"host": "h", "status": 1}, {"host": "h"}],
            headers=auth,
        )
        all_bad = await _post(session, intake.url + "/api/v1/checks", json=[{"status": 9}], headers=auth)
        return partial, all_bad

    partial, all_bad = serve(sink, scenario)
    assert partial[0] == 202
    assert loads(partial[2]) == {
        "accepted": 1,
        "rejected": 1,
        "errors": [{"index": 1, "error": "result #1: status is missing"}],
    }
    assert all_bad[0] == 400 and loads(all_bad[2])["accepted"] == 0
    assert len(sink.on(RAW_CHECKS)) == 1
    assert len(sink.on(DEADLETTER)) == 2


def test_api_undecodable_body_goes_to_dead_letter_with_its_bytes():
    sink = MemorySink()
    registry = CollectorRegistry()
    raw = b'{"host": "h", "status": \xff'

    async def scenario(intake, session):
        return await _post(
            session, intake.url + "/api/v1/checks", data=raw, headers={"Authorization": f"Bearer {TOKEN}"}
        )

    status, _, body = serve(sink, scenario, registry=registry)
    assert status == 400 and "BAD JSON" in loads(body)["error"]
    (dl,) = sink.on(DEADLETTER)
    value = loads(dl.value)
    assert base64.b64decode(value["raw"]) == raw
    assert value["stage"] == "checks.api" and value["origin"]["path"] == "/api/v1/checks"
    assert registry.get_sample_value("vigie_checks_deadlettered_total", {"listener": "checks-http"}) == 1


def test_api_commands():
    sink = MemorySink()
    lines = "PROCESS_SERVICE_CHECK_RESULT;h;disk;1;DISK WARNING|/=90%;80;95\nPROCESS_HOST_CHECK_RESULT;h;0;UP\nNOPE\n"

    async def scenario(intake, session):
        return await _post(
            session,
            intake.url + "/api/v1/commands",
            data=lines.encode(),
            headers={"Authorization": f"Bearer {TOKEN}"},
        )

    status, _, body = serve(sink, scenario)
    assert status == 202
    reply = loads(body)
    assert reply["accepted"] == 2 and reply["errors"][0]["index"] == 3
    assert [loads(r.value)["service"] for r in sink.on(RAW_CHECKS)] == ["disk", None]


def test_backpressure_answers_503_with_retry_after_and_writes_nothing():
    sink = MemorySink(capacity=0)
    registry = CollectorRegistry()

    async def scenario(intake, session):
        nrdp = await _post(
            session,
            intake.url + "/nrdp/",
            data={"cmd": "submitcheck", "token": TOKEN, "XMLDATA": SEND_NRDP_XML},
        )
        api = await _post(
            session,
            intake.url + "/api/v1/checks",
            json={"host": "h", "status": 0},
            headers={"X-Vigie-Token": TOKEN},
        )
        return nrdp, api

    nrdp, api = serve(sink, scenario, registry=registry, retry_after=7)
    assert nrdp[0] == 503 and nrdp[1]["Retry-After"] == "7"
    assert ET.fromstring(nrdp[2]).findtext("message") == "BUSY"
    assert api[0] == 503 and api[1]["Retry-After"] == "7"
    assert sink.records == []
    assert (
        registry.get_sample_value(
            "vigie_checks_rejected_total", {"listener": "checks-http", "reason": "backpressure"}
        )
        == 2
    )


def test_backpressure_in_the_middle_of_a_batch_asks_for_a_resend():
    """Nothing is lost: the sender is told to resend the whole batch (check results are idempotent states)."""
    sink = MemorySink(capacity=1)

    async def scenario(intake, session):
        return await _post(
            session,
            intake.url + "/api/v1/checks",
            json=[{"host": "a", "status": 0}, {"host": "b", "status": 0}],
            headers={"X-Vigie-Token": TOKEN},
        )

    status, headers, body = serve(sink, scenario)
    assert status == 503 and "Retry-After" in headers
    assert loads(body)["written_before_full"] == 1


def test_body_size_limit():
    sink = MemorySink()
    registry = CollectorRegistry()
    big = [{"host": "h", "status": 0, "output": "x" * 500}] * 10

    async def scenario(intake, session):
        api = await _post(session, intake.url + "/api/v1/checks", json=big, headers={"X-Vigie-Token": TOKEN})
        nrdp = await _post(
            session,
            intake.url + "/nrdp/",
            data={"cmd": "submitcheck", "token": TOKEN, "XMLDATA": "<a/>" * 1000},
        )
        return api, nrdp

    api, nrdp = serve(sink, scenario, registry=registry, max_body=2000)
    assert api[0] == 413 and nrdp[0] == 413
    assert sink.records == []
    assert (
        registry.get_sample_value(
            "vigie_checks_rejected_total", {"listener": "checks-http", "reason": "size"}
        )
        == 2
    )


def test_two_intakes_can_share_one_registry():
    registry = CollectorRegistry()
    a = CheckIntake(MemorySink(), TOKEN, registry=registry, listener="a")
    b = CheckIntake(MemorySink(), TOKEN, registry=registry, listener="b")
    assert a.metrics is b.metrics


def test_body_size_limit_without_content_length():
    """A chunked body has no Content-Length: the limit must hold while reading."""
    sink = MemorySink()

    async def chunks():
        for _ in range(10):
            yield b"x" * 500

    async def scenario(intake, session):
        return await _post(
            session, intake.url + "/api/v1/commands", data=chunks(), headers={"X-Vigie-Token": TOKEN}
        )

    status, _, _ = serve(sink, scenario, max_body=2000)
    assert status == 413
    assert sink.records == []


def test_each_registry_gets_its_own_counters_even_at_a_reused_address():
    # CPython often allocates a new registry where a collected one lived; counters cached by id()
    # then landed in the dead registry and the new one read None.
    for _ in range(200):
        registry = CollectorRegistry()
        intake_metrics(registry).received.labels("x").inc()
        assert registry.get_sample_value("vigie_checks_received_total", {"listener": "x"}) == 1
        del registry


# -- hardening: input that used to escape as an exception (a 500) ---------------------------------------

AUTH = {"Authorization": f"Bearer {TOKEN}"}
GOOD_ENTRY = (
    "<checkresult type='host'><hostname>good</hostname><state>0</state><output>UP</output></checkresult>"
)


@pytest.mark.parametrize(
    "check_time", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z"]
)
def test_api_check_time_out_of_range_refuses_that_entry_only(check_time):
    batch = parse_api_checks(
        dumps([{"host": "bad", "status": 0, "check_time": check_time}, {"host": "good", "status": 0}])
    )
    assert [r["host"] for r in batch.results] == ["good"]
    assert [e.error for e in batch.errors] == [f"result #0: check_time '{check_time}' is out of range"]


def test_api_out_of_range_check_time_keeps_the_valid_entries_of_the_batch():
    sink = MemorySink()
    registry = CollectorRegistry()
    body = [
        {"host": "a", "status": 0},
        {"host": "bad", "status": 0, "check_time": "9999-12-31T23:59:59-14:00"},
        {"host": "b", "status": 1, "check_time": "2024-05-01T10:00:00+02:00"},
    ]

    async def scenario(intake, session):
        return await _post(session, intake.url + "/api/v1/checks", json=body, headers=AUTH)

    status, _, reply = serve(sink, scenario, registry=registry)
    assert status == 202
    assert loads(reply) == {
        "accepted": 2,
        "rejected": 1,
        "errors": [
            {"index": 1, "error": "result #1: check_time '9999-12-31T23:59:59-14:00' is out of range"}
        ],
    }
    assert [r.key for r in sink.on(RAW_CHECKS)] == [b"a", b"b"]
    assert loads(sink.on(RAW_CHECKS)[1].value)["check_time"] == "2024-05-01T08:00:00.000000Z"
    (dl,) = sink.on(DEADLETTER)
    assert "out of range" in loads(dl.value)["error"]
    assert registry.get_sample_value("vigie_checks_deadlettered_total", {"listener": "checks-http"}) == 1


DEEP = 50_000


def test_nrdp_xml_nested_50000_deep_refuses_that_entry_and_keeps_the_others():
    sink = MemorySink()
    deep_entry = (
        "<checkresult type='host'><hostname>deep</hostname><state>0</state>"
        + "<a>" * DEEP
        + "x"
        + "</a>" * DEEP
        + "</checkresult>"
    )
    deep_stray = "<a>" * DEEP + "</a>" * DEEP
    xml = f"<checkresults>{GOOD_ENTRY}{deep_entry}{deep_stray}</checkresults>"

    async def scenario(intake, session):
        return await _post(
            session, intake.url + "/nrdp/", data={"cmd": "submitcheck", "token": TOKEN, "XMLDATA": xml}
        )

    status, _, body = serve(sink, scenario, max_body=8 * 1024 * 1024)  # urlencoded, 50,000 levels are 2 MB
    assert status == 200
    output = ET.fromstring(body).findtext("meta/output")
    assert output.startswith("1 checks processed, 2 rejected: checkresult #1: elements nested deeper than")
    assert "checkresult #2: unexpected element <a>" in output
    assert [r.key for r in sink.on(RAW_CHECKS)] == [b"good"]
    assert len(sink.on(DEADLETTER)) == 2


def test_deep_xml_is_cut_at_the_depth_limit_while_parsing():
    root = safe_xml_fromstring("<checkresult>" + "<a>" * DEEP + "text" + "</a>" * DEEP + "</checkresult>")
    depth, node = 1, root
    while len(node):
        node, depth = node[0], depth + 1
    assert depth == MAX_XML_DEPTH and node.text is None  # the text inside dropped elements is dropped too


def test_json_entry_too_deep_to_write_back_is_dead_lettered_as_its_submission():
    """orjson reads 1024 levels but writes 254: the refused entry's raw form falls back to the submission."""
    body = b'[{"host": ' + b"[" * 300 + b"]" * 300 + b', "status": 0}, {"host": "good", "status": 0}]'
    batch = parse_api_checks(body)
    assert [r["host"] for r in batch.results] == ["good"]
    (error,) = batch.errors
    assert error.error == "result #0: host must be a string, not list" and error.raw == body
    nrdp = parse_nrdp_json(
        b'[{"type": ' + b"[" * 1000 + b"]" * 1000 + b'}, {"hostname": "good", "state": 0}]'
    )
    assert [r["host"] for r in nrdp.results] == ["good"]
    assert [e.error for e in nrdp.errors] == ["checkresult #0: type must be a string, not list"]


def test_long_values_are_cut_in_error_messages():
    (error,) = parse_api_checks(dumps({"host": "h", "status": "9" * 100_000})).errors
    assert len(error.error) < 200 and error.error.endswith("...' is not an integer")


@pytest.mark.parametrize("parse", [parse_external_commands, parse_nrdp_xml])
def test_lone_surrogates_in_decoded_text_are_a_payload_error(parse):
    with pytest.raises(PayloadError, match="not valid Unicode"):
        parse("<checkresult><hostname>h\ud800</hostname></checkresult>")


def test_an_unforeseen_error_in_one_entry_refuses_that_entry_only(monkeypatch):
    import vigie.producers.checks.passive as passive

    real = passive.check_result

    def fragile(host, *args, **kwargs):
        if host == "boom":
            raise ZeroDivisionError("simulated defect")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(passive, "check_result", fragile)
    sink = MemorySink()

    async def scenario(intake, session):
        return await _post(
            session,
            intake.url + "/api/v1/checks",
            json=[{"host": "boom", "status": 0}, {"host": "good", "status": 0}],
            headers=AUTH,
        )

    status, _, reply = serve(sink, scenario)
    assert status == 202
    assert loads(reply)["errors"] == [
        {"index": 0, "error": "result #0: unusable (ZeroDivisionError: simulated defect)"}
    ]
    assert [r.key for r in sink.on(RAW_CHECKS)] == [b"good"] and len(sink.on(DEADLETTER)) == 1


def test_an_unforeseen_error_in_a_parser_is_a_400_not_a_500(monkeypatch):
    import vigie.producers.checks.http_intake as http_intake

    def broken(_body):
        raise KeyError("simulated defect")

    monkeypatch.setattr(http_intake, "parse_api_checks", broken)
    sink = MemorySink()

    async def scenario(intake, session):
        return await _post(session, intake.url + "/api/v1/checks", json={"host": "h"}, headers=AUTH)

    status, _, reply = serve(sink, scenario)
    assert status == 400 and "KeyError" in loads(reply)["error"]
    (dl,) = sink.on(DEADLETTER)
    assert loads(dl.value)["stage"] == "checks.api"


# -- failed token attempts are rate-limited per source address ------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failed_tokens_are_rate_limited_per_address_then_released():
    sink = MemorySink()
    registry = CollectorRegistry()
    clock = FakeClock()
    url_body = {"host": "h", "status": 0}

    async def scenario(intake, session):
        api = intake.url + "/api/v1/checks"
        failures = [
            await _post(session, api, json=url_body, headers={"X-Vigie-Token": "guess"}) for _ in range(3)
        ]
        blocked_good = await _post(session, api, json=url_body, headers=AUTH)
        nrdp_blocked = await _post(
            session, intake.url + "/nrdp/", data={"cmd": "submitcheck", "token": TOKEN, "XMLDATA": GOOD_ENTRY}
        )
        clock.now += 59
        still = await _post(session, api, json=url_body, headers=AUTH)
        clock.now += 1
        released = await _post(session, api, json=url_body, headers=AUTH)
        return failures, blocked_good, nrdp_blocked, still, released

    failures, blocked_good, nrdp_blocked, still, released = serve(
        sink, scenario, registry=registry, auth_max_failures=3, auth_window=60, clock=clock
    )
    assert [f[0] for f in failures] == [401, 401, 401]
    assert blocked_good[0] == 429 and blocked_good[1]["Retry-After"] == "60"
    assert "too many failed token attempts" in loads(blocked_good[2])["error"]
    assert nrdp_blocked[0] == 429 and nrdp_blocked[1]["Retry-After"] == "60"
    assert ET.fromstring(nrdp_blocked[2]).findtext("message") == "TOO MANY REQUESTS"
    assert still[0] == 429 and still[1]["Retry-After"] == "1"
    assert released[0] == 202
    assert len(sink.on(RAW_CHECKS)) == 1  # only the request after the window
    sample = registry.get_sample_value
    assert sample("vigie_checks_rejected_total", {"listener": "checks-http", "reason": "auth"}) == 3
    assert sample("vigie_checks_rejected_total", {"listener": "checks-http", "reason": "auth_rate"}) == 3


def test_nrdp_missing_and_wrong_tokens_count_as_failures_and_good_ones_are_never_limited():
    sink = MemorySink()
    clock = FakeClock()

    async def scenario(intake, session):
        nrdp = intake.url + "/nrdp/"
        good = [
            await _post(session, nrdp, data={"cmd": "submitcheck", "token": TOKEN, "XMLDATA": GOOD_ENTRY})
            for _ in range(20)
        ]
        bad = [
            await _post(session, nrdp, data={"cmd": "submitcheck", "XMLDATA": GOOD_ENTRY}),
            await _post(session, nrdp, data={"cmd": "submitcheck", "token": "x", "XMLDATA": GOOD_ENTRY}),
        ]
        after = await _post(session, nrdp, data={"cmd": "submitcheck", "token": TOKEN, "XMLDATA": GOOD_ENTRY})
        return good, bad, after

    good, bad, after = serve(sink, scenario, auth_max_failures=2, clock=clock)
    assert {g[0] for g in good} == {200}
    assert [b[0] for b in bad] == [401, 401]
    assert after[0] == 429 and ET.fromstring(after[2]).findtext("message") == "TOO MANY REQUESTS"
    assert len(sink.on(RAW_CHECKS)) == 20


def test_a_token_header_that_is_not_utf8_is_a_401_not_a_500():
    """aiohttp hands undecodable header bytes over as lone surrogates; encoding them for the comparison failed."""
    sink = MemorySink()

    async def scenario(intake, session):
        reader, writer = await asyncio.open_connection("127.0.0.1", intake.port)
        writer.write(
            b"POST /api/v1/checks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\n"
            b"Content-Length: 2\r\nConnection: close\r\n\r\n[]"
        )
        await writer.drain()
        answer = await reader.read()
        writer.close()
        return answer

    answer = serve(sink, scenario)
    assert answer.startswith(b"HTTP/1.1 401 ")
    assert sink.records == []
