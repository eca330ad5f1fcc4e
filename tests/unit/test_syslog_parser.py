"""Syslog parser and `vigie parse syslog`: RFC 5424, RFC 3164, Cisco and real devices' messages."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.codecs.syslog import KEYS, parse_syslog, parse_unguarded
from vigie.producers.syslog.parse_cli import run
from vigie.schemas.codec import loads

RECV = datetime(2024, 1, 15, 12, 0, 0, tzinfo=UTC)
SAMPLES = Path(__file__).parent / "samples" / "syslog"


def p(data: bytes, received_at: datetime | None = RECV) -> dict:
    result = parse_syslog(data, received_at)
    assert tuple(result) == KEYS
    return result


def sub(result: dict, **expected) -> None:
    """Assert the given keys only, with a readable diff."""
    assert {k: result[k] for k in expected} == expected


# ---------------------------------------------------------------- RFC 5424


def test_rfc5424_example_with_two_sd_elements_and_bom():
    r = p(
        b'<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" '
        b'eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] '
        b"\xef\xbb\xbfAn application event log entry..."
    )
    assert r == {
        "pri": 165, "facility": 20, "severity": 5, "version": 1,
        "timestamp": "2003-10-11T22:14:15.003000Z",
        "hostname": "mymachine.example.com", "app_name": "evntslog", "procid": None, "msgid": "ID47",
        "structured_data": {
            "exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"},
            "examplePriority@32473": {"class": "high"},
        },
        "msg": "An application event log entry...",
        "dialect": "rfc5424", "errors": [], "cisco": None,
    }


def test_rfc5424_negative_offset_and_microseconds_normalised_to_utc():
    r = p(b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.")
    sub(r, timestamp="2003-08-24T12:14:15.000003Z", hostname="192.0.2.1", app_name="myproc", procid="8710",
        msgid=None, structured_data=None, msg="%% It's time to make the do-nuts.", dialect="rfc5424", errors=[])


def test_rfc5424_offset_moves_the_date_back_across_a_year():
    r = p(b"<13>1 2024-01-01T00:30:00+01:00 h a - - - x")
    assert r["timestamp"] == "2023-12-31T23:30:00.000000Z"


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        ("2024-01-15T10:01:02Z", "2024-01-15T10:01:02.000000Z"),
        ("2024-01-15T10:01:02.1Z", "2024-01-15T10:01:02.100000Z"),
        ("2024-01-15T10:01:02.123456Z", "2024-01-15T10:01:02.123456Z"),
        ("2024-01-15T10:01:02.5+02:00", "2024-01-15T08:01:02.500000Z"),
        ("2024-01-15T23:59:59.999999-05:30", "2024-01-16T05:29:59.999999Z"),
    ],
)
def test_rfc5424_timestamps(ts, expected):
    r = p(f"<13>1 {ts} h a - - - x".encode())
    assert (r["timestamp"], r["errors"]) == (expected, [])


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)),
    st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59),
    st.integers(min_value=0, max_value=6),
    st.booleans(),
)
def test_rfc5424_timestamp_matches_python_arithmetic(local, offset_minutes, digits, zulu):
    """Any RFC 3339 stamp comes out as the same instant in UTC, fraction kept to the digits given."""
    if zulu:
        offset_minutes = 0
    local = local.replace(microsecond=local.microsecond // 10 ** (6 - digits) * 10 ** (6 - digits))
    sign, mins = ("-" if offset_minutes < 0 else "+"), abs(offset_minutes)
    frac = f".{local.microsecond:06d}"[: digits + 1] if digits else ""
    tz = "Z" if zulu else f"{sign}{mins // 60:02d}:{mins % 60:02d}"
    stamp = local.strftime("%Y-%m-%dT%H:%M:%S") + frac + tz
    expected = (local.replace(tzinfo=timezone(timedelta(minutes=offset_minutes))).astimezone(UTC)
                .strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    r = p(f"<13>1 {stamp} h a - - - x".encode())
    assert (r["timestamp"], r["errors"]) == (expected, [])


def test_rfc5424_nanoseconds_are_truncated_and_reported():
    r = p(b"<13>1 2024-01-15T10:01:02.123456789Z h a - - - x")
    assert r["timestamp"] == "2024-01-15T10:01:02.123456Z"
    assert r["errors"] == ["fractional seconds truncated to 6 digits"]


def test_rfc5424_leap_second_is_kept_inside_the_minute():
    r = p(b"<13>1 2016-12-31T23:59:60Z h a - - - leap")
    assert r["timestamp"] == "2016-12-31T23:59:59.999999Z"
    assert r["errors"] == ["leap second clamped"]


@pytest.mark.parametrize("ts", ["2024-13-01T10:01:02Z", "2024-02-30T10:01:02Z", "2024-01-15T24:00:00Z", "2024-01-15"])
def test_rfc5424_invalid_timestamp_is_null_and_reported(ts):
    r = p(f"<13>1 {ts} h a - - - x".encode())
    sub(r, timestamp=None, hostname="h", msg="x", dialect="rfc5424", errors=["invalid timestamp"])


def test_rfc5424_nilvalue_everywhere():
    r = p(b"<13>1 - - - - - -")
    sub(r, version=1, timestamp=None, hostname=None, app_name=None, procid=None, msgid=None,
        structured_data=None, msg="", dialect="rfc5424", errors=[])


def test_rfc5424_truncated_header_is_reported_once():
    r = p(b"<13>1 - - - - -")
    sub(r, dialect="rfc5424", msg="", errors=["truncated header"])


def test_rfc5424_escapes_in_param_values():
    r = p(
        b'<13>1 2024-01-15T10:01:02Z host app 12 ID [a@1 q="say \\"hi\\"" b="back\\\\slash" '
        b'c="br\\]acket" d="keep\\n" e=""] msg'
    )
    assert r["structured_data"] == {
        "a@1": {"q": 'say "hi"', "b": "back\\slash", "c": "br]acket", "d": "keep\\n", "e": ""}
    }
    assert (r["msg"], r["errors"]) == ("msg", [])


def test_rfc5424_repeated_param_becomes_a_list():
    r = p(b'<13>1 2024-01-15T10:01:02Z h a - - [origin ip="192.0.2.1" ip="192.0.2.2" software="x"] m')
    assert r["structured_data"] == {"origin": {"ip": ["192.0.2.1", "192.0.2.2"], "software": "x"}}


def test_rfc5424_duplicate_sd_id_is_merged_and_reported():
    r = p(b'<13>1 2024-01-15T10:01:02Z h a - - [a@1 x="1"][a@1 y="2"] m')
    assert r["structured_data"] == {"a@1": {"x": "1", "y": "2"}}
    assert r["errors"] == ["duplicate sd-id"]


def test_rfc5424_malformed_sd_keeps_the_good_elements_and_the_text():
    r = p(b'<13>1 2024-01-15T10:01:02Z host app 12 ID [a@1 x="1"][b@1 y=2] the message')
    sub(r, structured_data={"a@1": {"x": "1"}}, msg="[b@1 y=2] the message", hostname="host",
        errors=["malformed structured data"], dialect="rfc5424")


def test_rfc5424_unterminated_sd_value():
    r = p(b'<13>1 2024-01-15T10:01:02Z h a - - [a@1 x="unterminated] rest')
    sub(r, structured_data=None, msg='[a@1 x="unterminated] rest', errors=["malformed structured data"])


def test_rfc5424_missing_space_after_sd():
    r = p(b'<13>1 2024-01-15T10:01:02Z h a - - [a@1 x="1"]msg')
    sub(r, structured_data={"a@1": {"x": "1"}}, msg="msg", errors=["no space after structured data"])


def test_rfc5424_message_without_sd_field():
    r = p(b"<13>1 2024-01-15T10:01:02Z h a - - hello")
    sub(r, structured_data=None, msg="hello", errors=["missing structured data"])


def test_rfc5424_over_long_fields_are_kept_and_reported():
    host, app, procid, msgid = "h" * 256, "a" * 49, "p" * 129, "m" * 33
    r = p(f"<13>1 2024-01-15T10:01:02Z {host} {app} {procid} {msgid} - x".encode())
    sub(r, hostname=host, app_name=app, procid=procid, msgid=msgid, msg="x")
    assert r["errors"] == ["hostname too long", "app_name too long", "procid too long", "msgid too long"]


def test_rfc5424_fields_at_their_limits_are_clean():
    r = p(f"<13>1 2024-01-15T10:01:02Z {'h' * 255} {'a' * 48} {'p' * 128} {'m' * 32} - x".encode())
    assert r["errors"] == []


def test_rfc5424_other_version_is_parsed_and_reported():
    r = p(b"<13>2 2024-01-01T00:30:00Z h a - - - v2")
    sub(r, version=2, hostname="h", msg="v2", dialect="rfc5424", errors=["unsupported version"])


def test_util_linux_logger_rfc5424_output():
    # logger 2.38 --rfc5424 -t myapp -p local0.warning hello5424
    r = p(b'<132>1 2026-11-29T03:58:03.525677+00:00 vm myapp - - [timeQuality tzKnown="1" isSynced="0"] hello5424\n')
    assert r == {
        "pri": 132, "facility": 16, "severity": 4, "version": 1, "timestamp": "2026-11-29T03:58:03.525677Z",
        "hostname": "vm", "app_name": "myapp", "procid": None, "msgid": None,
        "structured_data": {"timeQuality": {"tzKnown": "1", "isSynced": "0"}},
        "msg": "hello5424", "dialect": "rfc5424", "errors": [], "cisco": None,
    }


def test_juniper_rt_flow_rfc5424():
    r = p(
        b'<165>1 2024-01-15T10:01:09.123+01:00 srx01 RT_FLOW - RT_FLOW_SESSION_CREATE '
        b'[junos@2636.1.1.1.2.129 source-address="10.1.2.3" source-port="51234" protocol-id="6"] '
        b"session created 10.1.2.3/51234->203.0.113.9/443"
    )
    sub(r, timestamp="2024-01-15T09:01:09.123000Z", hostname="srx01", app_name="RT_FLOW", procid=None,
        msgid="RT_FLOW_SESSION_CREATE", msg="session created 10.1.2.3/51234->203.0.113.9/443", errors=[])
    assert r["structured_data"] == {
        "junos@2636.1.1.1.2.129": {"source-address": "10.1.2.3", "source-port": "51234", "protocol-id": "6"}
    }


def test_nxlog_windows_rfc5424():
    r = p(
        b"<14>1 2024-01-15T10:01:10.000000+01:00 WIN-DC01 Microsoft-Windows-Security-Auditing 820 - "
        b'[NXLOG@14506 EventReceivedTime="2024-01-15 10:01:10" SourceModuleName="eventlog"] '
        b"An account was successfully logged on."
    )
    sub(r, hostname="WIN-DC01", app_name="Microsoft-Windows-Security-Auditing", procid="820",
        msg="An account was successfully logged on.", dialect="rfc5424", errors=[])
    assert r["structured_data"]["NXLOG@14506"]["EventReceivedTime"] == "2024-01-15 10:01:10"


def test_pfsense_filterlog_rfc5424():
    r = p(b"<134>1 2024-01-15T10:01:02.123456+01:00 pfsense.home filterlog 12345 - - 5,,,1000000103,igb0,match,block")
    sub(r, hostname="pfsense.home", app_name="filterlog", procid="12345",
        msg="5,,,1000000103,igb0,match,block", timestamp="2024-01-15T09:01:02.123456Z")


def test_aruba_cx_rfc5424():
    r = p(b"<190>1 2024-01-15T10:01:02.123+01:00 sw01 lldpd 1234 - - Event|106|LOG_INFO|AMM|1/1|LLDP neighbor added")
    sub(r, hostname="sw01", app_name="lldpd", procid="1234", severity=6,
        msg="Event|106|LOG_INFO|AMM|1/1|LLDP neighbor added", dialect="rfc5424")


# ---------------------------------------------------------------- RFC 3164 / BSD


def test_rfc3164_example():
    r = p(b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
          datetime(2023, 10, 12, tzinfo=UTC))
    assert r == {
        "pri": 34, "facility": 4, "severity": 2, "version": None, "timestamp": "2023-10-11T22:14:15.000000Z",
        "hostname": "mymachine", "app_name": "su", "procid": None, "msgid": None, "structured_data": None,
        "msg": "'su root' failed for lonvick on /dev/pts/8", "dialect": "rfc3164", "errors": [], "cisco": None,
    }


def test_rfc3164_tag_with_pid_and_space_padded_day():
    r = p(b"<86>Jan  5 10:01:03 web01 sshd[2211]: Accepted publickey for alice\n")
    sub(r, timestamp="2024-01-05T10:01:03.000000Z", hostname="web01", app_name="sshd", procid="2211",
        msg="Accepted publickey for alice", errors=[])


def test_rfc3164_single_space_single_digit_day():
    assert p(b"<13>Jan 5 10:01:03 h a: x")["timestamp"] == "2024-01-05T10:01:03.000000Z"


def test_util_linux_logger_rfc3164_output():
    r = p(b"<13>Nov 29 03:58:03 vm myapp: hello3164\n", datetime(2026, 11, 29, 3, 58, 4, tzinfo=UTC))
    sub(r, pri=13, timestamp="2026-11-29T03:58:03.000000Z", hostname="vm", app_name="myapp", msg="hello3164",
        dialect="rfc3164", errors=[])


@pytest.mark.parametrize(
    ("data", "tag", "pid", "msg"),
    [
        (b"<13>Oct 11 22:14:15 su: msg", "su", None, "msg"),
        (b"<134>Jan 15 10:01:08 filterlog[44312]: 5,,,1000000103,igb1,match,block", "filterlog", "44312",
         "5,,,1000000103,igb1,match,block"),
    ],
)
def test_rfc3164_timestamp_followed_directly_by_tag_has_no_hostname(data, tag, pid, msg):
    r = p(data)
    sub(r, hostname=None, app_name=tag, procid=pid, msg=msg, dialect="rfc3164", errors=["missing hostname"])


def test_rfc3164_message_without_tag():
    r = p(b"<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!")
    sub(r, hostname="10.0.0.99", app_name=None, msg="Use the BFG!", errors=[])


def test_rfc3164_tag_with_pid_but_no_colon():
    r = p(b"<13>Jan 15 10:00:00 host sshd[12] no colon")
    sub(r, hostname="host", app_name="sshd", procid="12", msg="no colon")


def test_rfc3164_slash_in_tag():
    r = p(b"<22>Jan 15 10:00:00 mx1 postfix/smtpd[998]: connect from unknown[198.51.100.7]")
    sub(r, app_name="postfix/smtpd", procid="998", msg="connect from unknown[198.51.100.7]")


@pytest.mark.parametrize(
    ("stamp", "received", "expected"),
    [
        ("Dec 31 23:59:59", datetime(2025, 1, 1, 0, 0, 5, tzinfo=UTC), "2024-12-31T23:59:59.000000Z"),
        ("Jan  1 00:00:01", datetime(2024, 12, 31, 23, 59, tzinfo=UTC), "2025-01-01T00:00:01.000000Z"),
        ("Jul  1 12:00:00", datetime(2024, 1, 15, tzinfo=UTC), "2024-07-01T12:00:00.000000Z"),
        ("Aug  1 12:00:00", datetime(2024, 1, 15, tzinfo=UTC), "2023-08-01T12:00:00.000000Z"),
        ("Feb 29 10:00:00", datetime(2025, 1, 15, tzinfo=UTC), "2024-02-29T10:00:00.000000Z"),
    ],
)
def test_rfc3164_year_is_the_closest_to_reception(stamp, received, expected):
    assert p(f"<13>{stamp} h a: x".encode(), received)["timestamp"] == expected


def test_rfc3164_year_uses_the_utc_day_of_an_aware_received_at():
    paris = timezone(timedelta(hours=1))
    # 2025-01-01 00:30 in Paris is still 2024-12-31 in UTC: Jul 2 2024 is 182 days before that day,
    # Jul 2 2025 183 days after it (from 2025-01-01 the choice would flip to 2025).
    r = p(b"<13>Jul  2 12:00:00 h a: x", datetime(2025, 1, 1, 0, 30, tzinfo=paris))
    assert r["timestamp"] == "2024-07-02T12:00:00.000000Z"
    r = p(b"<13>Jul  2 12:00:00 h a: x", datetime(2025, 1, 1, 0, 30, tzinfo=UTC))
    assert r["timestamp"] == "2025-07-02T12:00:00.000000Z"


def test_rfc3164_naive_received_at_means_utc():
    assert p(b"<13>Dec 31 23:59:59 h a: x", datetime(2025, 1, 1))["timestamp"] == "2024-12-31T23:59:59.000000Z"


def test_rfc3164_default_received_at_is_now():
    now = datetime.now(UTC)
    r = p(now.strftime("<13>%b %d %H:%M:%S h a: x").encode(), None)
    assert r["timestamp"] == now.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def test_rfc3164_feb_29_without_a_leap_year_nearby_is_reported():
    r = p(b"<13>Feb 29 10:00:00 h a: x", datetime(2022, 3, 1, tzinfo=UTC))
    sub(r, timestamp=None, hostname="h", app_name="a", errors=["invalid timestamp"])


@pytest.mark.parametrize("stamp", ["Feb 30 10:00:00", "Jan 15 25:00:00", "Jan 15 10:61:00", "Foo 15 10:00:00"])
def test_rfc3164_invalid_timestamp(stamp):
    r = p(f"<13>{stamp} h a: x".encode())
    sub(r, timestamp=None, hostname="h", app_name="a", msg="x", dialect="rfc3164", errors=["invalid timestamp"])


def test_rsyslog_rfc3339_timestamp_in_legacy_format():
    r = p(b"<30>2024-01-15T10:01:02.123456+01:00 web01 systemd[1]: Started Session 42.")
    sub(r, version=None, timestamp="2024-01-15T09:01:02.123456Z", hostname="web01", app_name="systemd",
        procid="1", msg="Started Session 42.", dialect="rfc3164", errors=[])


def test_iso_timestamp_without_offset_is_utc_and_reported():
    r = p(b"<30>2024-01-15 10:01:02 web01 app: x")
    sub(r, timestamp="2024-01-15T10:01:02.000000Z", hostname="web01", app_name="app",
        errors=["timestamp without offset, assumed UTC"])


def test_message_without_pri():
    r = p(b"Oct 11 22:14:15 mymachine su: hello", datetime(2024, 10, 12, tzinfo=UTC))
    sub(r, pri=None, facility=None, severity=None, timestamp="2024-10-11T22:14:15.000000Z",
        hostname="mymachine", app_name="su", msg="hello", dialect="rfc3164", errors=["no pri"])


def test_tag_without_timestamp():
    r = p(b"<13>sshd[12]: x")
    sub(r, pri=13, timestamp=None, hostname=None, app_name="sshd", procid="12", msg="x", dialect="rfc3164",
        errors=["missing timestamp"])


def test_pri_out_of_range_is_dropped_but_the_rest_is_parsed():
    r = p(b"<999>Jan 15 10:00:00 h a: x")
    sub(r, pri=None, facility=None, severity=None, hostname="h", app_name="a", dialect="rfc3164",
        errors=["pri out of range"])


def test_malformed_pri_keeps_the_whole_text():
    r = p(b"<abc>Jan 15 10:00:00 h a: x")
    sub(r, pri=None, msg="<abc>Jan 15 10:00:00 h a: x", dialect="unknown",
        errors=["malformed pri", "no syslog header"])


def test_windows_bsd_via_nxlog():
    r = p(b"<14>Jan 15 10:01:02 WIN-SRV01 Microsoft-Windows-Security-Auditing[4624]: An account was logged on.")
    sub(r, hostname="WIN-SRV01", app_name="Microsoft-Windows-Security-Auditing", procid="4624",
        msg="An account was logged on.")


def test_hp_procurve_event_number_before_tag():
    r = p(b"<190>Jan 15 10:01:11 10.0.0.21 00076 ports: port 1/5 is now on-line")
    sub(r, hostname="10.0.0.21", app_name="ports", msgid="00076", msg="port 1/5 is now on-line", errors=[])


def test_aruba_controller_year_after_time():
    r = p(b"<143>Jan 15 10:01:02 2024 10.1.1.1 stm[3456]: <501199> <NOTI> User authenticated")
    sub(r, timestamp="2024-01-15T10:01:02.000000Z", hostname="10.1.1.1", app_name="stm", procid="3456",
        msg="<501199> <NOTI> User authenticated", errors=[])


def test_percent_in_a_bsd_message_is_not_cisco():
    r = p(b"<13>Jan 15 10:01:02 host app: CPU at 95% now")
    sub(r, dialect="rfc3164", app_name="app", msg="CPU at 95% now", cisco=None)


# ---------------------------------------------------------------- Cisco


def test_cisco_ios_sequence_and_unauthoritative_clock():
    r = p(b"<189>123: *Mar  1 18:46:11.123: %LINK-3-UPDOWN: Interface GigabitEthernet0/1, changed state to down")
    assert r == {
        "pri": 189, "facility": 23, "severity": 5, "version": None, "timestamp": "2024-03-01T18:46:11.123000Z",
        "hostname": None, "app_name": "LINK", "procid": None, "msgid": "UPDOWN", "structured_data": None,
        "msg": "Interface GigabitEthernet0/1, changed state to down", "dialect": "cisco", "errors": [],
        "cisco": {"seq": 123, "facility": "LINK", "severity": 3, "mnemonic": "UPDOWN", "clock_mark": "*",
                  "uptime": None},
    }


def test_cisco_ios_device_id_and_time_zone_name():
    r = p(b"<189>45: router1: *Mar 1 18:46:11.123 CET: %SYS-5-CONFIG_I: Configured from console by admin")
    sub(r, hostname="router1", timestamp="2024-03-01T17:46:11.123000Z", app_name="SYS", msgid="CONFIG_I",
        msg="Configured from console by admin", dialect="cisco", errors=[])
    assert r["cisco"]["seq"] == 45


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("Sep 14 12:00:00.000 CEST", "2023-09-14T10:00:00.000000Z"),
        ("Sep 14 12:00:00 UTC", "2023-09-14T12:00:00.000000Z"),
        ("Sep 14 12:00:00 EDT", "2023-09-14T16:00:00.000000Z"),
        ("Mar 01 2024 10:01:02", "2024-03-01T10:01:02.000000Z"),
        ("Mar  1 2024 18:46:11.123 CET", "2024-03-01T17:46:11.123000Z"),
    ],
)
def test_cisco_clock_forms(stamp, expected):
    r = p(f"<189>10: {stamp}: %LINK-3-UPDOWN: x".encode(), datetime(2024, 1, 15, tzinfo=UTC))
    sub(r, timestamp=expected, dialect="cisco", errors=[])


def test_cisco_unknown_time_zone_is_utc_and_reported():
    r = p(b"<189>Mar  1 18:46:11.123 XYZ: %LINK-3-UPDOWN: x")
    sub(r, timestamp="2024-03-01T18:46:11.123000Z", errors=["unknown time zone XYZ, assumed UTC"])


def test_cisco_ntp_unsynchronised_mark():
    r = p(b"<189>.Mar  1 18:46:11.123 UTC: %LINK-3-UPDOWN: x")
    assert r["cisco"]["clock_mark"] == "."


def test_cisco_uptime_timestamp():
    r = p(b"<189>12: 1d02h: %SYS-5-CONFIG_I: Configured from console")
    sub(r, timestamp=None, dialect="cisco", errors=[])
    assert (r["cisco"]["seq"], r["cisco"]["uptime"]) == (12, "1d02h")


def test_cisco_relayed_with_bsd_header():
    r = p(b"<189>Mar  1 18:46:11 router1 123: *Mar  1 18:46:11.123: %LINK-3-UPDOWN: x")
    sub(r, hostname="router1", timestamp="2024-03-01T18:46:11.123000Z", app_name="LINK", dialect="cisco")


def test_cisco_nxos_year_first():
    r = p(b"<189>: 2024 Jan 15 10:01:02 CET: %ETHPORT-5-IF_UP: Interface Ethernet1/1 is up")
    sub(r, timestamp="2024-01-15T09:01:02.000000Z", app_name="ETHPORT", msgid="IF_UP",
        msg="Interface Ethernet1/1 is up", dialect="cisco")


def test_cisco_ios_xr_subfacility_and_process():
    r = p(b"<189>12345: RP/0/RSP0/CPU0:Mar  1 18:46:11.123 UTC: ifmgr[123]: %PKT_INFRA-LINK-3-UPDOWN : Interface down")
    sub(r, app_name="PKT_INFRA-LINK", procid="123", msgid="UPDOWN", msg="Interface down", dialect="cisco")


def test_asa_without_header():
    r = p(b"<166>%ASA-6-302013: Built outbound TCP connection 1 for outside:203.0.113.9/443")
    sub(r, pri=166, severity=6, timestamp=None, hostname=None, app_name="ASA", msgid="302013",
        msg="Built outbound TCP connection 1 for outside:203.0.113.9/443", dialect="cisco", errors=[])
    assert r["cisco"] == {"seq": None, "facility": "ASA", "severity": 6, "mnemonic": "302013",
                          "clock_mark": None, "uptime": None}


def test_asa_with_timestamp_and_device_id():
    r = p(b"<166>Jan 15 2024 10:01:02 fw01 : %ASA-6-302013: Built outbound TCP connection 1234")
    sub(r, timestamp="2024-01-15T10:01:02.000000Z", hostname="fw01", app_name="ASA", msgid="302013",
        msg="Built outbound TCP connection 1234", dialect="cisco", errors=[])


def test_asa_with_timestamp_without_device_id():
    r = p(b"<166>Jan 15 2024 10:01:02: %ASA-4-106023: Deny tcp src outside:198.51.100.7/40188")
    sub(r, timestamp="2024-01-15T10:01:02.000000Z", hostname=None, msgid="106023", dialect="cisco")


def test_asa_leading_spaces_and_newline():
    r = p(b"   <166>%ASA-6-302014: Teardown TCP connection 1\r\n")
    sub(r, pri=166, msgid="302014", msg="Teardown TCP connection 1", errors=[])


def test_asa_rfc5424_style_timestamp():
    r = p(b"<166>2024-01-15T10:01:02Z fw01 : %ASA-6-302013: Built")
    sub(r, timestamp="2024-01-15T10:01:02.000000Z", hostname="fw01", dialect="cisco")


def test_cisco_without_pri_takes_severity_from_the_mnemonic():
    r = p(b"%ASA-3-710003: TCP access denied")
    sub(r, pri=None, facility=None, severity=3, dialect="cisco", errors=["no pri"])


# ---------------------------------------------------------------- other and robustness


def test_fortigate_key_values():
    r = p(b'<189>date=2024-01-15 time=10:01:07 devname="FGT60F" devid="FGT60FTK1234" tz="+0100" logid="0000000013"')
    sub(r, pri=189, timestamp="2024-01-15T09:01:07.000000Z", hostname="FGT60F", app_name=None, dialect="unknown",
        msg='date=2024-01-15 time=10:01:07 devname="FGT60F" devid="FGT60FTK1234" tz="+0100" logid="0000000013"',
        errors=[])


def test_fortigate_without_tz_is_utc():
    r = p(b"<189>date=2024-01-15 time=10:01:07 devname=FG100 type=traffic")
    sub(r, timestamp="2024-01-15T10:01:07.000000Z", hostname="FG100")


def test_unknown_text_is_kept_whole():
    r = p(b"hello without any header\n")
    sub(r, pri=None, timestamp=None, msg="hello without any header", dialect="unknown",
        errors=["no pri", "no syslog header"])


def test_invalid_utf8_is_replaced_and_reported():
    r = p(b"<13>Jan 15 10:00:00 h a: caf\xe9")
    sub(r, msg="caf\ufffd", errors=["invalid utf-8 replaced"])


def test_empty_input():
    sub(p(b""), msg="", dialect="unknown", errors=["no pri", "no syslog header"])


def test_accepts_str_bytearray_and_memoryview():
    line = "<13>Jan 15 10:00:00 h a: x"
    expected = p(line.encode())
    assert parse_syslog(line, RECV) == parse_syslog(bytearray(line.encode()), RECV) == expected
    assert parse_syslog(memoryview(line.encode()), RECV) == expected


def test_vendor_samples_file():
    dialects = [p(line)["dialect"] for line in (SAMPLES / "vendors.log").read_bytes().splitlines()]
    assert dialects == ["rfc3164", "rfc3164", "rfc5424", "rfc3164", "cisco", "cisco", "unknown", "rfc3164",
                        "rfc5424", "rfc5424", "rfc3164", "unknown"]


_VALUE_TYPES = {
    "pri": (int, type(None)), "facility": (int, type(None)), "severity": (int, type(None)),
    "version": (int, type(None)), "timestamp": (str, type(None)), "hostname": (str, type(None)),
    "app_name": (str, type(None)), "procid": (str, type(None)), "msgid": (str, type(None)),
    "structured_data": (dict, type(None)), "msg": (str,), "dialect": (str,), "errors": (list,),
    "cisco": (dict, type(None)),
}


def _check_shape(r: dict) -> None:
    assert tuple(r) == KEYS
    for key, types in _VALUE_TYPES.items():
        assert isinstance(r[key], types), key
    assert r["dialect"] in ("rfc5424", "rfc3164", "cisco", "unknown")
    assert all(isinstance(e, str) and not e.startswith("parser error") for e in r["errors"])
    if r["timestamp"] is not None:
        assert datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00")).tzinfo is not None


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_never_raises_on_arbitrary_bytes(data):
    _check_shape(parse_syslog(data, RECV))


_header_text = st.text(
    alphabet=st.sampled_from(list("<>[]=\"\\ :%*.-+_/0123456789TZabcJanFebMarDecASAGLINK@\n\t\ufeff\x00é")),
    max_size=120,
)


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=0, max_value=999), st.sampled_from(["", "1 ", "1 2024-01-15T10:01:02Z ", "Jan 15 10:00:00 ",
                                                                 "12: *Mar  1 18:46:11.123 CET: "]),
       _header_text, st.datetimes(timezones=st.just(UTC)))
def test_never_raises_on_text_after_a_pri(pri, lead, text, received):
    _check_shape(parse_syslog(f"<{pri}>{lead}{text}".encode(), received))


_token = st.text(alphabet=st.sampled_from(list("ab1:[]%-. 0")), min_size=0, max_size=8)


@settings(max_examples=500, deadline=None)
@given(
    st.integers(min_value=0, max_value=200),
    st.sampled_from(["Jan", "Feb", "Dec", "jan", "Xyz"]),
    st.sampled_from([" 1", "1", "29", "31", "09"]),
    st.sampled_from(["00:00:00", "23:59:59", "24:00:00", "12:60:00", "10:01:02"]),
    st.sampled_from(["", " 2024", " 1999"]),
    _token, _token, _token, _token,
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)),
)
def test_fast_path_agrees_with_general_path(pri, mon, day, hms, year, host, tag, pid, msg, received):
    line = f"<{pri}>{mon} {day} {hms}{year} {host} {tag}[{pid}]: {msg}"
    for text in (line, line.replace(f"[{pid}]", "")):
        assert parse_unguarded(text.encode(), received, True) == parse_unguarded(text.encode(), received, False)


# ---------------------------------------------------------------- vigie parse syslog


def _cli(data: bytes, framing: str = "lines") -> tuple[int, list[dict]]:
    out = io.StringIO()
    rc = run(io.BytesIO(data), out, framing=framing)
    return rc, [loads(line) for line in out.getvalue().splitlines()]


def test_cli_lines():
    rc, rows = _cli((SAMPLES / "vendors.log").read_bytes())
    assert rc == 0
    assert len(rows) == 12
    assert all(tuple(r) == KEYS for r in rows)
    assert rows[4]["cisco"]["mnemonic"] == "UPDOWN"


def test_cli_octet_counting():
    m1, m2 = b"<13>1 - h a - - - one\n", b"<13>Jan 15 10:00:00 h a: two"
    rc, rows = _cli(b"%d %s%d %s" % (len(m1), m1, len(m2), m2), "octet-counting")
    assert rc == 0
    assert [r["msg"] for r in rows] == ["one", "two"]


def test_cli_non_transparent_with_nul():
    rc, rows = _cli(b"<13>Jan 15 10:00:00 h a: one\x00<13>Jan 15 10:00:00 h a: two\n", "non-transparent")
    assert [r["msg"] for r in rows] == ["one", "two"]


def test_cli_reports_truncated_frames():
    rc, rows = _cli(b"<13>Jan 15 10:00:00 h a: " + b"x" * 70000 + b"\n")
    assert rc == 0
    assert len(rows[0]["msg"]) == 65536 - len("<13>Jan 15 10:00:00 h a: ")
    assert rows[0]["errors"] == ["frame truncated (70025 bytes)"]


def test_cli_bad_framing():
    assert run(io.BytesIO(b""), io.StringIO(), framing="udp") == 2


def test_the_codecs_load_no_producer_pipeline_or_command_line_module() -> None:
    """vigie.codecs is shared by every side: importing it must not pull in any of them."""
    code = (
        "import sys, vigie.codecs.syslog, vigie.codecs.timestamps\n"
        "print('\\n'.join(m for m in sys.modules if m.startswith('vigie.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = [m for m in out.split() if not m.startswith(("vigie.codecs", "vigie.schemas"))]
    assert loaded == []
