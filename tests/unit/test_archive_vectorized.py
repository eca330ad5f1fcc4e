"""The vectorised archive enrichment must give exactly what the per-row parser and extractors give."""

from __future__ import annotations

import ast
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_connlog import ALL_TABLES
from vigie.pipelines.archive.connlog import EXTRACTORS
from vigie.pipelines.archive.formats import FORMATS, Format
from vigie.pipelines.archive.formats.values import MAX_LEN, Reject
from vigie.pipelines.archive.sink import enrich as sink_enrich
from vigie.pipelines.archive.vectorized import GUARD_ORDER, enrich, enrich_rowwise, fallback_share

HERE = Path(__file__).parent
REFS = [
    datetime(2024, 5, 1, 10, 30, tzinfo=UTC),
    datetime(2024, 1, 1, 0, 0, 30, tzinfo=UTC),  # BSD "Dec 31" stamps belong to the previous year
    datetime(2023, 12, 31, 23, 59, 59, tzinfo=UTC),
    datetime(2024, 2, 29, 12, 0, tzinfo=UTC),
]


def assert_same(raws: list[bytes], reference: datetime) -> None:
    """Column by column, naming the first differing row (a mismatch is a fast-path bug)."""
    want = enrich_rowwise(raws, reference)
    got = enrich(raws, reference)
    assert list(got) == list(want)
    for name, col in want.items():
        assert got[name].type == col.type, name
        if not got[name].equals(col):
            a, b = col.to_pylist(), got[name].to_pylist()
            i = next(i for i in range(len(a)) if a[i] != b[i])
            pytest.fail(f"{name} differs on {raws[i][:300]!r}: per-row {a[i]!r}, vectorised {b[i]!r}")


def harvested() -> list[bytes]:
    """Every sample line of the connection-extractor and syslog-parser tests (read, not imported) and vendors.log."""
    out: list[bytes] = []
    for name in ("test_connlog.py", "test_syslog_parser.py"):
        for node in ast.walk(ast.parse((HERE / name).read_text())):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str | bytes)
                and len(node.value) >= 4
            ):
                out.append(node.value if isinstance(node.value, bytes) else node.value.encode())
    out += (HERE / "samples" / "syslog" / "vendors.log").read_bytes().splitlines()
    return out


def ip4(r: random.Random) -> str:
    return f"{r.randrange(1, 224)}.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}"


def ip6(r: random.Random) -> str:
    return r.choice(
        [
            f"2001:db8::{r.randrange(1, 0xFFFF):x}",
            f"2001:0db8:0000:0000:0000:0000:0000:{r.randrange(1, 0xFFFF):04x}",
            f"::ffff:{ip4(r)}",
            f"fe80::{r.randrange(1, 0xFFFF):x}:{r.randrange(1, 0xFFFF):x}",
        ]
    )


def addr(r: random.Random) -> str:
    k = r.random()
    if k < 0.7:
        return ip4(r)
    if k < 0.9:
        return ip6(r)
    return r.choice(["999.1.1.1", "1.2.3", "010.0.0.1", "-", "", "abc", "1.2.3.4.5", "::ffff:1.2.3"])


def port(r: random.Random) -> str:
    return r.choice(
        [str(r.randrange(65536)), str(r.randrange(1024)), "65536", "99999", "", "-", "0x50", "007"]
    )


def headers(r: random.Random) -> list[str]:
    """Syslog headers the lines may come with (BSD, RFC 5424, relays, none, odd ones)."""
    mon = r.choice(["Jan", "Feb", "May", "Dec", "Foo", "jan", "MAY"])
    day = r.choice([" 1", "01", "1", "29", "30", "31", "00"])
    hh = r.choice(["10", "23", "00", "24", "9"])
    sec = r.choice(["12", "59", "60"])
    frac = r.choice(["", ".123", ".123456", ".1234567"])
    tz = r.choice(["Z", "+01:00", "-07:00", "+23:59", "+24:00", "+0100"])
    host = r.choice(["fw01", "2024", "h", "asa-1.example.org", "-"])
    return [
        "",
        f"<{r.randrange(200)}>{mon} {day} {hh}:11:{sec} {host} kernel: ",
        f"<{r.randrange(200)}>{mon} {day} {hh}:11:{sec} 2024 {host} tag[{r.randrange(99999)}]: ",
        f"<13>{mon} {day} {hh}:11:{sec}{frac} {host} app: ",
        f"<13>{mon} {day} {hh}:11:{sec} {host} ",
        f"<{r.randrange(200)}>1 2024-05-01T{hh}:11:{sec}{frac}{tz} {host} app - - - ",
        f'<14>1 2024-12-31T23:59:{sec}{frac}{tz} {host} filterlog 123 ID47 [ex@1 a="b"] ',
        f"<14>1 - {host} - - - [x@1] ",
        f"<14>1 2024-05-01 {host} app - - ",
        f"<166>{mon} {day} 2024 {hh}:11:{sec} {host} : ",
        f"<166>{mon} {day} {hh}:11:{sec}{frac} {host} : ",
        f"<166>{r.randrange(99)}: {mon} {day} {hh}:11:{sec}: ",
        "<166>",
        " <13>May  1 10:11:12 fw01 app: ",
        "<1234>May  1 10:11:12 fw01 app: ",
    ]


def bodies(r: random.Random) -> list[str]:
    """Connection-log bodies of every vectorised format, with random values and deliberate near misses."""
    a, b, n = addr(r), addr(r), addr(r)
    sp, dp, np_ = port(r), port(r), port(r)
    proto = r.choice(["TCP", "UDP", "ICMP", "47", "tcp", "ICMPv6", "SCTP", ""])
    asa_id = r.choice(
        ["302013", "302014", "302015", "302016", "305011", "305012", "302020", "106023", "199999"]
    )
    seq = r.choice(["", f"{r.randrange(10**6)}: "])
    user = r.choice(["", " (LOCAL\\jdupont)", " (*****)", " (a, b)", " ()"])
    prefix = r.choice(
        ["[UFW BLOCK] ", "DROP: ", "ACCEPT ", "", "[12345.678] ", "[  99.001] [UFW ALLOW] ", "LOGIN"]
    )
    mac = r.choice(
        [
            "00:11:22:33:44:55:66:77:88:99:aa:bb:08:00",
            "",
            "00:11",
            "zz:11:22:33:44:55:66:77:88:99:aa:bb:08:00",
        ]
    )
    ver = r.choice(["4", "6", "5"])
    dhcp_kind = r.choice(["DHCPACK", "DHCPOFFER", "DHCPRELEASE", "DHCPINFORM", "DHCPDISCOVER", "DHCPNAK"])
    dhcp_paren = r.choice(["", " (laptop)", " (00:11:22:33:44:55)", f" ({'x' * 70})", " (host_name)", " ()"])
    dhcp_mac = r.choice(
        ["", " to 00:11:22:33:44:55", " from 0:1:2:3:4:5 (pc)", " to zz:11", f" to {'a' * 70}", f" to aa ({'y' * 300})"]
    )
    squid_code = r.choice(["TCP_TUNNEL", "TCP_DENIED", "NONE", "TAG_NONE", "UDP_MISS", "TCP_HIT", "HIT", "NONE_NONE"])
    squid_user = r.choice(["-", "jdoe", '"x"', "*"])
    squid_method = r.choice(["CONNECT", "GET", "connect", "POST"])
    squid_url = r.choice(
        [
            "www.example.org:443",
            f"{b}:{dp}",
            "[2001:db8::1]:443",
            "[2001:db8::1]",
            f"http://{b}/x?y",
            f"https://u@{b}:{dp}/p",
            "http://[2001:db8::2]:8080/",
            "ftp://files.example.org/a",
            "/relative/path",
            "host:99999",
            "a:b:c",
            "ws://x?q=http://y/",
        ]
    )
    return [
        f"{prefix}IN=eth0 OUT=eth1 MAC={mac} SRC={a} DST={b} LEN=60 TOS=0x00 PROTO={proto} SPT={sp} DPT={dp} WINDOW=1",
        f"{prefix}IN=eth0 OUT= PHYSIN=x SRC={a} DST={b} LEN=60 PROTO={proto}",
        f"{prefix}IN=eth0 OUT= SRC={a} DST={b} {'X' * r.choice([10, 250, 300])} PROTO={proto} SPT={sp} DPT={dp}",
        f"{seq}%ASA-6-{asa_id}: Built {r.choice(['inbound', 'outbound'])} {proto or 'TCP'} connection "
        f"{r.randrange(10**9)} for outside:{a}/{dp} ({a}/{dp}){user} to inside:{b}/{sp} ({n}/{np_}){user}",
        f"%ASA-6-{asa_id}: Teardown {proto or 'UDP'} connection {r.randrange(10**9)} for outside:{a}/{dp}{user} "
        f"to inside:{b}/{sp} duration 0:00:{r.randrange(60):02d} bytes {r.choice(['0', '1234', '9' * 19])}"
        f"{r.choice(['', ' TCP FINs', ' TCP FINs (jdupont) ', ' (x'])}",
        f"%FTD-6-{asa_id}: Built dynamic {proto or 'TCP'} translation from inside:{a}/{sp}{user} to outside:{n}/{np_}",
        f"%ASA-6-{asa_id}: Teardown static translation from inside(x):{a} to outside :{n}/{np_} duration 0:00:01",
        f"5,,,1000000103,igb1,match,{r.choice(['block', 'pass', 'reject', 'weird', 'BAD!'])},"
        f"{r.choice(['in', 'out'])},{ver},0x0,,64,0,0,DF,6,{proto.lower()},60,{a},{b},{sp},{dp},0,S",
        f"filterlog[1]: 77,,,1000008105,em0,match,pass,out,6,0x00,0x00000,255,{proto.lower()},17,60,{a},{b},{sp},{dp},60",
        f"filterlog: 5,,,1,igb0,match,block,in,{ver},0x0,,56,0,0,none,1,icmp,84,{a},{b}",
        f'date=2024-05-01 time=10:11:12 devname="FGT60F" type="traffic" srcip={a} srcport={sp} dstip={b} '
        f"dstport={dp} proto=6 action={r.choice(['close', 'deny', 'odd word'])} transip={n} transport={np_}",
        f"DHCPACK on {a} to 00:11:22:33:44:55 (laptop) via eth0",
        f"{dhcp_kind} {r.choice(['on', 'for', 'to', 'from', 'at'])} {a}{dhcp_paren}{dhcp_mac} via {r.choice(['eth0', ' x', ''])}",
        f"DHCPACK({r.choice(['eth0', 'br-lan'])}) {a} 00:11:22:33:44:55 laptop",
        f"1714558272.123 5 {a} TCP_TUNNEL/200 1 CONNECT www.example.org:443 u1 HIER_DIRECT/{b} -",
        f"{r.choice(['1714558272.123', '171455827.5', '17145582720.123'])} {r.choice(['5', '-1', 'x'])} "
        f"{r.choice([a, '-'])} {squid_code}/{r.choice(['200', '000', '403', '503', '407'])} "
        f"{r.choice(['0', '1234', '9' * 19])} {squid_method} {squid_url} {squid_user} "
        f"{r.choice(['HIER_DIRECT', 'HIER_NONE', 'FIRSTUP_PARENT', 'ORIGINAL_DST', 'PINNED'])}/{r.choice([b, '-', 'proxy2'])} -",
        f"sshd[99]: Accepted password for jdoe from {a} port {sp} ssh2",
        "CRON[123]: (root) CMD (run-parts /etc/cron.hourly) 50% done",
        "nothing to see here",
    ]


def cisco_headers(r: random.Random) -> list[str]:
    """Cisco IOS / NX-OS / IOS-XR / ASA headers: sequence numbers, '*' and '.' clock marks, zones, uptimes,
    with and without a relay header or host, and near misses of parser._CISCO's lookahead and bounds."""
    mon = r.choice(["Mar", "May", "Dec", "Foo", "jan"])
    day = r.choice([" 1", "1", "01", "31", "30"])
    hh = r.choice(["18", "23", "00", "24", "9"])
    ss = r.choice(["11", "59", "60", "61"])
    frac = r.choice(["", ".1", ".123", ".123456", ".1234567", ".123456789"])
    tz = r.choice(["", " UTC", " CET", " cest", " XYZ", " +02:00", " -0530", " +25:00", " ABCDEFG"])
    mark = r.choice(["", "*", "."])
    seq = r.choice([str(r.randrange(10**6)), "0", "1234567890", "12345678901", "000042"])
    host = r.choice(["sw1", "core-rtr.example.org", "10.0.0.1", "2024"])
    clock = f"{mark}{mon} {day} {hh}:46:{ss}{frac}{tz}"
    return [
        f"<189>{seq}: {clock}: ",
        f"<189>{seq}: {host}: {clock}: ",
        f"<189>{clock}: ",
        f"<187>{mon} {day} {hh}:11:{ss} {host} {seq}: {clock}: ",
        f"<187>{mon} {day} {hh}:11:{ss} {host} ",
        f"<187>{mon} {day} {hh}:11:{ss} {host}  ",
        f"<187>{mon} {day} {hh}:11:{ss}{frac} {host} {seq}: ",
        f"<187>{mon} {day} 2024 {hh}:11:{ss} {host} : ",
        f"<187>{mon} {day} 2024 {hh}:11:{ss} {host} : {seq}: ",
        f"<187>2024-05-01T{hh}:11:{ss}{frac}Z {host} {seq}: {clock}: ",
        f"<187>2024-05-01 {hh}:11:{ss} {host} ",
        f"<187>{mon} {day} {hh}:11:{ss} {host} {seq} : ",  # space before ':' fails the lookahead
        f"<187>{mon} {day} {hh}:11:{ss} {host} {seq}:x ",
        f"<187>{mon} {day} {hh}:11:{ss} {host} x{seq}: ",
        f"<187>{mon} {day} {hh}:11:{ss} {host} {clock}: ",
        f"<187>{mon} {day} {hh}:11:{ss} {host} origin: ",
        f"<189>{seq}: {r.choice(['00:01:23', '1d02h', '2w3d', '1y2w3d4h', '12:34:56.789'])}: ",
        f"<189>{seq}: RP/0/RSP0/CPU0:{clock}: bgpd[1052]: ",
        f"<189>: 2024 {mon} {day} {hh}:46:{ss}{frac} {tz.strip() or 'UTC'}: ",
        f"<189>{seq} : {clock}: ",
        f"<189>1 {clock}: ",
        "<189>12 - ",
        f"<189>{seq}:\t{clock} :\t",
        f"<999>{seq}: {clock}: ",
        f"<189>{host} : ",
        "<189>",
        "",
    ]


def cisco_bodies(r: random.Random) -> list[str]:
    return [
        f"%LINK-3-UPDOWN: Interface GigabitEthernet0/{r.randrange(48)}, changed state to up",
        "%SYS-5-CONFIG_I: Configured from console by admin on vty0 (10.0.0.9)",
        "%ETHPORT-5-IF_DOWN_LINK_FAILURE: Interface Ethernet1/1 is down",
        "%SEC_LOGIN-5-LOGIN_SUCCESS : Login Success [user: x]",
        "%lower-3-X: not a facility",
        "%LINK-9-UPDOWN: severity out of range",
        "%LINK-3-UPDOWN:",
        "%LINK-3-UPDOWN",
        "% Invalid input detected",
        f"%ASA-6-302013: Built outbound TCP connection 1 for outside:{ip4(r)}/443 ({ip4(r)}/443) to inside:{ip4(r)}/5 "
        f"({ip4(r)}/6)",
    ]


def forti_value(r: random.Random, v: str) -> str:
    return r.choice([v, v, f'"{v}"', f'"{v} x"', '""', f'"{v}=1"', "", v + '"x"', f"{v},y"])


def forti_bodies(r: random.Random) -> list[str]:
    """FortiGate key=value lines: quoting, spaces and '=' in quoted values, missing keys, IPv6, odd orders,
    keys written as the end of longer keys, and what sends a line to _kv's full scan."""
    a, b, n = addr(r), addr(r), addr(r)
    pairs = [
        f"type={forti_value(r, r.choice(['traffic', 'traffic', 'event', 'utm']))}",
        f"srcip={forti_value(r, a)}",
        f"srcport={forti_value(r, port(r))}",
        f"dstip={forti_value(r, b)}",
        f"dstport={port(r)}",
        f"proto={r.choice(['6', '17', '1', '58', 'tcp', '999', ''])}",
        f"action={forti_value(r, r.choice(['close', 'deny', 'accept', 'server-rst', 'Weird', 'odd word']))}",
        f"transip={n}",
        f"transport={port(r)}",
        f"sentbyte={r.choice(['0', '1234', '9' * 19, '-', 'x'])}",
        f"rcvdbyte={r.choice(['0', '5678', ''])}",
        f'user="{r.choice(["jdupont", "", "N/A", "a b"])}"',
        f"unauthuser={forti_value(r, 'guest')}",
        f"srcmac={forti_value(r, r.choice(['00:11:22:33:44:55', 'AA-BB-CC-DD-EE-FF', 'zz']))}",
        "sessionid=" + r.choice(["1234", "x" * 130, 'a"b']),
        f'subtype="{r.choice(["forward", "local"])}"',
        'utmaction="block"',
        'craction=131072',
        f"mastersrcmac={r.choice(['00:11:22:33:44:66', 'x'])}",
        "shaperdropsentbyte=7",
        f'msg="{r.choice(["srcip=6.6.6.6 user=evil", "a b", "x=y", "plain"])}"',
        f'srcname="{r.choice(["pc srcip=6.6.6.6", "pc 01"])}"',
        f"devname={forti_value(r, 'FGT60F')}",
    ]
    r.shuffle(pairs)
    keep = [p for p in pairs if r.random() < 0.85]
    sep = r.choice([" ", " ", " ", "  ", "\t"])
    body = sep.join(keep)
    head = r.choice(["date=2024-05-01 time=10:11:12 ", "date=2024-05-01 time=10:11:12 tz=\"+0200\" ", ""])
    return [
        head + body,
        head + body.replace("srcip=", "srcip= x srcip=", 1),
        head + body + ' x="unclosed',
        head + body + ' esc="a\\"b"',
        head + 'devname="x"srcip=' + a + " type=traffic srcport=1 dstip=" + b,
        "srcip=" + a + ' type="traffic" dstip=' + b + " proto=6 srcport=1 dstport=2",
        "type=traffic " + body,
        f'date=2024-05-01 time=10:11:12 type="traffic" srcip={a} dstip={b} proto=6 srcport={port(r)} '
        f'dstport={port(r)} action="deny" sentbyte=1 rcvdbyte=2 sessionid=9 user="u1" srcmac="00:11:22:33:44:55"',
    ]


def radius_bodies(r: random.Random) -> list[str]:
    user = r.choice(["jdupont", "jdupont/secret", "host/pc01.example.fr/x", "", " * ", "a]b", "x" * 300, "N/A"])
    cli = r.choice(
        ["00-11-22-33-44-55", "00:11:22:33:44:55", "0011.2233.4455", ip4(r), "2001:db8::1", "+33612345678", "x)", ""]
    )
    tail = r.choice(
        [
            "",
            f" (from client ap{r.randrange(40)} port 0 cli {cli})",
            " (from client ap1 port 12)",
            f" (from client ap1 port 0 cli {cli}) via TLS tunnel",
            " (from client ap1)",
            f"(from client ap1 port 0 cli {cli})",
        ]
    )
    paren = r.choice(["", " (Login OK again)", f" ({'p' * 310})", " (TLS Alert read:fatal:unknown CA)", " [x]"])
    res = r.choice(["Login OK", "Login incorrect", "Invalid user", "Login ok"])
    return [
        f"({r.randrange(1000)}) {res}{paren}: [{user}]{tail}",
        f"({r.randrange(1000)}) {res}: [{user}] (from client ap1 port 0 cli {cli})",
        f"Auth: Login incorrect: [{user}] (from client ap1 port 0 cli {cli}) DHCP",
        f"Login OK: [{user}] logtype=x",
        f"Acct-Status-Type = Start, User-Name = \"{user}\", Framed-IP-Address = {addr(r)}, Calling-Station-Id = {cli}",
        f"Login OK: [{user}] Framed-IP-Address = {addr(r)}",
        f"Invalid user: [{user}] (from client ap1 port 0)",
    ]


def near_miss_lines(seed: int, count: int) -> list[bytes]:
    r = random.Random(seed)
    out: list[bytes] = []
    for _ in range(count):
        k = r.random()
        if k < 0.4:
            line = r.choice(cisco_headers(r)) + r.choice(cisco_bodies(r))
        elif k < 0.75:
            line = r.choice(["", "<189>", "<189>", "<13>May  1 10:11:12 fw01 app: "]) + r.choice(forti_bodies(r))
        else:
            line = r.choice(headers(r)) + r.choice(radius_bodies(r))
        if r.random() < 0.03:
            line += r.choice(["\r\n", "\n", " "])
        out.append(line.encode())
    return out


def random_lines(seed: int, count: int) -> list[bytes]:
    r = random.Random(seed)
    out: list[bytes] = []
    for _ in range(count):
        line = r.choice(headers(r)) + r.choice(bodies(r))
        k = r.random()
        if k < 0.03:
            line += r.choice(["\r\n", "\n", "\x00", " "])
        elif k < 0.05:
            line = line.replace("e", "é", 1)
        elif k < 0.06:
            line += " X" * 9000  # over 16384 characters: not scanned for connections
        data = line.encode()
        if r.random() < 0.02:
            data = data[:20] + b"\xff\xfe" + data[20:]
        out.append(data)
    return out


def test_empty_batch() -> None:
    got = enrich([], REFS[0])
    assert all(len(v) == 0 for v in got.values())
    assert list(got) == list(enrich_rowwise([], REFS[0]))


def test_the_dispatch_matches_the_extractor_order() -> None:
    """The fast path decides rows by the first guard that passes, in connlog's order."""
    assert tuple(name for name, _, _ in EXTRACTORS[: len(GUARD_ORDER)]) == GUARD_ORDER


def ascii_lines() -> list[str]:
    """The harvested lines the column-wise extractors may see: pure ASCII, within the length limit."""
    lines = []
    for raw in harvested():
        text = raw.decode("utf-8", "replace")
        if text.isascii() and 0 < len(text) <= MAX_LEN:
            lines.append(text)
    return lines


def own_samples(fmt: Format) -> list[str]:
    """The sample lines of test_connlog's tables that the row-wise driver gives to this format."""
    return [line for table in ALL_TABLES for line, row in table if row["conn_format"] == fmt.name]


def reference_row(fmt: Format, line: str) -> dict | None:
    """fmt's row-wise extractor as extract_connection runs it (a refused value means no row)."""
    try:
        return fmt.extract(line)
    except (Reject, ValueError, IndexError, TypeError):
        return None


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_a_formats_needles_are_its_guard(fmt: Format) -> None:
    """The column-wise dispatch evaluates each guard with the format's needles: they must agree, and the
    first one (the format's needs) must be in every line the guard passes."""
    near_misses = []  # each own sample without one of its space-separated tokens: a guard literal may go
    for line in own_samples(fmt):
        tokens = line.split(" ")
        near_misses += [" ".join(tokens[:i] + tokens[i + 1 :]) for i in range(len(tokens))]
    lines = ascii_lines() + own_samples(fmt) + near_misses
    passed = 0
    for line in lines:
        by_needles = all(re.search(needle, line) for needle in fmt.needles)
        assert fmt.guard(line) == by_needles, line
        passed += by_needles
    assert passed, f"no sample line passes the guard of {fmt.name}"


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_a_formats_column_extractor_equals_its_row_extractor(fmt: Format) -> None:
    """On every line a format's column-wise extractor accepts, its columns are the row-wise extractor's row,
    and it accepts some of the format's own samples; formats without one are decided row by row."""
    samples = own_samples(fmt)
    assert samples, f"no sample line in test_connlog.py for {fmt.name}"
    if fmt.columns is None:
        lines = [line.encode() for line in samples]
        got, want = enrich(lines, REFS[0]), enrich_rowwise(lines, REFS[0])
        assert all(got[k].equals(want[k]) for k in want)
        return
    lines = [line for line in samples if line.isascii()] + ascii_lines()
    cols, ok = fmt.columns(pa.array(lines, pa.string()))
    accepted = ok.fill_null(False).to_pylist()
    assert any(accepted[: len(samples)]), f"the column extractor of {fmt.name} accepts none of its samples"
    values = {name: col.to_pylist() for name, col in cols.items()}
    for i, line in enumerate(lines):
        if accepted[i]:
            want = reference_row(fmt, line)
            assert want is not None, line
            got = {name: values[name][i] if name in values else None for name in want}
            assert got == want, line


def test_the_sink_uses_the_vectorised_enrich() -> None:
    assert sink_enrich is enrich


@pytest.mark.parametrize("reference", REFS)
def test_harvested_samples(reference: datetime) -> None:
    assert_same(harvested(), reference)


@pytest.mark.parametrize("reference", REFS)
def test_harvested_samples_behind_headers(reference: datetime) -> None:
    """The bare sample bodies of the extractor tests, behind every kind of syslog header."""
    r = random.Random(7)
    lines = []
    for body in harvested():
        for head in headers(r):
            lines.append(head.encode() + body)
    assert_same(lines, reference)


@pytest.mark.parametrize("seed", range(6))
def test_random_mix(seed: int) -> None:
    assert_same(random_lines(seed, 3000), REFS[seed % len(REFS)])


@pytest.mark.parametrize("seed", range(8))
def test_near_misses_of_the_cisco_fortigate_and_radius_paths(seed: int) -> None:
    assert_same(near_miss_lines(seed, 2500), REFS[seed % len(REFS)])


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 60), st.sampled_from(REFS))
def test_hypothesis_near_misses(seed: int, count: int, reference: datetime) -> None:
    assert_same(near_miss_lines(seed, count), reference + timedelta(seconds=seed % 86400))


def test_cisco_ios_fortigate_and_radius_take_the_fast_path() -> None:
    """The clean shapes of these formats no longer go through the per-row code."""
    lines = [
        b"<187>May  1 10:11:12 sw3 %LINK-3-UPDOWN: Interface GigabitEthernet0/1, changed state to up",
        b"<189>123: *Mar  1 18:46:11.123 UTC: %SYS-5-CONFIG_I: Configured from console by vty0",
        b"<189>124: sw1: .Mar  1 18:46:11: %SYS-5-CONFIG_I: Configured from console by vty0",
        b"<189>Mar  1 18:46:11 rtr1 125: Mar  1 18:46:11.5 CET: %LINK-3-UPDOWN: Interface Gi0/1",
        b"<189>126: 00:01:23: %LINK-3-UPDOWN: Interface Gi0/2",
        b'<189>date=2024-05-01 time=10:11:12 devname="FGT60F" logid="0000000013" type="traffic" subtype="forward" '
        b'srcip=10.0.0.1 srcport=5000 dstip=2001:db8::1 dstport=443 sessionid=1 proto=6 action="close" '
        b'utmaction="allow" transip=81.2.3.4 transport=6000 sentbyte=1 rcvdbyte=2 shaperdropsentbyte=0 '
        b'srcname="pc 01" mastersrcmac="00:11:22:33:44:55" srcmac="00:11:22:33:44:55" unauthuser="g" user="u"',
        b"<38>May  1 10:11:12 radius01 radiusd[1]: (1) Login OK: [u1] (from client ap1 port 0 cli 00-11-22-33-44-55)",
        b"<38>May  1 10:11:12 radius01 radiusd[1]: (2) Login incorrect (bad pw): [u2/x] (from client ap1 port 0)",
    ]
    assert_same(lines, REFS[0])
    assert fallback_share(lines, REFS[0]) == (0.0, 0.0)


def test_realistic_mix_mostly_takes_the_fast_path() -> None:
    """The point of the module: on clean firewall traffic the per-row code is the exception."""
    r = random.Random(3)
    lines = []
    for i in range(3000):
        a, d, sp, dp = f"10.0.{r.randrange(256)}.{r.randrange(1, 255)}", ip4(r), r.randrange(1024, 65535), 443
        lines.append(
            r.choice(
                [
                    f"<4>May  1 10:11:{i % 60:02d} fw01 kernel: [1.5] [UFW BLOCK] IN=eth0 OUT= SRC={a} DST={d} "
                    f"LEN=60 PROTO=TCP SPT={sp} DPT={dp} WINDOW=1",
                    f"<166>May 01 2024 10:11:12 asa01 : %ASA-6-302013: Built outbound TCP connection {i} for "
                    f"outside:{d}/{dp} ({d}/{dp}) to inside:{a}/{sp} (81.2.3.4/{sp + 1})",
                    f"<166>%ASA-6-302014: Teardown TCP connection {i} for outside:{d}/{dp} to inside:{a}/{sp} "
                    f"duration 0:00:01 bytes {i}",
                    f"<134>1 2024-05-01T10:11:12.{i:06d}Z pf01 filterlog 1 - - 5,,,1000000103,igb1,match,block,in,4,"
                    f"0x0,,64,0,0,DF,6,tcp,60,{a},{d},{sp},{dp},0,S",
                    f"<38>May  1 10:11:12 srv1 CRON[{i}]: (root) CMD (run-parts /etc/cron.hourly)",
                    f"<30>May  1 10:11:12 dhcp01 dhcpd[1]: DHCPACK on {a} to 00:11:22:33:44:{i % 256:02x} (pc-{i}) "
                    "via eth0",
                    f"<134>1 2024-05-01T10:11:12Z proxy01 squid - - - 1714558272.123 5 {a} TCP_TUNNEL/200 {i} "
                    f"CONNECT www.example.org:443 u{i % 50} HIER_DIRECT/{d} -",
                    f"<134>1 2024-05-01T10:11:12Z proxy01 squid - - - 1714558272.123 5 {a} TCP_MISS/200 {i} "
                    f"GET http://{d}/x?y=1 - HIER_DIRECT/{d} text/html",
                ]
            ).encode()
        )
    assert_same(lines, REFS[0])
    assert fallback_share(lines, REFS[0]) == (0.0, 0.0)


line_parts = st.sampled_from(
    [
        "<13>",
        "<166>",
        "<189>",
        "<14>1 ",
        "May  1 10:11:12 ",
        "Dec 31 23:59:60 ",
        "2024 ",
        "fw01 ",
        " : ",
        ": ",
        "kernel: ",
        "tag[12]: ",
        "%ASA-6-302013: ",
        "%ASA-6-302014: ",
        "%ASA-6-305011: ",
        "%FTD-4-",
        "IN=",
        "IN=eth0 ",
        "OUT= ",
        "SRC=",
        "DST=",
        "PROTO=TCP ",
        "PROTO=",
        "SPT=1 ",
        "DPT=65536 ",
        "MAC=",
        "192.0.2.1",
        "2001:db8::1",
        "::ffff:10.0.0.1",
        "/443",
        " (",
        ")",
        "Built outbound TCP connection 1 for ",
        "Teardown UDP connection 2 for ",
        "outside:",
        "inside:",
        " to ",
        "duration 0:00:01 bytes 12 ",
        ",",
        ",in,4,",
        ",out,6,",
        "match,block,",
        "date=2024-05-01 time=10:11:12 ",
        'devname="x" ',
        "tz=+02:00 ",
        "type=traffic srcip=",
        "logtype=",
        "DHCP",
        " port ",
        "\t",
        "\x0b",
        "\x1c",
        "é",
        "\n",
        "\r",
        "\x00",
        "[",
        "]",
        '"',
        "%",
        "-",
        "Z",
        "T",
        "2024-05-01T10:11:12.5+01:00 ",
        "123: ",
        "*Mar  1 18:46:11.123 UTC: ",
        "%LINK-3-UPDOWN: ",
        "sw1 ",
        "srcip=10.0.0.1 ",
        " type=traffic",
        "subtype=x ",
        'user="a b" ',
        "unauthuser=",
        '="',
        "Login OK: [u] ",
        "(from client ap1 port 0 cli 00-11-22-33-44-55)",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.lists(line_parts, max_size=14).map("".join), min_size=1, max_size=40), st.sampled_from(REFS)
)
def test_hypothesis_spliced_fragments(lines: list[str], reference: datetime) -> None:
    assert_same([x.encode() for x in lines], reference)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=120), min_size=1, max_size=20), st.sampled_from(REFS))
def test_hypothesis_garbage_bytes(lines: list[bytes], reference: datetime) -> None:
    assert_same(lines, reference)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 60), st.sampled_from(REFS))
def test_hypothesis_generated_mix(seed: int, count: int, reference: datetime) -> None:
    assert_same(random_lines(seed, count), reference + timedelta(seconds=seed % 86400))


def test_timestamp_column_type() -> None:
    got = enrich([b"<13>May  1 10:11:12 fw01 app: x"], REFS[0])
    assert got["timestamp"].type == pa.timestamp("us", tz="UTC")
    assert got["timestamp"][0].as_py() == datetime(2024, 5, 1, 10, 11, 12, tzinfo=UTC)


def test_one_pass_rewrites_of_the_header_regexes() -> None:
    """The header regexes rewritten for RE2's one-pass engine (PRI bound checked apart, RFC 5424 stamp cut
    after capture, relay clock and facility in deterministic form) accept and refuse what they did before."""
    bodies_ = [
        "%ASA-6-302014: Teardown TCP connection 1 for a:1.2.3.4/1 to b:5.6.7.8/2 duration 0:00:01 bytes 1",
        "%LINK-3-UPDOWN: Interface Gi0/1, changed state to up",
        "x",
    ]
    lines: list[str] = []
    for pri in ("0", "000", "099", "13", "191", "192", "199", "999", "1000", ""):
        lines.append(f"<{pri}>May  1 10:11:12 fw01 kernel: x")
        lines.append(f"<{pri}>May  1 10:11:12 2024 fw01 tag[1]: x")
    for stamp in (
        "2024-05-01T10:11:12Z",
        "2024-05-01T10:11:12.5Z",
        "2024-05-01T10:11:12.123456+01:00",
        "2024-05-01T10:11:12.1234567Z",
        "2024-05-01T10:11:60.25-07:00",
        "2024-12-31T23:59:59.999999+14:00",
        "2024-05-01T10:11:12+0100",
        "2024-05-01T10:11:12.Z",
        "2024-05-01T10:11:12",
        "-",
    ):
        for host_app in ("pf01 filterlog", "- -", "h -", " app"):
            lines.append(f"<134>1 {stamp} {host_app} 5 - - x")
    for clock in (
        "May 01 2024 10:11:12",
        "May  1 1:02:03",
        "May 01 202 10:11:12",
        "May 01 20245 10:11:12",
        "May 01 2024 1:2:03",
        "Dec 31 23:59:59.123456789",
        "May 1 10:11:12.1234567890",
    ):
        for facility in ("%ASA-6-302014:", "%SEC_LOGIN-5-LOGIN_SUCCESS :", "%A-B-C-6-X:", "%LINK-8-X:", "%link-3-X:"):
            lines.append(f"<166>{clock} asa01 : {facility} {bodies_[0]}")
            lines.append(f"<187>{clock} sw1 {facility} {bodies_[1]}")
        lines.append(f"<166>{facility} {bodies_[2]}")
    raws = [x.encode() for x in lines]
    for reference in REFS:
        assert_same(raws, reference)
    clean = [
        b"<191>May  1 10:11:12 fw01 kernel: x",
        b"<134>1 2024-05-01T10:11:12.123456+01:00 pf01 filterlog 5 - - x",
        b"<134>1 - - - 5 - - x",
        b"<166>May 01 2024 10:11:12 asa01 : %ASA-6-302014: x",
        b"<166>%A-B-C-6-X: x",
    ]
    assert fallback_share(clean, REFS[0])[0] == 0.0


def test_guards_on_dense_and_sparse_batches() -> None:
    """A guard searches the whole column when most rows are wanted and the wanted rows alone otherwise:
    batches of one format, and of one line of it among others, give the per-row result either way."""
    r = random.Random(11)
    formats = [
        f"<4>May  1 10:11:12 fw01 kernel: [UFW BLOCK] IN=eth0 OUT= SRC={ip4(r)} DST={ip4(r)} LEN=60 PROTO=TCP SPT=1 DPT=2",
        f"<134>1 2024-05-01T10:11:12Z proxy01 squid - - - 1714558272.123 5 {ip4(r)} TCP_MISS/200 1 GET "
        f"http://{ip4(r)}/x - HIER_DIRECT/{ip4(r)} -",
        f"<30>May  1 10:11:12 dhcp01 dhcpd[1]: DHCPACK on {ip4(r)} to 00:11:22:33:44:55 (pc) via eth0",
        "<38>May  1 10:11:12 r1 radiusd[1]: (1) Login OK: [u1] (from client ap1 port 0 cli 00-11-22-33-44-55)",
        "<86>May  1 10:11:12 srv1 sshd[1]: Accepted password for jdoe from 10.0.0.1 port 22 ssh2",
        f"<134>1 2024-05-01T10:11:12Z pf01 filterlog 1 - - 5,,,1,igb1,match,block,in,4,0x0,,64,0,0,DF,6,tcp,60,"
        f"{ip4(r)},{ip4(r)},1,2,0,S",
    ]
    filler = "<78>May  1 10:11:12 srv1 CRON[1]: (root) CMD (run-parts /etc/cron.hourly)"
    for line in formats:
        assert_same([line.encode()] * 50, REFS[0])
        assert_same([filler.encode()] * 49 + [line.encode()], REFS[0])


# Lines that look like the common ASA connection form (read by one-pass regexes) and lines that just miss
# it: user brackets anywhere, addresses the full regex refuses ("::", "1::", "1.2.3."), odd separators,
# ports at and past the bounds, IPv6, a second message head, lower case, newlines.
ASA_BODIES = [
    "%ASA-6-302013: Built outbound TCP connection 123 for outside:8.8.8.8/443 (8.8.8.8/443) to inside:10.0.0.1/5555 (81.2.3.4/6666)",
    "%ASA-6-302013: Built inbound TCP connection 123 for outside:8.8.8.8/5555 (8.8.8.8/5555) to inside:10.0.0.1/80 (81.2.3.4/80)",
    "%ASA-6-302015: Built outbound UDP connection 9 for outside:8.8.8.8/53 (8.8.8.8/53) to inside:10.0.0.1/5555 (10.0.0.1/5555)",
    "%ASA-6-302013: Built outbound Probe SCTP connection 9 for outside:8.8.8.8/53 (8.8.8.8/53) to inside:10.0.0.1/0 (10.0.0.1/65535)",
    "%ASA-6-302013: Built outbound TCP connection 9 for outside:8.8.8.8/53 (8.8.8.8/53) to inside:10.0.0.1/65536 (10.0.0.1/5)",
    "%ASA-6-302013: Built outbound TCP connection 9 for outside:8.8.8.8/99999 (8.8.8.8/53) to inside:10.0.0.1/1 (10.0.0.1/5)",
    "%ASA-6-302013: Built outbound TCP connection 9 for outside:2001:db8::1/443 (2001:db8::1/443) to inside:fe80::1/5555 (::ffff:1.2.3.4/6666)",
    "%ASA-6-302013: Built outbound TCP connection 9 for outside:::/443 (1.2.3.4/443) to inside:10.0.0.1/5555 (1.2.3.4/6666)",
    "%ASA-6-302013: Built outbound TCP connection 9 for outside:1::/443 (1.2.3.4/443) to inside:10.0.0.1/5555 (1.2.3.4/6666)",
    "%ASA-6-302013: Built outbound TCP connection 9 for outside:1.2.3./443 (1.2.3.4/443) to inside:10.0.0.1/5555 (1.2.3.4/6666)",
    "%ASA-6-302013: Built outbound TCP connection 9 for outside:1.2.3.4/443 (1.2.3.4./443) to inside:10.0.0.1/5555 (1.2.3.4/6666)",
    "%ASA-6-302013: Built outbound TCP connection 9 for outside:1.2.3.4/443 (1.2.3.4/443) to inside:10.0.0.1/5555 (1.2.3.4/6666) (LOCAL\\bob)",
    "%ASA-6-302013: Built outbound TCP connection 9 for outside:1.2.3.4/443 (1.2.3.4/443) to inside:10.0.0.1/5555 (1.2.3.4/6666)(LOCAL\\bob)",
    "%ASA-6-302013: Built outbound TCP connection 9 for outside:1.2.3.4/443 (1.2.3.4/443) to inside:10.0.0.1/5555 (1.2.3.4/6666)   (alice)",
    "%ASA-6-302013: Built outbound TCP connection 9 for outside:1.2.3.4/443 (1.2.3.4/443)(carol) to inside:10.0.0.1/5555 (1.2.3.4/6666) (dave)",
    "%ASA-6-302013: Built inbound TCP connection 9 for outside:1.2.3.4/443 (1.2.3.4/443) (carol) to inside:10.0.0.1/5555 (1.2.3.4/6666)",
    "%ASA-6-302013: Built outbound TCP connection 9 for outside:1.2.3.4/443 (1.2.3.4/443) to inside:10.0.0.1/5555 (1.2.3.4/6666) extra words",
    "%ASA-6-302013: Built outbound TCP connection 9 for outside:1.2.3.4/443 (1.2.3.4/443) to inside:10.0.0.1/5555 (1.2.3.4/6666)\n(bob)",
    "%ASA-6-302013: Built outbound TCP connection 9 for outside:1.2.3.4/443 (1.2.3.4/443) to inside:10.0.0.1/5555",
    "%ASA-6-302013: built outbound TCP connection 9 for outside:1.2.3.4/443 (1.2.3.4/443) to inside:10.0.0.1/5555 (1.2.3.4/6666)",
    "%ASA-6-302013: Built outbound tcp connection 9 for outside:1.2.3.4/443 (1.2.3.4/443) to inside:10.0.0.1/5555 (1.2.3.4/6666)",
    "%ASA-6-302013 Built outbound TCP connection 9 for outside:1.2.3.4/443 (1.2.3.4/443) to inside:10.0.0.1/5555 (1.2.3.4/6666)",
    "%ASA-6-302013::Built outbound TCP connection 9 for outside:1.2.3.4/443 (1.2.3.4/443) to inside:10.0.0.1/5555 (1.2.3.4/6666)",
    "%ASA-6-302013:\tBuilt outbound TCP connection 9 for outside:1.2.3.4/443 (1.2.3.4/443) to inside:10.0.0.1/5555 (1.2.3.4/6666)",
    "%FTD-session-6-302013: Built outbound TCP connection 9 for outside:1.2.3.4/443 (1.2.3.4/443) to inside:10.0.0.1/5555 (1.2.3.4/6666)",
    "%PIX-6-302015: Built outbound UDP connection 9 for out side:1.2.3.4/443 (1.2.3.4/443) to inside:10.0.0.1/5555 (1.2.3.4/6666)",
    "%ASA-6-302013: Built outbound TCP connection 9 for outside:1.2.3.4/443 (1.2.3.4/443) to in:side:10.0.0.1/5555 (1.2.3.4/6666)",
    "%ASA-6-1234: x %ASA-6-302013: Built outbound TCP connection 9 for outside:1.2.3.4/443 (1.2.3.4/443) to inside:10.0.0.1/5555 (1.2.3.4/6666)",
    "%ASA-6-302014: Teardown TCP connection 9 for outside:1.2.3.4/443 (1.2.3.4/443) to inside:10.0.0.1/5555 (1.2.3.4/6666)",
    "%ASA-6-302014: Teardown TCP connection 77 for outside:8.8.8.8/443 to inside:10.0.0.1/5555 duration 0:00:01 bytes 123 TCP FINs",
    "%ASA-6-302014: Teardown TCP connection 77 for outside:8.8.8.8/5555 to inside:10.0.0.1/80 duration 0:00:01 bytes 123 TCP FINs",
    "%ASA-6-302014: Teardown TCP connection 77 for outside:8.8.8.8/5555 to inside:10.0.0.1/80 duration 0:00:01 bytes 123",
    "%ASA-6-302014: Teardown TCP connection 77 for outside:8.8.8.8/5555 to inside:10.0.0.1/80 duration 0:00:01 bytes 123 TCP FINs (bob)",
    "%ASA-6-302014: Teardown TCP connection 77 for outside:8.8.8.8/5555 to inside:10.0.0.1/80 duration 0:00:01 bytes 123 TCP FINs (bob)  ",
    "%ASA-6-302014: Teardown TCP connection 77 for outside:8.8.8.8/5555 to inside:10.0.0.1/80 duration 0:00:01 bytes 123 (x) y",
    "%ASA-6-302014: Teardown TCP connection 77 for outside:8.8.8.8/5555 to inside:10.0.0.1/80 duration 0:00:01 bytes 123 TCP\n(bob)",
    "%ASA-6-302014: Teardown TCP connection 77 for outside:8.8.8.8/5555 (alice) to inside:10.0.0.1/80 duration 0:00:01 bytes 123 TCP FINs",
    "%ASA-6-302014: Teardown TCP connection 77 for outside:8.8.8.8/5555 to inside:10.0.0.1/80(eve) duration 0:00:01 bytes 123 TCP FINs",
    "%ASA-6-302014: Teardown TCP connection 77 for outside:8.8.8.8/5555 to inside:10.0.0.1/80 duration 0:00:01 bytes 1234567890123456789 x",
    "%ASA-6-302016: Teardown UDP connection 77 for outside:2001:db8::2/53 to inside:2001:DB8::3/5000 duration 0:00:01 bytes 0",
    "%ASA-6-302016: Teardown UDP connection 77 for outside:::/53 to inside:1.2.3.4/5000 duration 0:00:01 bytes 0",
    "%ASA-6-302016: Teardown UDP connection 77 for outside:1.2.3.4/65535 to inside:1.2.3.4/0 duration 0:00:01 bytes 0",
    "%ASA-6-302016: Teardown UDP connection 77 for outside:1.2.3.4/65536 to inside:1.2.3.4/0 duration 0:00:01 bytes 0",
    "%ASA-6-302014: Teardown TCP connection 77 for outside:8.8.8.8/5555 to inside:10.0.0.1/80 duration 0:00:01 bytes",
    "%ASA-6-302014: Teardown TCP connection 77 for outside:8.8.8.8/5555 to inside:10.0.0.1/80 duration 0:00:01 bytes 12\u00e9",
    "%ASA-6-305011: Built dynamic TCP translation from inside:10.0.0.1/5555 to outside:81.2.3.4/6666",
    "%ASA-6-305012: Teardown dynamic UDP translation from inside:10.0.0.1/5555 to outside:81.2.3.4/6666 duration 0:00:30",
    '%ASA-4-106023: Deny tcp src outside:1.2.3.4/5 dst inside:10.0.0.1/22 by access-group "x"',
]
# FortiGate lines split into tokens (plain: quotes only as key="value" without whitespace, "=", quote or
# backslash inside) and lines that just miss that form or hold a trap for the first-value rule.
FORTI_BODIES = [
    'type="traffic" subtype="forward" srcip=10.0.0.1 srcport=5555 dstip=8.8.8.8 dstport=443 proto=6 action="close" sentbyte=1 rcvdbyte=2 user="bob" sessionid=42',
    "type=traffic srcip=10.0.0.1 srcport=0 dstip=8.8.8.8 dstport=65535 proto=17 action=accept",
    "type=traffic srcip=10.0.0.1 srcport=65536 dstip=8.8.8.8 dstport=1 proto=6",
    "type=traffic srcip=2001:db8::1 dstip=::1 proto=6 srcport=1 dstport=2 transip=:: transport=3",
    "type=traffic srcip=10.0.0.1 srcip=10.0.0.2 dstip=8.8.8.8 proto=6",
    "type=traffic srcip=10.0.0.1 dstip=8.8.8.8 proto=6 dstip=9.9.9.9 user=a user=b",
    "type=traffic srcip= dstip=8.8.8.8 proto=6",
    'type=traffic srcip= x srcip="1.2.3.4" proto=6',
    'type=traffic srcip=10.0.0.1 user="" proto=6',
    'type=traffic srcip="10.0.0.1" dstip="8.8.8.8" proto="6" action="deny"',
    'type=traffic srcip=10.0.0.1 app="HTTPS BROWSING" dstip=8.8.8.8 proto=6',
    'type=traffic srcip=10.0.0.1 msg="srcip=9.9.9.9" dstip=8.8.8.8 proto=6',
    'type=traffic msg="a srcip=9.9.9.9" srcip=10.0.0.1 proto=6',
    "type=traffic srcip=10.0.0.1\tdstip=8.8.8.8 proto=6",
    'type=traffic srcip=10.0.0.1 x="a"dstip=8.8.8.8 proto=6',
    'type=traffic srcip=10.0.0.1 x="a\\"b" dstip=8.8.8.8 proto=6',
    'type=traffic srcip=10.0.0.1 x="ab dstip=8.8.8.8 proto=6',
    "type=traffic SRCIP=10.0.0.1 srcip=10.0.0.2 proto=6",
    "type=TRAFFIC srcip=10.0.0.1 proto=6",
    "type=traffic srcip=10.0.0.1=5 proto=6",
    "type=traffic srcip srcip=10.0.0.3 proto=6",
    'type=traffic xsrcip=1.1.1.1 srcip=10.0.0.3 proto=6 unauthuser="carol" srcmac=00:11:22:33:44:55',
    "type=traffic  srcip=10.0.0.3   proto=6  ",
    " type=traffic srcip=10.0.0.3 proto=6 subtype=x utmaction=block action=deny",
    "type=traffic srcip=10.0.0.3 proto=6 sentbyte=12 rcvdbyte= ",
    "type=traffic srcip=10.0.0.3 proto=6 sentbyte=1234567890123456789 rcvdbyte=1",
    'type=traffic srcip=10.0.0.3 proto=6 sessionid="a b"',
    'type=traffic srcip=10.0.0.3 proto=6 sessionid="=x"',
    'type=traffic srcip=10.0.0.3 proto=6 sessionid=""',
    'type=traffic srcip=10.0.0.3 proto=6 x=="y"',
    'type=traffic srcip=10.0.0.3 proto=6 x="y"z',
    'type=traffic srcip=10.0.0.3 proto=6 x="y" ' + "k=v " * 1500,
    'type=traffic srcip=10.0.0.3 proto=6 srcmac="zz" action="weird act"',
    'type=traffic srcip=10.0.0.3 proto=6 action="Client-RST"',
    "type=traffic srcip=300.1.1.1 proto=6",
]
# Squid lines read as tokens (single spaces from the timestamp on) and lines that just miss that form: two
# spaces, a tab, a second record on the line, odd URLs, ports at and past the bounds, the peer cut by a tab.
SQUID_BODIES = [
    "1714558272.123 5 10.0.0.1 TCP_MISS/200 123 GET http://1.2.3.4/index.html u1 HIER_DIRECT/1.2.3.4 -",
    "1714558272.123 5 10.0.0.1 TCP_TUNNEL/200 123 CONNECT www.example.org:443 u1 HIER_DIRECT/93.184.216.34 -",
    "1714558272.123 5 10.0.0.1 TCP_DENIED/403 0 CONNECT [2001:db8::1]:443 - HIER_NONE/- -",
    "1714558272.123 -5 10.0.0.1 NONE/000 0 NONE error:invalid-request - HIER_NONE/- -",
    "1714558272.123 5 2001:db8::5 UDP_MISS/200 1 ICP_QUERY http://a.b/c?d=e u HIER_DIRECT/1.2.3.4",
    "1714558272.123 5 10.0.0.1 TCP_MISS/200 123 GET https://user@[::1]:8443/x?y u1 FIRSTUP_PARENT/10.0.0.9 text/html",
    "1714558272.123 5 10.0.0.1 TCP_MISS/200 123 GET http:///x u1 HIER_DIRECT/1.2.3.4 -",
    "1714558272.123 5 10.0.0.1 TCP_MISS/200 123 GET http://h:99999/x u1 HIER_DIRECT/1.2.3.4 -",
    "1714558272.123 5 10.0.0.1 TCP_MISS/200 123 GET http://h:0/x u1 HIER_DIRECT/1.2.3.4 -",
    "1714558272.123 5 10.0.0.1 TCP_MISS/200 123 GET http://h:65535?x u1 HIER_DIRECT/1.2.3.4/5 -",
    "1714558272.123 5 10.0.0.1 TCP_MISS/200 1234567890123456789 GET ftp://h/ u1 HIER_DIRECT/h -",
    "1714558272.123  5 10.0.0.1 TCP_MISS/200 123 GET http://1.2.3.4/ u1 HIER_DIRECT/1.2.3.4 -",
    "1714558272.123 5 10.0.0.1 TCP_MISS/200 123 GET http://1.2.3.4/ u1 HIER_DIRECT/1.2.3.4\t-",
    "1714558272.123\t5 10.0.0.1 TCP_MISS/200 123 GET http://1.2.3.4/ u1 HIER_DIRECT/1.2.3.4 -",
    "1714558272.123 5 10.0.0.1 TCP_MISS/200 123 GET http://1.2.3.4/ u1 HIER_DIRECT/1.2.3.4",
    "1714558272.123 5 10.0.0.1 tcp_miss/200 123 GET http://1.2.3.4/ u1 HIER_DIRECT/1.2.3.4",
    "1714558272.123 5 300.0.0.1 TCP_MISS/200 123 GET http://1.2.3.4/ u1 HIER_DIRECT/1.2.3.4",
    "1714558272.123 5 - TCP_MISS/200 123 GET http://1.2.3.4/ u1 HIER_DIRECT/1.2.3.4",
    "1714558272.12 5 10.0.0.1 TCP_MISS/200 123 GET http://1.2.3.4/ u1 HIER_DIRECT/1.2.3.4 1714558272.123 5 10.0.0.2 TCP_MISS/200 1 GET http://5.6.7.8/ u2 HIER_DIRECT/5.6.7.8",
    "x1714558272.123 5 10.0.0.1 TCP_MISS/200 123 GET http://1.2.3.4/ u1 HIER_DIRECT/1.2.3.4 1714558272.123 5 10.0.0.2 TCP_MISS/200 1 GET http://5.6.7.8/ u2 HIER_DIRECT/5.6.7.8",
    "1714558272.123 5 10.0.0.1 TCP_MISS/200 123 GET http://1.2.3.4/ u1 HIER_DIRECT/1.2.3.4 " + "x" * 6000,
    "1714558272.123 5 10.0.0.1 TCP_MISS/2000 123 GET http://1.2.3.4/ u1 HIER_DIRECT/1.2.3.4",
    "1714558272.123 5 10.0.0.1 TCP_MISS/200 123 GET http://1.2.3.4/ u1 HIER_DIRECT/ -",
    "1714558272.123 5 10.0.0.1 TAG_NONE/503 0 CONNECT 1.2.3.4:443 - HIER_NONE/- -",
    "1714558272.123 5 10.0.0.1 TCP_MISS/200 12 GET http://1.2.3.4/ \u00e9 HIER_DIRECT/1.2.3.4",
]
SQUID_HEAD = "<134>1 2024-05-01T10:11:12Z proxy01 squid - - - "
ASA_HEAD = "<166>May 01 2024 10:11:12 asa01 : "
FORTI_HEAD = '<189>date=2024-05-01 time=10:11:12 devname="FGT60F" devid="FGT60FTK1" logid="0000000013" '


def rewritten_lines() -> list[bytes]:
    """The ASA, FortiGate and Squid cases, with and without their usual headers, plus invalid UTF-8 variants."""
    lines = [ASA_HEAD + b for b in ASA_BODIES] + ASA_BODIES
    lines += [FORTI_HEAD + b for b in FORTI_BODIES] + FORTI_BODIES
    lines += [SQUID_HEAD + b for b in SQUID_BODIES] + SQUID_BODIES
    raws = [x.encode() for x in lines]
    return raws + [raws[0] + b"\xff", raws[len(ASA_BODIES) * 2] + b" user=\xc3("]


@pytest.mark.parametrize("reference", REFS[:2])
def test_asa_fortigate_and_squid_tokens(reference: datetime) -> None:
    """The ASA, FortiGate and Squid token reading gives the per-row result, in one batch (both
    paths mixed), as an Arrow column, and one line at a time (each path alone, empty or whole)."""
    raws = rewritten_lines()
    assert_same(raws, reference)
    got = enrich(pa.array(raws, pa.binary()), reference)
    want = enrich(raws, reference)
    assert all(got[k].equals(want[k]) for k in want)
    for raw in raws:
        assert_same([raw], reference)
        assert_same([raw, raw], reference)


def test_plain_asa_fortigate_and_squid_take_the_fast_path() -> None:
    """The shapes read as tokens are decided without the per-row code."""
    clean = [ASA_HEAD + ASA_BODIES[i] for i in (0, 1, 2, 3, 6, 29, 30, 31, 39)]
    clean += [FORTI_HEAD + FORTI_BODIES[i] for i in (0, 1, 3, 9, 21)]
    clean += [SQUID_HEAD + SQUID_BODIES[i] for i in (0, 1, 2, 4, 5)]
    raws = [x.encode() for x in clean]
    assert_same(raws, REFS[0])
    assert fallback_share(raws, REFS[0])[1] == 0.0


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["type", "srcip", "srcport", "dstip", "user", "action", "proto", "x", "sessionid"]),
            st.sampled_from(["=", "= ", '="', "", '=""', "==", '="a b"']),
            st.sampled_from(["10.0.0.1", "traffic", "6", "", '"', "a=b", "::1", "65535", "bob"]),
            st.sampled_from([" ", "  ", "\t", '"', ""]),
        ),
        min_size=1,
        max_size=12,
    ),
    st.booleans(),
)
def test_hypothesis_fortigate_tokens(parts: list[tuple[str, str, str, str]], head: bool) -> None:
    """Random key=value soups (duplicates, stray quotes, empty values, tabs) against _kv."""
    body = "type=traffic srcip=10.0.0.9 " + "".join(k + e + v + sep for k, e, v, sep in parts)
    raws = [((FORTI_HEAD if head else "") + body).encode(), FORTI_HEAD.encode() + FORTI_BODIES[0].encode()]
    assert_same(raws, REFS[0])


def netfilter_near_misses(r: random.Random) -> list[bytes]:
    """Netfilter lines around the token path's form: PHYS fields, no MAC, brackets, tabs, ICMP, odd ports."""
    out: list[bytes] = []
    for _ in range(400):
        head = r.choice(["<4>May  1 10:11:12 fw01 kernel: ", "<4>May  1 10:11:12 fw01 ulogd: ", "<4>"])
        ts = r.choice(["", "[12345.678] ", " [ 1.5]\t", "[x.1] ", "[12.5]] "])
        pre = r.choice(["[UFW BLOCK] ", "DROP ", "", "xIN=eth9 ", "a[b] "])
        fields = [
            f"IN={r.choice(['eth0', '', 'e[0'])}",
            f"OUT={r.choice(['eth1', ''])}",
            r.choice(["MAC=00:11:22:33:44:55:66:77:88:99:aa:bb:08:00", "MAC=", "PHYSIN=eth2 MAC=aa", ""]),
            f"SRC={r.choice([ip4(r), ip6(r), '', '1.2.3'])}",
            f"DST={r.choice([ip4(r), '010.1.1.1'])}",
            r.choice(["LEN=60 TOS=0x00", "LEN=60\tTOS=0x00", "LEN=[1]", "X=" + "a" * r.choice([10, 300])]),
            f"PROTO={r.choice(['TCP', 'UDP', 'ICMP', 'tcp', 'SCTP', 'PROTO=TCP'])}",
            r.choice(
                [f"SPT={port(r)} DPT={port(r)}", "SPT=1 DPT=2x", "SPT=1\tDPT=2", "TYPE=8 CODE=0", "SPT=123456 DPT=80", ""]
            ),
            r.choice(["WINDOW=29200 RES=0x00 SYN URGP=0", "", "PROTO=UDP SPT=1 DPT=2"]),
        ]
        fields = [f for f in fields if f]
        out.append((head + ts + pre + " ".join(fields)).encode())
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_netfilter_token_path_near_misses(seed: int) -> None:
    assert_same(netfilter_near_misses(random.Random(seed)), REFS[0])


def test_lanes_verify_the_earlier_guards() -> None:
    """A line whose header hints a format but where an earlier guard passes (or its own does not) is decided as
    the reference decides it, whatever the hint."""
    lines = [
        b"<30>May  1 10:11:12 dhcp01 dhcpd[812]: DHCPACK on 10.0.0.1 to 00:11:22:33:44:55 via eth0 srcip=1",
        b"<30>May  1 10:11:12 dhcp01 dhcpd[812]: DHCPACK on 10.0.0.1 to 00:11:22:33:44:55 via eth0 %ASA-6-1",
        b"<4>May  1 10:11:12 fw01 kernel: %FTD-6-302013: IN=eth0 OUT= SRC=1.2.3.4 DST=5.6.7.8 PROTO=TCP SPT=1 DPT=2",
        b"<4>May  1 10:11:12 fw01 kernel: IN=eth0 OUT= MAC= SRC=1.2.3.4 DST=5.6.7.8 LEN=1 PROTO=TCP SPT=1 DPT=2",
        b"<4>May  1 10:11:12 fw01 kernel: usb 1-1: new high-speed USB device number 2",
        b"<38>May  1 10:11:12 radius01 radiusd[1123]: Invalid user (x): [bob] (from client ap1 port 0)",
        b"<38>May  1 10:11:12 radius01 radiusd[1123]: Login OK: [bob] (from client ap1 port 0) DHCP",
        b"<134>1 2024-05-01T10:11:12Z proxy01 squid - - - 1714558272.123 5 10.0.0.1 ABC/200 12 GET "
        b"http://a/b u1 HIER_DIRECT/1.2.3.4 -",
        b"<134>1 2024-05-01T10:11:12Z proxy01 squid - - - 1714558272.123 5 10.0.0.1 TCP_MISS/200 12 GET "
        b"http://a/b u1 HIER_DIRECT/1.2.3.4 - Zone: x",
        b"<134>1 2024-05-01T10:11:12Z pf01 filterlog 5432 - - 5,,,1000000103,igb1,match,pass,in,4,0x0,,64,0,0,"
        b"DF,6,tcp,60,10.0.0.1,1.2.3.4,1,2,0,S,1234,,64240,,mss logtype=x",
        b'<189>date=2024-05-01 time=10:11:12 devname="F" type="traffic" srcip=10.0.0.1 dstip=1.2.3.4 proto=6 '
        b"SRC=1 PROTO=2",
        b"<166>May 01 2024 10:11:12 asa01 : %ASA-6-302013: Built outbound TCP connection 1 for outside:1.2.3.4/80 "
        b"(1.2.3.4/80) to inside:10.0.0.1/1234 (81.2.3.4/5)",
    ]
    for ref in REFS[:2]:
        assert_same(lines * 3, ref)
    assert_same(lines + netfilter_near_misses(random.Random(7)), REFS[0])


def round2_near_misses() -> list[bytes]:
    """Lines around the second round's shortcuts: IOS lines read by the relay regex, the trailing-NUL test by
    the last byte, the ASA message id by slicing, pfSense's CSV as the last token, FortiGate's clock and devname
    read once per distinct line start and its tz= gate, Squid's plain URL hosts and the joined canonical-IPv4
    check; plus NUL-ended, empty and NUL-only lines."""
    lines: list[str] = []
    for host_sep in (
        "sw1 ", "sw1  ", "sw1\t", "sw1 :", "sw1 : ", "sw1 :  ", "sw1  : ", "sw1\t: ", "sw1 :\t", "sw1 \x0b", "s%w1 ",
        "sw1 12: ", "sw1 : 12: ",
        "sw1 x: ", "2024 ", "", " ",
    ):
        for fac in ("%LINK-3-UPDOWN:", "%LINK-3-UPDOWN :", "%link-3-UPDOWN:", "%LINK-3-UPDOWN:x", "%LINK-3-:"):
            for clock in ("May  1 10:11:12 ", "May 01 2024 10:11:12 ", "Dec 31 23:59:59.5 ", ""):
                lines.append(f"<187>{clock}{host_sep}{fac} Interface Gi0/1, changed state to up")
    for tail in (
        "ASA-6-302013:", "ASA-6-30201:", "ASA-6-3020133:", "FWSM-6-302013:", "ASA-session-6-302013:",
        "ASA-10-302013:", "asa-6-302013:", "PIX-7-305011:", "FTD-6-302014:", "ASA-6-302013", "ASA-6-30201x:",
        "ASA-6-", "ASA-", "ASA-6-305009: Built dynamic TCP translation from inside:10.0.0.1/1 to outside:1.2.3.4/2",
    ):
        body = " Built outbound TCP connection 1 for outside:1.2.3.4/80 (1.2.3.4/80) to inside:10.0.0.1/1234 (81.2.3.4/5)"
        lines.append(f"<166>May 01 2024 10:11:12 asa01 : %{tail}{body}")
        lines.append(f"<166>%{tail}{body}")
    csv4 = "5,,,1000000103,igb1,match,pass,in,4,0x0,,64,0,0,DF,6,tcp,60,10.0.0.1,1.2.3.4,1,2,0,S,1234,,64240,,mss"
    csv6 = "5,,,1000000103,igb1,match,block,out,6,0x00,0x00000,64,tcp,6,20,2001:db8::1,2001:db8::2,1,2,0"
    head = "<134>1 2024-05-01T10:11:12Z pf01 filterlog 5432 - - "
    for csv in (csv4, csv6, csv4.replace("10.0.0.1", "010.0.0.1"), csv4.replace(",mss", ""), csv6 + ",x"):
        for fmt in ("{h}{c}", "{h}{c} ", "{h}{c} extra", "{h}{c}\textra", "{h}x:{c}", "{h}\t{c}", "{c}", "{h}{c} {c}",
                    "{h}{c}\x7f", "<134>1 2024-05-01T10:11:12Z 1,2,a,b,c,d,e,in,4,x filterlog 5 - - {c}", "{h}a{c}"):
            lines.append(fmt.format(h=head, c=csv))
    forti = "<189>date=2024-05-01 time=10:11:12 devname=\"F\" type=\"traffic\" srcip={s} dstip={d} proto=6 srcport=1 dstport=2"
    for tz in ("", ' tz="+0200"', " tz=-0700", " xtz=+0100", " tz=", ' tz="+02:00" tz=+0300', " a.tz=+0100", " tz=+1"):
        for s, d in (("10.0.0.1", "1.2.3.4"), ("2001:db8::1", "1.2.3.4"), ("010.0.0.1", "1.2.3.4"), ("1.2.3.4", "")):
            lines.append(forti.format(s=s, d=d) + tz)
    rest = ' type="traffic" srcip=10.0.0.1 dstip=1.2.3.4 proto=6 srcport=1 dstport=2'
    for clock in ("date=2024-05-01 time=10:11:12", "date=2024-05-01 time=1:02:03", "date=2024-05-01 time=10:11:123",
                  "date=2024-5-01 time=10:11:12", "date=2024-02-30 time=10:11:12", "date=2024-05-01 time=24:00:00"):
        for pri in ("<189>", "", "<1890>", "<189> "):
            for dev in ('devname="FGT60F"', "devname=F", "xdevname=G devname=H", 'devname=""', "devname=" + "D" * 40,
                        "a" * 20 + " devname=" + "E" * 20, "devid=X", "devname=I\tx", "x.devname=J"):
                lines.append(f"{pri}{clock} {dev}{rest}")
                lines.append(f"{pri}{clock} {dev}")
    nf = "<4>May  1 10:11:12 fw01 kernel: IN=eth0 OUT= MAC=00:11:22:33:44:55:66:77:88:99:aa:bb:08:00 SRC={s} DST={d} LEN=1 PROTO=TCP SPT=1 DPT=2"
    for s, d in (("1.2.3.4", "5.6.7.8"), ("1.2.3.4|5.6.7.8", "1.1.1.1"), ("::1", "1.1.1.1"), ("1.1.1.1", "256.1.1.1")):
        lines.append(nf.format(s=s, d=d))
    sq = "<134>1 2024-05-01T10:11:12Z proxy01 squid - - - 1714558272.123 5 10.0.0.1 TCP_MISS/200 1 {m} {u} u1 HIER_NONE/- -"
    for m in ("GET", "CONNECT", "get"):
        for u in ("http://1.2.3.4/x", "HTTP://h/x", "Https://h?x", "wss://h", "gopher://h/", "http://u@h/", "http://h:81/",
                  "http://[::1]/", "http://[::1]:82/", "http://h:/", "http://:80/", "://h/", "http://", "h:443", "h",
                  "ftp://a:b@h:21/", "http://h:99999/", "http://h/a://b"):
            lines.append(sq.format(m=m, u=u))
    raws = [x.encode() for x in lines]
    for nul in (b"\x00", b"", b"x\x00", b"\x00\x00", b"a\x00b"):
        raws += [nul, raws[0] + nul, raws[-1] + nul]
    return raws


@pytest.mark.parametrize("reference", REFS[:2])
def test_round2_shortcuts_near_misses(reference: datetime) -> None:
    raws = round2_near_misses()
    assert_same(raws, reference)
    r = random.Random(5)
    r.shuffle(raws)
    assert_same(raws, reference)
    # as an Arrow column, sliced (offset buffers) and with nulls
    arr = pa.array([None, *raws, None], pa.binary()).slice(1)
    got = enrich(arr, reference)
    want = enrich([*raws, b""], reference)
    assert all(got[k].slice(0, len(raws)).equals(want[k].slice(0, len(raws))) for k in want)
    for raw in raws[::7]:
        assert_same([raw], reference)


def test_round2_shortcuts_take_the_fast_path() -> None:
    lines = [
        b"<187>May  1 10:11:12 sw1 %LINK-3-UPDOWN: Interface Gi0/1, changed state to up",
        b"<134>1 2024-05-01T10:11:12Z pf01 filterlog 5432 - - 5,,,1000000103,igb1,match,pass,in,4,0x0,,64,0,0,DF,6,"
        b"tcp,60,10.0.0.1,1.2.3.4,1,2,0,S,1234,,64240,,mss",
        b'<189>date=2024-05-01 time=10:11:12 devname="F" type="traffic" srcip=10.0.0.1 dstip=1.2.3.4 proto=6 tz="+0200"',
    ]
    assert_same(lines, REFS[0])
    assert fallback_share(lines, REFS[0]) == (0.0, 0.0)


SQUID_CLIENTS = [
    "192.168.0.10",
    "192.168.0.10/51234",
    "192.168.0.10:51234",
    "192.168.0.10/99999",
    "192.168.0.10/",
    "192.168.0.10:",
    "192.168.0.10/1/2",
    "2001:db8::1",
    "2001:db8::1/5",
    "::ffff:10.0.0.1/80",
    "1.2.3.4:5:6",
    "proxy01",
    "-",
]


@pytest.mark.parametrize("reference", REFS[:1])
def test_squid_client_with_its_port(reference: datetime) -> None:
    """%>a/%>p and %>a:%>p (and near misses) read column-wise as the per-row code reads them; the canonical
    forms without the per-row code."""
    raws = [
        f"1286536309.450    233 {client} TCP_MISS/200 1234 GET http://example.com/ - HIER_DIRECT/93.184.216.34 "
        "text/html".encode()
        for client in SQUID_CLIENTS
    ]
    assert_same(raws, reference)
    for raw in raws:
        assert_same([raw], reference)
    ports = enrich(raws[:3], reference)["src_port"].to_pylist()
    assert ports == [None, 51234, 51234]
    assert fallback_share(raws[:3], reference)[1] == 0.0
