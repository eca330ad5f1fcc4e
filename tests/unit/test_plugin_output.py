"""Unit tests of the Nagios plugin output parser and of the raw.checks value it builds."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.producers.checks import parse_cli
from vigie.producers.checks.plugin_output import (
    check_result,
    parse_perfdata,
    parse_plugin_output,
    unescape_newlines,
)
from vigie.schemas.codec import dumps, loads, parse_rfc3339

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas" / "json"


def perf(label, value, uom=None, warn=None, crit=None, min=None, max=None):
    return {"label": label, "value": value, "uom": uom, "warn": warn, "crit": crit, "min": min, "max": max}


# -- real plugin outputs (monitoring-plugins 2.3 on Debian 12) ------------------------------------------


def test_check_http():
    r = parse_plugin_output(
        "HTTP OK: HTTP/1.1 200 OK - 2798 bytes in 0.002 second response time "
        "|time=0.002330s;;;0.000000;10.000000 size=2798B;;;0;"
    )
    assert r["output"] == "HTTP OK: HTTP/1.1 200 OK - 2798 bytes in 0.002 second response time"
    assert r["long_output"] == ""
    assert r["perfdata"] == [
        perf("time", 0.00233, "s", min=0.0, max=10.0),
        perf("size", 2798.0, "B", min=0.0),
    ]
    assert r["errors"] == []


def test_check_disk_several_filesystems():
    r = parse_plugin_output(
        "DISK OK - free space: / 81139MiB (87% inode=97%); /dev/shm 24105MiB (100% inode=99%);| "
        "/=12711886848B;216442024755;243497277849;0;270552530944 "
        "/dev/shm=0B;20220739584;22748332032;0;25275924480"
    )
    assert r["output"].startswith("DISK OK - free space: / 81139MiB")
    assert r["perfdata"] == [
        perf("/", 12711886848.0, "B", "216442024755", "243497277849", 0.0, 270552530944.0),
        perf("/dev/shm", 0.0, "B", "20220739584", "22748332032", 0.0, 25275924480.0),
    ]
    assert r["errors"] == []


def test_check_load_trailing_semicolons_and_space():
    r = parse_plugin_output(
        "LOAD OK - total load average: 0.49, 0.18, 0.11|load1=0.490;5.000;10.000;0; "
        "load5=0.180;4.000;8.000;0; load15=0.110;3.000;6.000;0; \n"
    )
    assert r["output"] == "LOAD OK - total load average: 0.49, 0.18, 0.11"
    assert [p["label"] for p in r["perfdata"]] == ["load1", "load5", "load15"]
    assert r["perfdata"][0] == perf("load1", 0.49, None, "5.000", "10.000", 0.0, None)
    assert r["errors"] == []


def test_check_ping():
    r = parse_plugin_output(
        "PING OK - Packet loss = 0%, RTA = 0.08 ms|rta=0.078000ms;100.000000;200.000000;0.000000 pl=0%;20;50;0;"
    )
    assert r["perfdata"] == [
        perf("rta", 0.078, "ms", "100.000000", "200.000000", 0.0),
        perf("pl", 0.0, "%", "20", "50", 0.0),
    ]


def test_check_icmp_empty_fields():
    r = parse_plugin_output(
        "OK - 127.0.0.1: rta 0.013ms, lost 0%|rta=0.013ms;200.000;500.000;0; pl=0%;40;80;; "
        "rtmax=0.042ms;;;; rtmin=0.006ms;;;; "
    )
    assert [p["label"] for p in r["perfdata"]] == ["rta", "pl", "rtmax", "rtmin"]
    assert r["perfdata"][2] == perf("rtmax", 0.042, "ms")
    assert r["errors"] == []


def test_check_tcp_and_procs():
    tcp = parse_plugin_output(
        "TCP OK - 0.000 second response time on 127.0.0.1 port 18089|time=0.000160s;;;0.000000;10.000000"
    )
    assert tcp["perfdata"] == [perf("time", 0.00016, "s", min=0.0, max=10.0)]
    procs = parse_plugin_output("PROCS OK: 77 processes | procs=77;;;0;")
    assert procs["output"] == "PROCS OK: 77 processes"
    assert procs["perfdata"] == [perf("procs", 77.0, min=0.0)]


def test_check_tcp_refused_has_no_perfdata():
    r = parse_plugin_output("connect to address 127.0.0.1 and port 1: Connection refused\n")
    assert r == {
        "output": "connect to address 127.0.0.1 and port 1: Connection refused",
        "long_output": "",
        "perfdata": [],
        "errors": [],
    }


# -- long output ----------------------------------------------------------------------------------------


def test_long_output_with_perfdata_on_later_lines():
    """The example of the Nagios plugin API documentation."""
    r = parse_plugin_output(
        "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n"
        "/ 15272 MB (77%);\n"
        "/boot 68 MB (69%);\n"
        "/home 69357 MB (27%);\n"
        "/var/log 819 MB (84%); | /boot=68MB;88;93;0;98\n"
        "/home=69357MB;253404;253409;0;253414 \n"
        "/var/log=818MB;970;975;0;980\n"
    )
    assert r["output"] == "DISK OK - free space: / 3326 MB (56%);"
    assert (
        r["long_output"]
        == "/ 15272 MB (77%);\n/boot 68 MB (69%);\n/home 69357 MB (27%);\n/var/log 819 MB (84%);"
    )
    assert [(p["label"], p["value"], p["uom"]) for p in r["perfdata"]] == [
        ("/", 2643.0, "MB"),
        ("/boot", 68.0, "MB"),
        ("/home", 69357.0, "MB"),
        ("/var/log", 818.0, "MB"),
    ]
    assert r["perfdata"][3]["max"] == 980.0
    assert r["errors"] == []


def test_long_output_without_perfdata_and_crlf():
    r = parse_plugin_output("WARNING - 2 of 3 disks degraded\r\ndisk0 ok\r\ndisk1 degraded\r\n")
    assert r["output"] == "WARNING - 2 of 3 disks degraded"
    assert r["long_output"] == "disk0 ok\ndisk1 degraded"
    assert r["perfdata"] == []


def test_perfdata_only_after_long_output():
    r = parse_plugin_output("OK\nline one\n| a=1\nb=2;3;4")
    assert r["long_output"] == "line one"
    assert [p["label"] for p in r["perfdata"]] == ["a", "b"]
    assert r["perfdata"][1]["crit"] == "4"


def test_pipe_without_perfdata():
    r = parse_plugin_output("OK - nothing to report |")
    assert r["output"] == "OK - nothing to report"
    assert r["perfdata"] == [] and r["errors"] == []


# -- perfdata details ----------------------------------------------------------------------------------


def test_quoted_labels_with_spaces_equals_and_escaped_quotes():
    items, errors = parse_perfdata("'C:\\ Label: Used Space'=10GB;20;30;0;40 'it''s = odd'=1 'a b'=2c")
    assert errors == []
    assert [i["label"] for i in items] == ["C:\\ Label: Used Space", "it's = odd", "a b"]
    assert items[0]["uom"] == "GB"
    assert items[2] == perf("a b", 2.0, "c")


def test_ranges_are_kept_as_text():
    items, errors = parse_perfdata("a=5;10:;~:20;; b=7;@5:10;10:20 c=1;1,5;2,5")
    assert errors == []
    assert (items[0]["warn"], items[0]["crit"]) == ("10:", "~:20")
    assert (items[1]["warn"], items[1]["crit"]) == ("@5:10", "10:20")
    assert (items[2]["warn"], items[2]["crit"]) == ("1.5", "2.5")


def test_unknown_value_comma_decimal_negative_and_exponent():
    items, errors = parse_perfdata("temp=U;;;; load=0,75;;; delta=-3.5s drift=1.5e-3s tiny=.5")
    assert errors == []
    assert items[0] == perf("temp", None)
    assert items[1]["value"] == 0.75
    assert items[2] == perf("delta", -3.5, "s")
    assert items[3]["value"] == pytest.approx(0.0015)
    assert items[4]["value"] == 0.5


def test_unknown_uoms_are_tolerated():
    items, errors = parse_perfdata("signal=-67dBm rx=12KiB uptime=3d in=1.2Mbps")
    assert errors == []
    assert [i["uom"] for i in items] == ["dBm", "KiB", "d", "Mbps"]


def test_standard_uoms():
    items, _ = parse_perfdata("a=1s b=1ms c=1us d=1% e=1B f=1KB g=1MB h=1TB i=1c j=1")
    assert [i["uom"] for i in items] == ["s", "ms", "us", "%", "B", "KB", "MB", "TB", "c", None]


def test_bad_items_are_reported_and_good_ones_kept():
    items, errors = parse_perfdata("good=1 noequals bad=abc =3 min=1;;;x;2 'open=1")
    assert [i["label"] for i in items] == ["good", "min"]
    assert items[1]["min"] is None and items[1]["max"] == 2.0
    assert any("'noequals' has no '='" in e for e in errors)
    assert any("'bad': value 'abc' is not a number" in e for e in errors)
    assert any("empty label" in e for e in errors)
    assert any("min 'x' is not a number" in e for e in errors)
    assert any("unterminated quoted label" in e for e in errors)


def test_extra_fields_are_reported():
    items, errors = parse_perfdata("a=1;2;3;4;5;6")
    assert items[0]["max"] == 5.0
    assert errors and "extra fields" in errors[0]


# -- robustness ----------------------------------------------------------------------------------------


def test_empty_and_none():
    for raw in ("", None, b"", "\n\n"):
        r = parse_plugin_output(raw)
        assert r["output"] == "" and r["perfdata"] == []
        assert r["errors"] == ["empty plugin output"]


def test_bytes_with_invalid_utf8():
    r = parse_plugin_output(b"CRITICAL - caf\xe9 down|x=1")
    assert r["output"] == "CRITICAL - caf\ufffd down"
    assert r["perfdata"][0]["value"] == 1.0
    assert any("UTF-8" in e for e in r["errors"])


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab =;:|'\n\r,.-~@U1%sx\\\x00é")), max_size=80))
def test_never_raises(text):
    r = parse_plugin_output(text)
    assert set(r) == {"output", "long_output", "perfdata", "errors"}
    dumps(r)  # always JSON-encodable


def test_unescape_newlines():
    assert unescape_newlines("a\\nb\\\\nc") == "a\nb\\nc"
    assert unescape_newlines("no escapes") == "no escapes"
    assert unescape_newlines("trailing\\") == "trailing\\"


# -- raw.checks value ----------------------------------------------------------------------------------


def test_check_result_service():
    v = check_result(
        "web1", "HTTP", 0, "HTTP OK|time=0.1s", "active", check_time=1_700_000_000, duration=0.1234567
    )
    assert v == {
        "schema": "check_result/1",
        "host": "web1",
        "service": "HTTP",
        "status": 0,
        "output": "HTTP OK",
        "long_output": "",
        "perfdata": [perf("time", 0.1, "s")],
        "check_time": "2023-11-14T22:13:20.000000Z",
        "source": "active",
        "duration": 0.123457,
    }
    assert loads(dumps(v)) == v


def test_check_result_host_check_and_default_time():
    v = check_result("router1", None, 2, "PING CRITICAL - Packet loss = 100%", "nrdp")
    assert v["service"] is None and v["duration"] is None
    assert parse_rfc3339(v["check_time"]).tzinfo is not None


def test_check_result_accepts_rfc3339_text():
    v = check_result("h", "s", 1, "W", "passive", check_time="2024-05-01T10:00:00+02:00")
    assert v["check_time"] == "2024-05-01T08:00:00.000000Z"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"status": 4},
        {"status": -1},
        {"status": True},
        {"status": "0"},
        {"source": "nsca"},
        {"host": ""},
        {"service": " "},
    ],
)
def test_check_result_refuses_caller_mistakes(kwargs):
    args = {"host": "h", "service": "s", "status": 0, "raw_output": "OK", "source": "active"} | kwargs
    with pytest.raises(ValueError):
        check_result(**args)


def test_check_result_matches_json_schema_when_present():
    """schemas/json holds the contract once written; until then this only checks the architecture's fields."""
    value = check_result("h", None, 3, "UNKNOWN - x|a=U", "passive")
    candidates = sorted(SCHEMA_DIR.glob("check_result*.json")) + sorted(SCHEMA_DIR.glob("raw.checks*.json"))
    if candidates:
        import jsonschema

        jsonschema.validate(value, json.loads(candidates[0].read_text()))
    required = {
        "host",
        "service",
        "status",
        "output",
        "long_output",
        "perfdata",
        "check_time",
        "source",
        "duration",
    }
    assert required <= set(value)


# -- vigie parse check ----------------------------------------------------------------------------------


def test_parse_cli_prints_one_object():
    out = io.StringIO()
    rc = parse_cli.run(io.StringIO("LOAD WARNING - x|load1=5;4;8;0;\nmore"), out, 1)
    assert rc == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    assert obj["status"] == 1 and obj["output"] == "LOAD WARNING - x" and obj["long_output"] == "more"
    assert obj["perfdata"][0]["warn"] == "4"
    assert set(obj) == {"status", "output", "long_output", "perfdata", "errors"}


def test_parse_cli_without_status_and_with_a_bad_one():
    out = io.StringIO()
    assert parse_cli.run(io.StringIO("OK"), out, None) == 0
    assert json.loads(out.getvalue())["status"] is None
    out = io.StringIO()
    assert parse_cli.run(io.StringIO("OK"), out, 7) == 2
    obj = json.loads(out.getvalue())
    assert obj["status"] is None and "--status 7" in obj["errors"][0]


def test_parse_cli_reads_bytes_when_it_can():
    stdin = io.TextIOWrapper(io.BytesIO(b"OK \xff|a=1"), encoding="utf-8")
    out = io.StringIO()
    assert parse_cli.run(stdin, out, 0) == 0
    assert any("UTF-8" in e for e in json.loads(out.getvalue())["errors"])
