"""Connection-field extractors: vendor samples written from their documented formats, near misses, fuzzing."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.pipelines.archive import connlog
from vigie.pipelines.archive.connlog import CONN_COLUMNS, empty_connection, extract_connection
from vigie.pipelines.archive.connlog_cli import run
from vigie.pipelines.archive.formats import netfilter
from vigie.pipelines.archive.formats.values import norm_mac, valid_ip
from vigie.schemas.codec import loads


def expect(fmt: str, **values: object) -> dict:
    """The full row the extractor must return: every column, None unless given."""
    row = empty_connection()
    row["conn_format"] = fmt
    row.update(values)
    return row


def test_columns_are_the_archive_contract() -> None:
    assert CONN_COLUMNS == [
        "conn_format",
        "src_ip",
        "src_port",
        "dst_ip",
        "dst_port",
        "protocol",
        "nat_ip",
        "nat_port",
        "user",
        "mac",
        "action",
        "bytes",
        "session_id",
    ]
    assert empty_connection() == dict.fromkeys(CONN_COLUMNS)
    assert empty_connection() is not empty_connection()


# --------------------------------------------------------------------------- netfilter

NETFILTER = [
    (
        "<4>Jan 15 10:01:02 fw01 kernel: [12345.678] [UFW BLOCK] IN=eth0 OUT= "
        "MAC=00:11:22:33:44:55:66:77:88:99:aa:bb:08:00 SRC=203.0.113.9 DST=192.0.2.10 LEN=60 TOS=0x00 "
        "PREC=0x00 TTL=52 ID=54321 DF PROTO=TCP SPT=51234 DPT=22 WINDOW=29200 RES=0x00 SYN URGP=0",
        expect(
            "netfilter",
            src_ip="203.0.113.9",
            src_port=51234,
            dst_ip="192.0.2.10",
            dst_port=22,
            protocol="tcp",
            mac="66:77:88:99:aa:bb",
            action="deny",
        ),
    ),
    (
        "[UFW ALLOW] IN=eth0 OUT= MAC=00:11:22:33:44:55:DE:AD:BE:EF:00:01:08:00 SRC=192.168.1.20 "
        "DST=192.168.1.1 LEN=52 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=TCP SPT=40000 DPT=443 WINDOW=502 "
        "RES=0x00 ACK URGP=0",
        expect(
            "netfilter",
            src_ip="192.168.1.20",
            src_port=40000,
            dst_ip="192.168.1.1",
            dst_port=443,
            protocol="tcp",
            mac="de:ad:be:ef:00:01",
            action="allow",
        ),
    ),
    (  # forwarded, no MAC on the outgoing side, iptables prefix with colon and no space
        "Jan 15 10:01:02 gw kernel: FWD ACCEPT:IN=eth1 OUT=eth0 SRC=10.0.0.5 DST=8.8.8.8 LEN=72 TOS=0x00 "
        "PREC=0x00 TTL=63 ID=9 PROTO=UDP SPT=33000 DPT=53 LEN=52",
        expect(
            "netfilter",
            src_ip="10.0.0.5",
            src_port=33000,
            dst_ip="8.8.8.8",
            dst_port=53,
            protocol="udp",
            action="allow",
        ),
    ),
    (  # IPv6 is logged uncompressed: normalise it
        "kernel: [  99.001] DROP: IN=eth1 OUT=eth0 SRC=2001:0db8:0000:0000:0000:0000:0000:0001 "
        "DST=2001:0db8:0000:0000:0000:0000:0000:00a2 LEN=80 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=TCP "
        "SPT=50000 DPT=80 WINDOW=64800 RES=0x00 SYN URGP=0",
        expect(
            "netfilter",
            src_ip="2001:db8::1",
            src_port=50000,
            dst_ip="2001:db8::a2",
            dst_port=80,
            protocol="tcp",
            action="deny",
        ),
    ),
    (  # ICMP error quoting the offending packet: the outer addresses win, no ports
        "kernel: REJECT IN=eth0 OUT= SRC=192.0.2.1 DST=192.0.2.77 LEN=88 TOS=0x00 PREC=0xC0 TTL=64 ID=7 "
        "PROTO=ICMP TYPE=3 CODE=3 [SRC=192.0.2.77 DST=192.0.2.1 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=3 "
        "PROTO=UDP SPT=1000 DPT=2000 LEN=40 ]",
        expect("netfilter", src_ip="192.0.2.1", dst_ip="192.0.2.77", protocol="icmp", action="deny"),
    ),
    (  # nftables, neutral prefix: no action guessed
        "<4>Jan 15 10:01:02 srv kernel: nft-in IN=ens3 OUT= SRC=fe80::1 DST=ff02::1 LEN=72 TC=0 "
        "HOPLIMIT=255 FLOWLBL=0 PROTO=ICMPv6 TYPE=134 CODE=0",
        expect("netfilter", src_ip="fe80::1", dst_ip="ff02::1", protocol="icmpv6"),
    ),
    (  # numeric protocol, firewalld prefix
        "kernel: filter_IN_public_REJECT: IN=eth0 OUT= SRC=198.51.100.4 DST=192.0.2.5 LEN=40 TOS=0x00 "
        "PREC=0x00 TTL=240 ID=1 PROTO=47",
        expect("netfilter", src_ip="198.51.100.4", dst_ip="192.0.2.5", protocol="gre", action="deny"),
    ),
    (  # RFC 5424 framed; a host name that is a verb must not decide the action
        "<4>1 2024-01-15T10:01:02Z drop-gw kernel - - - IN=eth0 OUT= SRC=192.0.2.9 DST=192.0.2.10 "
        "LEN=60 PROTO=TCP SPT=1025 DPT=25",
        expect(
            "netfilter",
            src_ip="192.0.2.9",
            src_port=1025,
            dst_ip="192.0.2.10",
            dst_port=25,
            protocol="tcp",
        ),
    ),
    (  # the MAC field is destination (6 bytes), source (6), EtherType (2): the source is the client's; IPv6
        "kernel: [UFW BLOCK] IN=eth0 OUT= MAC=33:33:00:00:00:01:02:42:ac:11:00:02:86:dd SRC=2001:db8::2 "
        "DST=ff02::1 LEN=72 TC=0 HOPLIMIT=255 FLOWLBL=0 PROTO=UDP SPT=5353 DPT=5353 LEN=32",
        expect(
            "netfilter",
            src_ip="2001:db8::2",
            src_port=5353,
            dst_ip="ff02::1",
            dst_port=5353,
            protocol="udp",
            mac="02:42:ac:11:00:02",
            action="deny",
        ),
    ),
    (  # a VLAN tag kept in the header (18 bytes): the source MAC is still bytes 7-12 (was not read)
        "kernel: [12345.678] DROP IN=eth0.10 OUT= MAC=00:11:22:33:44:55:66:77:88:99:aa:bb:81:00:00:0a:08:00 "
        "SRC=10.10.0.5 DST=10.10.0.1 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=TCP SPT=40000 DPT=22 "
        "WINDOW=64240 RES=0x00 SYN URGP=0",
        expect(
            "netfilter",
            src_ip="10.10.0.5",
            src_port=40000,
            dst_ip="10.10.0.1",
            dst_port=22,
            protocol="tcp",
            mac="66:77:88:99:aa:bb",
            action="deny",
        ),
    ),
    (  # 18 bytes that are not a VLAN tag: no MAC taken
        "kernel: [12345.678] DROP IN=eth0 OUT= MAC=00:11:22:33:44:55:66:77:88:99:aa:bb:08:00:00:0a:08:00 "
        "SRC=10.10.0.5 DST=10.10.0.1 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=TCP SPT=40000 DPT=22 "
        "WINDOW=64240 RES=0x00 SYN URGP=0",
        expect(
            "netfilter",
            src_ip="10.10.0.5",
            src_port=40000,
            dst_ip="10.10.0.1",
            dst_port=22,
            protocol="tcp",
            action="deny",
        ),
    ),
    (  # nftables "log prefix", a link without an Ethernet header (ppp): no MAC
        "kernel: nft drop in: IN=ppp0 OUT= MAC= SRC=198.51.100.7 DST=203.0.113.5 LEN=40 TOS=0x00 PREC=0x00 "
        "TTL=245 ID=1 PROTO=TCP SPT=40000 DPT=23 WINDOW=1024 RES=0x00 SYN URGP=0",
        expect(
            "netfilter",
            src_ip="198.51.100.7",
            src_port=40000,
            dst_ip="203.0.113.5",
            dst_port=23,
            protocol="tcp",
            action="deny",
        ),
    ),
]


@pytest.mark.parametrize(("line", "row"), NETFILTER)
def test_netfilter(line: str, row: dict) -> None:
    assert extract_connection(line) == row
    assert netfilter.extract_netfilter(line) == row


# --------------------------------------------------------------------------- Mikrotik firewall

MIKROTIK_FW = [
    (
        "<134>Jan 15 10:01:02 rb01 firewall,info drop-fwd forward: in:ether2 out:ether1, "
        "src-mac 00:11:22:33:44:55, proto TCP (SYN), 192.168.88.10:51234->93.184.216.34:443, "
        "NAT (192.168.88.10:51234->203.0.113.5:51234)->93.184.216.34:443, len 60",
        expect(
            "mikrotik",
            src_ip="192.168.88.10",
            src_port=51234,
            dst_ip="93.184.216.34",
            dst_port=443,
            protocol="tcp",
            nat_ip="203.0.113.5",
            nat_port=51234,
            mac="00:11:22:33:44:55",
            action="deny",
        ),
    ),
    (
        "forward: in:bridge out:ether1, src-mac 4c:5e:0c:aa:bb:cc, proto UDP, 192.168.88.20:5353->"
        "8.8.8.8:53, len 61",
        expect(
            "mikrotik",
            src_ip="192.168.88.20",
            src_port=5353,
            dst_ip="8.8.8.8",
            dst_port=53,
            protocol="udp",
            mac="4c:5e:0c:aa:bb:cc",
        ),
    ),
    (
        "firewall,info input: in:ether1 out:(unknown 0), proto ICMP (type 8, code 0), "
        "198.51.100.3->203.0.113.5, len 84",
        expect("mikrotik", src_ip="198.51.100.3", dst_ip="203.0.113.5", protocol="icmp"),
    ),
]


@pytest.mark.parametrize(("line", "row"), MIKROTIK_FW)
def test_mikrotik_firewall(line: str, row: dict) -> None:
    assert extract_connection(line) == row


# --------------------------------------------------------------------------- Cisco ASA

ASA = [
    (  # outbound: the inside host (second) started it; its mapped socket is the public one
        "<166>Jan 15 10:01:02 asa01 : %ASA-6-302013: Built outbound TCP connection 1234567 for "
        "outside:93.184.216.34/443 (93.184.216.34/443) to inside:192.168.1.10/51234 (203.0.113.5/40001)",
        expect(
            "cisco_asa",
            src_ip="192.168.1.10",
            src_port=51234,
            dst_ip="93.184.216.34",
            dst_port=443,
            protocol="tcp",
            nat_ip="203.0.113.5",
            nat_port=40001,
            action="build",
            session_id="1234567",
        ),
    ),
    (  # inbound: the first address started it; no translation of the source
        "%ASA-6-302013: Built inbound TCP connection 991727 for outside:198.51.100.7/56310 "
        "(198.51.100.7/56310) to dmz:10.1.1.10/443 (203.0.113.10/443)",
        expect(
            "cisco_asa",
            src_ip="198.51.100.7",
            src_port=56310,
            dst_ip="10.1.1.10",
            dst_port=443,
            protocol="tcp",
            action="build",
            session_id="991727",
        ),
    ),
    (  # UDP, identity firewall user on the inside end and trailing AAA user
        "%ASA-6-302015: Built outbound UDP connection 42 for outside:8.8.8.8/53 (8.8.8.8/53) to "
        "inside:192.168.1.11/60000 (203.0.113.5/60000)(LOCAL\\jdupont) (jdupont)",
        expect(
            "cisco_asa",
            src_ip="192.168.1.11",
            src_port=60000,
            dst_ip="8.8.8.8",
            dst_port=53,
            protocol="udp",
            nat_ip="203.0.113.5",
            nat_port=60000,
            user="jdupont",
            action="build",
            session_id="42",
        ),
    ),
    (  # IDFW user only
        "%ASA-6-302013: Built outbound TCP connection 43 for outside:93.184.216.34/80 (93.184.216.34/80) "
        "to inside:192.168.1.12/50001 (203.0.113.5/50001) (CORP\\mmartin)",
        expect(
            "cisco_asa",
            src_ip="192.168.1.12",
            src_port=50001,
            dst_ip="93.184.216.34",
            dst_port=80,
            protocol="tcp",
            nat_ip="203.0.113.5",
            nat_port=50001,
            user="CORP\\mmartin",
            action="build",
            session_id="43",
        ),
    ),
    (  # FTD and IPv6
        "%FTD-6-302013: Built outbound TCP connection 77 for outside:2001:db8:ffff::1/443 "
        "(2001:db8:ffff::1/443) to inside:2001:db8:1::10/51000 (2001:db8:1::10/51000)",
        expect(
            "cisco_asa",
            src_ip="2001:db8:1::10",
            src_port=51000,
            dst_ip="2001:db8:ffff::1",
            dst_port=443,
            protocol="tcp",
            action="build",
            session_id="77",
        ),
    ),
    (
        "%ASA-6-302014: Teardown TCP connection 1234567 for outside:93.184.216.34/443 to "
        "inside:192.168.1.10/51234 duration 0:00:30 bytes 12345 TCP FINs from inside",
        expect(
            "cisco_asa",
            src_ip="192.168.1.10",
            src_port=51234,
            dst_ip="93.184.216.34",
            dst_port=443,
            protocol="tcp",
            action="teardown",
            bytes=12345,
            session_id="1234567",
        ),
    ),
    (  # a published inside server: the outside end is the source
        "%ASA-6-302014: Teardown TCP connection 991727 for outside:198.51.100.7/56310 to dmz:10.1.1.10/443 "
        "duration 1:02:03 bytes 987654 TCP Reset-O from outside (jdupont)",
        expect(
            "cisco_asa",
            src_ip="198.51.100.7",
            src_port=56310,
            dst_ip="10.1.1.10",
            dst_port=443,
            protocol="tcp",
            user="jdupont",
            action="teardown",
            bytes=987654,
            session_id="991727",
        ),
    ),
    (
        "%ASA-6-302016: Teardown UDP connection 42 for outside:8.8.8.8/53 to inside:192.168.1.11/60000 "
        "duration 0:02:01 bytes 512",
        expect(
            "cisco_asa",
            src_ip="192.168.1.11",
            src_port=60000,
            dst_ip="8.8.8.8",
            dst_port=53,
            protocol="udp",
            action="teardown",
            bytes=512,
            session_id="42",
        ),
    ),
    (
        "%ASA-6-302020: Built outbound ICMP connection for faddr 8.8.8.8/0 gaddr 203.0.113.5/1 "
        "laddr 192.168.1.10/1 type 8 code 0",
        expect(
            "cisco_asa",
            src_ip="192.168.1.10",
            dst_ip="8.8.8.8",
            protocol="icmp",
            nat_ip="203.0.113.5",
            action="build",
        ),
    ),
    (
        "%ASA-6-302020: Built inbound ICMP connection for faddr 198.51.100.7/1 gaddr 203.0.113.10/0 "
        "laddr 10.1.1.10/0 type 8 code 0",
        expect("cisco_asa", src_ip="198.51.100.7", dst_ip="10.1.1.10", protocol="icmp", action="build"),
    ),
    (
        "%ASA-6-302021: Teardown ICMP connection for faddr 8.8.8.8/0 gaddr 203.0.113.5/1 laddr 192.168.1.10/1",
        expect(
            "cisco_asa",
            src_ip="192.168.1.10",
            dst_ip="8.8.8.8",
            protocol="icmp",
            nat_ip="203.0.113.5",
            action="teardown",
        ),
    ),
    (
        "%ASA-6-305011: Built dynamic TCP translation from inside:192.168.1.10/51234 to "
        "outside:203.0.113.5/40001",
        expect(
            "cisco_asa",
            src_ip="192.168.1.10",
            src_port=51234,
            protocol="tcp",
            nat_ip="203.0.113.5",
            nat_port=40001,
            action="build",
        ),
    ),
    (
        "%ASA-6-305012: Teardown dynamic UDP translation from inside:192.168.1.11/60000 to "
        "outside:203.0.113.5/21000 duration 0:00:31",
        expect(
            "cisco_asa",
            src_ip="192.168.1.11",
            src_port=60000,
            protocol="udp",
            nat_ip="203.0.113.5",
            nat_port=21000,
            action="teardown",
        ),
    ),
    (
        "%ASA-6-305011: Built dynamic ICMP translation from inside:192.168.1.10/1 to outside:203.0.113.5/22",
        expect("cisco_asa", src_ip="192.168.1.10", protocol="icmp", nat_ip="203.0.113.5", action="build"),
    ),
    (
        "%ASA-6-305009: Built static translation from inside(acl_nat):10.1.1.10 to outside:203.0.113.10",
        expect("cisco_asa", src_ip="10.1.1.10", nat_ip="203.0.113.10", action="build"),
    ),
    (
        '%ASA-4-106023: Deny tcp src outside:198.51.100.7/40000 dst inside:10.1.1.5/22 by access-group "outside_in" [0x0, 0x0]',
        expect(
            "cisco_asa",
            src_ip="198.51.100.7",
            src_port=40000,
            dst_ip="10.1.1.5",
            dst_port=22,
            protocol="tcp",
            action="deny",
        ),
    ),
    (
        '%ASA-4-106023: Deny icmp src outside:198.51.100.7 dst inside:10.1.1.5 (type 8, code 0) by access-group "outside_in" [0x0, 0x0]',
        expect("cisco_asa", src_ip="198.51.100.7", dst_ip="10.1.1.5", protocol="icmp", action="deny"),
    ),
    (
        '%ASA-4-106023: Deny protocol 47 src outside:198.51.100.7 dst inside:10.1.1.5 by access-group "outside_in"',
        expect("cisco_asa", src_ip="198.51.100.7", dst_ip="10.1.1.5", protocol="gre", action="deny"),
    ),
    (
        '%ASA-4-106023: Deny udp src inside:2001:db8:1::10/5353 dst outside:2001:db8:ffff::53/53 by access-group "in"',
        expect(
            "cisco_asa",
            src_ip="2001:db8:1::10",
            src_port=5353,
            dst_ip="2001:db8:ffff::53",
            dst_port=53,
            protocol="udp",
            action="deny",
        ),
    ),
    (
        "%ASA-6-106100: access-list inside_in permitted tcp inside/10.1.1.5(51000) -> "
        "outside/93.184.216.34(443) hit-cnt 1 first hit [0x1a2b3c4d, 0x0]",
        expect(
            "cisco_asa",
            src_ip="10.1.1.5",
            src_port=51000,
            dst_ip="93.184.216.34",
            dst_port=443,
            protocol="tcp",
            action="allow",
        ),
    ),
    (
        "%ASA-4-106100: access-list outside_in denied udp outside/198.51.100.7(5060) -> "
        "inside/10.1.1.20(5060) hit-cnt 3 300-second interval [0x0, 0x0]",
        expect(
            "cisco_asa",
            src_ip="198.51.100.7",
            src_port=5060,
            dst_ip="10.1.1.20",
            dst_port=5060,
            protocol="udp",
            action="deny",
        ),
    ),
    (
        "%ASA-6-106015: Deny TCP (no connection) from 10.2.64.151/56308 to 10.159.11.1/443 flags RST on interface pt",
        expect(
            "cisco_asa",
            src_ip="10.2.64.151",
            src_port=56308,
            dst_ip="10.159.11.1",
            dst_port=443,
            protocol="tcp",
            action="deny",
        ),
    ),
    (
        "%ASA-2-106001: Inbound TCP connection denied from 198.51.100.7/4444 to 203.0.113.5/23 flags SYN on interface outside",
        expect(
            "cisco_asa",
            src_ip="198.51.100.7",
            src_port=4444,
            dst_ip="203.0.113.5",
            dst_port=23,
            protocol="tcp",
            action="deny",
        ),
    ),
    (
        "%ASA-6-113004: AAA user authentication Successful : server = 10.1.1.2 : user = jdupont",
        expect("cisco_asa", user="jdupont", action="login"),
    ),
    (
        "%ASA-6-113005: AAA user authentication Rejected : reason = AAA failure : server = 10.1.1.2 : "
        "user = *** : user IP = 198.51.100.7",
        expect("cisco_asa", src_ip="198.51.100.7", action="login_failed"),
    ),
    (
        "%ASA-6-113005: AAA user authentication Rejected : reason = Invalid password : server = 10.1.1.2 : "
        "user = mmartin : user IP = 10.1.1.50",
        expect("cisco_asa", src_ip="10.1.1.50", user="mmartin", action="login_failed"),
    ),
    (
        "%ASA-6-611101: User authentication succeeded: IP address: 10.1.1.5, Uname: admin",
        expect("cisco_asa", src_ip="10.1.1.5", user="admin", action="login"),
    ),
    (
        "%ASA-6-611102: User authentication failed: IP = 10.1.1.6, Uname: guest",
        expect("cisco_asa", src_ip="10.1.1.6", user="guest", action="login_failed"),
    ),
    (
        '%ASA-6-605005: Login permitted from 10.1.1.5/51234 to inside:10.1.1.1/ssh for user "admin"',
        expect(
            "cisco_asa",
            src_ip="10.1.1.5",
            src_port=51234,
            dst_ip="10.1.1.1",
            protocol="tcp",
            user="admin",
            action="login",
        ),
    ),
    (
        "%ASA-6-716001: Group <DfltGrpPolicy> User <jdupont> IP <198.51.100.7> WebVPN session started.",
        expect("cisco_asa", src_ip="198.51.100.7", user="jdupont", action="login"),
    ),
    (
        "%ASA-6-716002: Group <DfltGrpPolicy> User <jdupont> IP <198.51.100.7> WebVPN session terminated: User Requested.",
        expect("cisco_asa", src_ip="198.51.100.7", user="jdupont", action="logout"),
    ),
    (  # the assigned address is the device inside; the public one goes to nat_ip
        "%ASA-4-722051: Group <GP-VPN> User <jdupont> IP <198.51.100.7> IPv4 Address <10.10.10.5> assigned to session",
        expect("cisco_asa", src_ip="10.10.10.5", nat_ip="198.51.100.7", user="jdupont", action="login"),
    ),
    (
        "%ASA-4-722051: Group <GP-VPN> User <jdupont> IP <2001:db8:aaaa::7> IPv6 address <2001:db8:10::5> assigned to session",
        expect(
            "cisco_asa",
            src_ip="2001:db8:10::5",
            nat_ip="2001:db8:aaaa::7",
            user="jdupont",
            action="login",
        ),
    ),
    (
        "%ASA-4-113019: Group = GP-VPN, Username = jdupont, IP = 198.51.100.7, Session disconnected. "
        "Session Type: SSL, Duration: 0h:10m:05s, Bytes xmt: 12345, Bytes rcv: 6789, Reason: User Requested",
        expect("cisco_asa", src_ip="198.51.100.7", user="jdupont", action="logout", bytes=19134),
    ),
]


@pytest.mark.parametrize(("line", "row"), ASA)
def test_cisco_asa(line: str, row: dict) -> None:
    assert extract_connection(line) == row


# --------------------------------------------------------------------------- Cisco ASA, id by id
# One line per connection message id of Cisco's "Cisco Secure Firewall ASA Series Syslog Messages" guide,
# written in the guide's format with its placeholders filled in (the initiator of each: see cisco_asa.py
# and asa_messages.py, where every id's format is quoted).

ASA_GUIDE = [
    (  # 106001: "from" started it
        "%ASA-2-106001: Inbound TCP connection denied from 198.51.100.7/40001 to 203.0.113.10/25 flags SYN "
        "on interface outside",
        expect(
            "cisco_asa",
            src_ip="198.51.100.7",
            src_port=40001,
            dst_ip="203.0.113.10",
            dst_port=25,
            protocol="tcp",
            action="deny",
        ),
    ),
    (  # 106002
        "%ASA-2-106002: udp Connection denied by outbound list out_acl src 10.1.1.5 dest 198.51.100.7",
        expect("cisco_asa", src_ip="10.1.1.5", dst_ip="198.51.100.7", protocol="udp", action="deny"),
    ),
    (  # 106006
        "%ASA-2-106006: Deny inbound UDP from 198.51.100.7/5353 to 10.1.1.5/161 on interface outside",
        expect(
            "cisco_asa",
            src_ip="198.51.100.7",
            src_port=5353,
            dst_ip="10.1.1.5",
            dst_port=161,
            protocol="udp",
            action="deny",
        ),
    ),
    (  # 106007
        "%ASA-2-106007: Deny inbound UDP from 198.51.100.7/53 to 10.1.1.5/40000 due to DNS Response",
        expect(
            "cisco_asa",
            src_ip="198.51.100.7",
            src_port=53,
            dst_ip="10.1.1.5",
            dst_port=40000,
            protocol="udp",
            action="deny",
        ),
    ),
    (  # 106010: was not read (the direction word was taken for the protocol)
        "%ASA-3-106010: Deny inbound tcp src outside:198.51.100.7/40002 dst inside:10.1.1.5/445",
        expect(
            "cisco_asa",
            src_ip="198.51.100.7",
            src_port=40002,
            dst_ip="10.1.1.5",
            dst_port=445,
            protocol="tcp",
            action="deny",
        ),
    ),
    (  # 106010, with a protocol number and an identity-firewall user on the source
        "%ASA-3-106010: Deny inbound protocol 47 src outside:198.51.100.7 (CORP\\bob, 5) dst inside:10.1.1.5",
        expect(
            "cisco_asa",
            src_ip="198.51.100.7",
            dst_ip="10.1.1.5",
            protocol="gre",
            user="CORP\\bob",
            action="deny",
        ),
    ),
    (  # 106014
        "%ASA-3-106014: Deny inbound icmp src outside:198.51.100.7 dst inside:10.1.1.5 (type 8, code 0)",
        expect("cisco_asa", src_ip="198.51.100.7", dst_ip="10.1.1.5", protocol="icmp", action="deny"),
    ),
    (  # 106014 as the guide spaces it
        "%ASA-3-106014: Deny inbound icmp src outside : 198.51.100.7 dst inside : 10.1.1.5 (type 8, code 0)",
        expect("cisco_asa", src_ip="198.51.100.7", dst_ip="10.1.1.5", protocol="icmp", action="deny"),
    ),
    (  # 106015: the sender of a packet of no known connection
        "%ASA-6-106015: Deny TCP (no connection) from 10.1.1.5/443 to 198.51.100.7/40003 flags RST ACK "
        "on interface inside",
        expect(
            "cisco_asa",
            src_ip="10.1.1.5",
            src_port=443,
            dst_ip="198.51.100.7",
            dst_port=40003,
            protocol="tcp",
            action="deny",
        ),
    ),
    (  # 106016
        "%ASA-2-106016: Deny IP spoof from (10.1.1.5) to 198.51.100.7 on interface outside",
        expect("cisco_asa", src_ip="10.1.1.5", dst_ip="198.51.100.7", action="deny"),
    ),
    (  # 106018
        "%ASA-2-106018: ICMP packet type 8 denied by outbound list out_acl src 10.1.1.5 dest 198.51.100.7",
        expect("cisco_asa", src_ip="10.1.1.5", dst_ip="198.51.100.7", protocol="icmp", action="deny"),
    ),
    (  # 106021
        "%ASA-1-106021: Deny TCP reverse path check from 10.99.0.5 to 198.51.100.7 on interface outside",
        expect("cisco_asa", src_ip="10.99.0.5", dst_ip="198.51.100.7", protocol="tcp", action="deny"),
    ),
    (  # 106022
        "%ASA-1-106022: Deny TCP connection spoof from 10.99.0.5 to 198.51.100.7 on interface outside",
        expect("cisco_asa", src_ip="10.99.0.5", dst_ip="198.51.100.7", protocol="tcp", action="deny"),
    ),
    (  # 106023 with the hash codes and an idfw user on the source
        "%ASA-4-106023: Deny udp src inside:10.1.1.5/5060(CORP\\alice) dst outside:198.51.100.7/5060 "
        'by access-group "inside_in" [0x8ed66b60, 0xf8852875]',
        expect(
            "cisco_asa",
            src_ip="10.1.1.5",
            src_port=5060,
            dst_ip="198.51.100.7",
            dst_port=5060,
            protocol="udp",
            user="CORP\\alice",
            action="deny",
        ),
    ),
    (  # 106100
        "%ASA-6-106100: access-list inside_in est-allowed tcp inside/10.1.1.5(51000)(CORP\\alice) -> "
        "outside/198.51.100.7(443) hit-cnt 1 first hit [0x4c8b3c2d, 0x0]",
        expect(
            "cisco_asa",
            src_ip="10.1.1.5",
            src_port=51000,
            dst_ip="198.51.100.7",
            dst_port=443,
            protocol="tcp",
            user="CORP\\alice",
            action="allow",
        ),
    ),
    (  # 302013 inbound, idfw user only on the responder: not the initiator's, so no user (was CORP\srv)
        "%ASA-6-302013: Built inbound TCP connection 5 for outside:198.51.100.7/5000 (198.51.100.7/5000) "
        "to inside:10.1.1.10/443 (203.0.113.10/443)(CORP\\srv)",
        expect(
            "cisco_asa",
            src_ip="198.51.100.7",
            src_port=5000,
            dst_ip="10.1.1.10",
            dst_port=443,
            protocol="tcp",
            action="build",
            session_id="5",
        ),
    ),
    (  # 302015 inbound UDP, with the initiator's idfw user (a bracket after the inside end could be that
        # end's idfw user as well as the AAA user: an inbound connection does not take it)
        "%ASA-6-302015: Built inbound UDP connection 9 for outside:198.51.100.7/5060 (198.51.100.7/5060)"
        "(CORP\\bob) to inside:10.1.1.20/5060 (203.0.113.20/5060)",
        expect(
            "cisco_asa",
            src_ip="198.51.100.7",
            src_port=5060,
            dst_ip="10.1.1.20",
            dst_port=5060,
            protocol="udp",
            user="CORP\\bob",
            action="build",
            session_id="9",
        ),
    ),
    (  # 302014 of a published server on a high port: inbound (was reversed: src 10.1.1.10:3389)
        "%ASA-6-302014: Teardown TCP connection 6 for outside:198.51.100.7/51000 to inside:10.1.1.10/3389 "
        "duration 0:01:00 bytes 100 TCP FINs",
        expect(
            "cisco_asa",
            src_ip="198.51.100.7",
            src_port=51000,
            dst_ip="10.1.1.10",
            dst_port=3389,
            protocol="tcp",
            action="teardown",
            bytes=100,
            session_id="6",
        ),
    ),
    (  # 302016 with the initiator's idfw user
        "%ASA-6-302016: Teardown UDP connection 10 for outside:198.51.100.53/53 to inside:10.1.1.5/40000"
        "(CORP\\alice) duration 0:00:01 bytes 120",
        expect(
            "cisco_asa",
            src_ip="10.1.1.5",
            src_port=40000,
            dst_ip="198.51.100.53",
            dst_port=53,
            protocol="udp",
            user="CORP\\alice",
            action="teardown",
            bytes=120,
            session_id="10",
        ),
    ),
    (  # 302021 (read as outbound)
        "%ASA-6-302021: Teardown ICMP connection for faddr 198.51.100.7/0 gaddr 203.0.113.5/1 laddr 10.1.1.5/1 "
        "type 8 code 0",
        expect(
            "cisco_asa",
            src_ip="10.1.1.5",
            dst_ip="198.51.100.7",
            protocol="icmp",
            nat_ip="203.0.113.5",
            action="teardown",
        ),
    ),
    (  # 302021 of an inbound ping: only faddr carries the echo identifier (was read as outbound)
        "%ASA-6-302021: Teardown ICMP connection for faddr 198.51.100.7/1 gaddr 203.0.113.10/0 laddr 10.1.1.10/0 "
        "type 8 code 0",
        expect("cisco_asa", src_ip="198.51.100.7", dst_ip="10.1.1.10", protocol="icmp", action="teardown"),
    ),
    (  # 302020 ICMPv6 inbound
        "%ASA-6-302020: Built inbound ICMPv6 connection for faddr 2001:db8:ffff::7/0 gaddr 2001:db8:1::5/0 "
        "laddr 2001:db8:1::5/0 type 128 code 0",
        expect(
            "cisco_asa", src_ip="2001:db8:ffff::7", dst_ip="2001:db8:1::5", protocol="icmpv6", action="build"
        ),
    ),
    (  # 305011 TCP PAT, with the real host's idfw user
        "%ASA-6-305011: Built dynamic TCP translation from inside:10.1.1.2/1234(CORP\\alice) to "
        "outside:203.0.113.5/40000",
        expect(
            "cisco_asa",
            src_ip="10.1.1.2",
            src_port=1234,
            protocol="tcp",
            nat_ip="203.0.113.5",
            nat_port=40000,
            user="CORP\\alice",
            action="build",
        ),
    ),
    (  # 305012 with the acl name
        "%ASA-6-305012: Teardown static TCP translation from inside(nat_acl):10.1.1.2/1234 to "
        "outside:203.0.113.5/40000 duration 0:10:00",
        expect(
            "cisco_asa",
            src_ip="10.1.1.2",
            src_port=1234,
            protocol="tcp",
            nat_ip="203.0.113.5",
            nat_port=40000,
            action="teardown",
        ),
    ),
    (  # 305010
        "%ASA-6-305010: Teardown dynamic translation from inside:10.1.1.2 to outside:203.0.113.5 duration 0:10:00",
        expect("cisco_asa", src_ip="10.1.1.2", nat_ip="203.0.113.5", action="teardown"),
    ),
    (  # 313001: to the box
        "%ASA-3-313001: Denied ICMP type=8, code=0 from 198.51.100.7 on interface outside",
        expect("cisco_asa", src_ip="198.51.100.7", protocol="icmp", action="deny"),
    ),
    (  # 313004
        "%ASA-4-313004: Denied ICMP type=0, from laddr 198.51.100.7 on interface outside to 203.0.113.5: "
        "no matching session",
        expect("cisco_asa", src_ip="198.51.100.7", dst_ip="203.0.113.5", protocol="icmp", action="deny"),
    ),
    (  # 313004 without "laddr", as the guide's format reads
        "%ASA-4-313004: Denied ICMP type=0, from 198.51.100.7 on interface outside to 203.0.113.5: "
        "no matching session",
        expect("cisco_asa", src_ip="198.51.100.7", dst_ip="203.0.113.5", protocol="icmp", action="deny"),
    ),
    (  # 313005: the ICMP error's sender, not the quoted packet
        "%ASA-4-313005: No matching connection for ICMP error message: icmp src outside:198.51.100.1 "
        "dst inside:10.1.1.5 (type 3, code 3) on outside interface. Original IP payload: udp src "
        "10.1.1.5/40000 dst 198.51.100.7/53.",
        expect("cisco_asa", src_ip="198.51.100.1", dst_ip="10.1.1.5", protocol="icmp", action="deny"),
    ),
    (  # 313008
        "%ASA-3-313008: Denied ICMPv6 type=128, code=0 from 2001:db8:ffff::7 on interface outside",
        expect("cisco_asa", src_ip="2001:db8:ffff::7", protocol="icmpv6", action="deny"),
    ),
    (  # 710002 with a service name
        "%ASA-7-710002: TCP access permitted from 10.1.1.5/51000 to inside:10.1.1.1/https",
        expect(
            "cisco_asa",
            src_ip="10.1.1.5",
            src_port=51000,
            dst_ip="10.1.1.1",
            dst_port=443,
            protocol="tcp",
            action="allow",
        ),
    ),
    (  # 710003 with a port number
        "%ASA-3-710003: TCP access denied by ACL from 198.51.100.7/40004 to outside:203.0.113.1/22",
        expect(
            "cisco_asa",
            src_ip="198.51.100.7",
            src_port=40004,
            dst_ip="203.0.113.1",
            dst_port=22,
            protocol="tcp",
            action="deny",
        ),
    ),
    (  # 710005
        "%ASA-7-710005: UDP request discarded from 198.51.100.7/40005 to outside:203.0.113.1/500",
        expect(
            "cisco_asa",
            src_ip="198.51.100.7",
            src_port=40005,
            dst_ip="203.0.113.1",
            dst_port=500,
            protocol="udp",
            action="deny",
        ),
    ),
    (  # 109001, before the user typed a name
        "%ASA-6-109001: Auth start for user '???' from 10.1.1.5/51001 to 198.51.100.80/80",
        expect(
            "cisco_asa",
            src_ip="10.1.1.5",
            src_port=51001,
            dst_ip="198.51.100.80",
            dst_port=80,
            protocol="tcp",
            action="request",
        ),
    ),
    (  # 109005
        "%ASA-6-109005: Authentication succeeded for user 'alice' from 10.1.1.5/51001 to 198.51.100.80/80 "
        "on interface inside",
        expect(
            "cisco_asa",
            src_ip="10.1.1.5",
            src_port=51001,
            dst_ip="198.51.100.80",
            dst_port=80,
            protocol="tcp",
            user="alice",
            action="login",
        ),
    ),
    (  # 109006, the user written bare
        "%ASA-6-109006: Authentication failed for user alice from 10.1.1.5/51001 to 198.51.100.80/80 "
        "on interface inside",
        expect(
            "cisco_asa",
            src_ip="10.1.1.5",
            src_port=51001,
            dst_ip="198.51.100.80",
            dst_port=80,
            protocol="tcp",
            user="alice",
            action="login_failed",
        ),
    ),
    (  # 109007
        "%ASA-6-109007: Authorization permitted for user alice from 10.1.1.5/51001 to 198.51.100.80/80 "
        "on interface inside",
        expect(
            "cisco_asa",
            src_ip="10.1.1.5",
            src_port=51001,
            dst_ip="198.51.100.80",
            dst_port=80,
            protocol="tcp",
            user="alice",
            action="allow",
        ),
    ),
    (  # 109008
        "%ASA-6-109008: Authorization denied for user bob from 10.1.1.6/51002 to 198.51.100.80/21 "
        "on interface inside",
        expect(
            "cisco_asa",
            src_ip="10.1.1.6",
            src_port=51002,
            dst_ip="198.51.100.80",
            dst_port=21,
            protocol="tcp",
            user="bob",
            action="deny",
        ),
    ),
    (  # 113004, authorization
        "%ASA-6-113004: AAA user authorization Successful : server = 10.1.1.2 : user = alice",
        expect("cisco_asa", user="alice", action="allow"),
    ),
    (  # 113008
        "%ASA-6-113008: AAA transaction status ACCEPT : user = alice",
        expect("cisco_asa", user="alice", action="login"),
    ),
    (  # 113012
        "%ASA-6-113012: AAA user authentication Successful : local database : user = admin",
        expect("cisco_asa", user="admin", action="login"),
    ),
    (  # 113015
        "%ASA-6-113015: AAA user authentication Rejected : reason = Invalid password : local database : "
        "user = admin : user IP = 10.1.1.5",
        expect("cisco_asa", src_ip="10.1.1.5", user="admin", action="login_failed"),
    ),
    (  # 113039
        "%ASA-6-113039: Group <GP-VPN> User <alice> IP <198.51.100.7> AnyConnect parent session started.",
        expect("cisco_asa", src_ip="198.51.100.7", user="alice", action="login"),
    ),
    (  # 722022: the tunnel from the client's public address
        "%ASA-6-722022: Group <GP-VPN> User <alice> IP <198.51.100.7> TCP SVC connection established "
        "without compression",
        expect("cisco_asa", src_ip="198.51.100.7", protocol="tcp", user="alice", action="build"),
    ),
    (  # 722023
        "%ASA-6-722023: Group <GP-VPN> User <alice> IP <198.51.100.7> UDP SVC connection terminated "
        "without compression",
        expect("cisco_asa", src_ip="198.51.100.7", protocol="udp", user="alice", action="teardown"),
    ),
    (  # 722037
        "%ASA-5-722037: Group <GP-VPN> User <alice> IP <198.51.100.7> SVC closing connection: DPD failure.",
        expect("cisco_asa", src_ip="198.51.100.7", user="alice", action="logout"),
    ),
    (  # 605004
        '%ASA-6-605004: Login denied from 198.51.100.7/40006 to outside:203.0.113.1/ssh for user "root"',
        expect(
            "cisco_asa",
            src_ip="198.51.100.7",
            src_port=40006,
            dst_ip="203.0.113.1",
            protocol="tcp",
            user="root",
            action="login_failed",
        ),
    ),
    (  # FTD 430003, connection end: Src is the initiator, NAT_Initiator* its translation
        "%FTD-1-430003: DeviceUUID: 0f1e2d3c-0000-11ee-0000-000000000000, InstanceID: 1, FirstPacketSecond: "
        "2026-10-10T13:55:36Z, ConnectionID: 12345, AccessControlRuleAction: Allow, SrcIP: 10.0.0.5, DstIP: "
        "93.184.216.34, SrcPort: 51234, DstPort: 443, Protocol: tcp, IngressInterface: inside, EgressInterface: "
        "outside, IngressZone: in-zone, EgressZone: out-zone, ACPolicy: Default, AccessControlRuleName: Allow-Out, "
        "Prefilter Policy: Default Prefilter Policy, User: CORP\\alice, Client: SSL client, ApplicationProtocol: "
        "HTTPS, InitiatorPackets: 10, ResponderPackets: 12, InitiatorBytes: 1200, ResponderBytes: 9000, NAPPolicy: "
        "Balanced Security and Connectivity, NAT_InitiatorIP: 203.0.113.5, NAT_InitiatorPort: 40000, "
        "NAT_ResponderIP: 93.184.216.34, NAT_ResponderPort: 443",
        expect(
            "cisco_asa",
            src_ip="10.0.0.5",
            src_port=51234,
            dst_ip="93.184.216.34",
            dst_port=443,
            protocol="tcp",
            nat_ip="203.0.113.5",
            nat_port=40000,
            user="CORP\\alice",
            action="teardown",
            bytes=10200,
            session_id="12345",
        ),
    ),
    (  # FTD 430002, blocked, no user
        "%FTD-1-430002: DeviceUUID: 0f1e2d3c-0000-11ee-0000-000000000000, InstanceID: 1, FirstPacketSecond: "
        "2026-10-10T13:55:37Z, ConnectionID: 12346, AccessControlRuleAction: Block, SrcIP: 198.51.100.7, DstIP: "
        "10.1.1.10, SrcPort: 40000, DstPort: 445, Protocol: tcp, IngressInterface: outside, EgressInterface: inside, "
        "User: No Authentication Required, InitiatorPackets: 1, ResponderPackets: 0, InitiatorBytes: 60, "
        "ResponderBytes: 0",
        expect(
            "cisco_asa",
            src_ip="198.51.100.7",
            src_port=40000,
            dst_ip="10.1.1.10",
            dst_port=445,
            protocol="tcp",
            action="deny",
            bytes=60,
            session_id="12346",
        ),
    ),
]


@pytest.mark.parametrize(("line", "row"), ASA_GUIDE)
def test_cisco_asa_message_ids(line: str, row: dict) -> None:
    assert extract_connection(line) == row


# Messages the guide documents that name no connection with a known initiator: not archived as one.
ASA_NOT_CONNECTIONS = [
    # 302033 / 302034: H.323 GUP pre-allocation, a connection the ASA prepares, started by neither end yet
    "%ASA-6-302033: Pre-allocated H323 GUP Connection for faddr outside:198.51.100.7/1720 to laddr "
    "inside:10.1.1.5/1720",
    "%ASA-4-302034: Unable to pre-allocate H323 GUP Connection for faddr outside:198.51.100.7/1720 to laddr "
    "inside:10.1.1.5/1720",
    # 722022 without its SVC words, 716001 with them: each id's grammar only
    "%ASA-6-722022: Group <GP-VPN> User <alice> IP <198.51.100.7> WebVPN session started.",
    "%ASA-6-716001: Group <GP-VPN> User <alice> IP <198.51.100.7> TCP SVC connection established",
    # FTD connection event without its addresses
    "%FTD-1-430003: DeviceUUID: 0f1e2d3c, InstanceID: 1, ConnectionID: 1, AccessControlRuleAction: Allow",
    # 710002 whose address is not one
    "%ASA-7-710002: TCP access permitted from 10.1.1.5/51000 to inside:10.1.1.999/https",
]


@pytest.mark.parametrize("line", ASA_NOT_CONNECTIONS)
def test_cisco_asa_messages_without_a_connection(line: str) -> None:
    assert extract_connection(line) is None


BUILT_AND_TEARDOWN = [
    (  # a user browsing out: outbound, the inside end started it
        "%ASA-6-302013: Built outbound TCP connection 1234 for outside:93.184.216.34/443 (93.184.216.34/443) "
        "to inside:10.0.0.5/51234 (203.0.113.5/51234)",
        "%ASA-6-302014: Teardown TCP connection 1234 for outside:93.184.216.34/443 to inside:10.0.0.5/51234 "
        "duration 0:00:09 bytes 4321 TCP FINs from inside",
    ),
    (  # a published web server: inbound, the outside end started it
        "%ASA-6-302013: Built inbound TCP connection 1235 for outside:198.51.100.7/61000 (198.51.100.7/61000) "
        "to dmz:10.1.1.10/443 (203.0.113.10/443)",
        "%ASA-6-302014: Teardown TCP connection 1235 for outside:198.51.100.7/61000 to dmz:10.1.1.10/443 "
        "duration 0:00:09 bytes 4321 TCP FINs from outside",
    ),
    (  # a published server on a high port (RDP)
        "%ASA-6-302013: Built inbound TCP connection 1236 for outside:198.51.100.7/51000 (198.51.100.7/51000) "
        "to inside:10.1.1.10/3389 (203.0.113.10/3389)",
        "%ASA-6-302014: Teardown TCP connection 1236 for outside:198.51.100.7/51000 to inside:10.1.1.10/3389 "
        "duration 1:00:00 bytes 9999 TCP Reset-O from outside",
    ),
    (  # outbound to a high port (HTTP proxy on 8080)
        "%ASA-6-302013: Built outbound TCP connection 1237 for outside:198.51.100.8/8080 (198.51.100.8/8080) "
        "to inside:10.0.0.5/40000 (203.0.113.5/40000)",
        "%ASA-6-302014: Teardown TCP connection 1237 for outside:198.51.100.8/8080 to inside:10.0.0.5/40000 "
        "duration 0:00:01 bytes 10",
    ),
    (  # an inbound ping
        "%ASA-6-302020: Built inbound ICMP connection for faddr 198.51.100.7/1 gaddr 203.0.113.10/0 "
        "laddr 10.1.1.10/0 type 8 code 0",
        "%ASA-6-302021: Teardown ICMP connection for faddr 198.51.100.7/1 gaddr 203.0.113.10/0 laddr 10.1.1.10/0 "
        "type 8 code 0",
    ),
    (  # an outbound ping, PAT
        "%ASA-6-302020: Built outbound ICMP connection for faddr 8.8.8.8/0 gaddr 203.0.113.5/512 "
        "laddr 10.0.0.5/1 type 8 code 0",
        "%ASA-6-302021: Teardown ICMP connection for faddr 8.8.8.8/0 gaddr 203.0.113.5/512 laddr 10.0.0.5/1 "
        "type 8 code 0",
    ),
    (  # outbound DNS
        "%ASA-6-302015: Built outbound UDP connection 1238 for outside:198.51.100.53/53 (198.51.100.53/53) "
        "to inside:10.0.0.5/53001 (203.0.113.5/53001)",
        "%ASA-6-302016: Teardown UDP connection 1238 for outside:198.51.100.53/53 to inside:10.0.0.5/53001 "
        "duration 0:00:01 bytes 120",
    ),
]


@pytest.mark.parametrize(("built", "teardown"), BUILT_AND_TEARDOWN)
def test_asa_teardown_names_the_parties_as_its_built_message(built: str, teardown: str) -> None:
    b, t = extract_connection(built), extract_connection(teardown)
    assert b is not None and t is not None
    keys = (
        "src_ip",
        "src_port",
        "dst_ip",
        "dst_port",
        "protocol",
        "session_id",
    )  # teardowns log no mapped socket
    assert {k: b[k] for k in keys} == {k: t[k] for k in keys}
    assert (b["action"], t["action"]) == ("build", "teardown")


# --------------------------------------------------------------------------- FortiGate

FORTIGATE = [
    (
        '<189>date=2024-01-15 time=10:01:02 devname="FGT60E" devid="FGT60E0000000001" logid="0000000013" '
        'type="traffic" subtype="forward" level="notice" vd="root" eventtime=1705312862000000000 '
        'srcip=10.1.100.11 srcport=58012 srcintf="internal" srcintfrole="lan" dstip=23.59.154.35 dstport=80 '
        'dstintf="wan1" dstintfrole="wan" sessionid=3170 proto=6 action="close" policyid=1 '
        'policytype="policy" service="HTTP" dstcountry="United States" srccountry="Reserved" '
        'trandisp="snat" transip=172.16.200.2 transport=58012 duration=2 sentbyte=412 rcvdbyte=1484 '
        'sentpkt=5 rcvdpkt=4 appcat="unscanned" srcmac="a2:e9:00:ec:40:01" mastersrcmac="a2:e9:00:ec:40:01"',
        expect(
            "fortigate",
            src_ip="10.1.100.11",
            src_port=58012,
            dst_ip="23.59.154.35",
            dst_port=80,
            protocol="tcp",
            nat_ip="172.16.200.2",
            nat_port=58012,
            mac="a2:e9:00:ec:40:01",
            action="teardown",
            bytes=1896,
            session_id="3170",
        ),
    ),
    (  # unquoted values, authenticated user, denied
        "date=2024-01-15 time=10:01:03 logid=0000000013 type=traffic subtype=forward srcip=10.1.100.12 "
        "srcport=50000 dstip=198.51.100.80 dstport=443 sessionid=99 proto=17 action=deny policyid=0 "
        "user=jdupont group=staff sentbyte=0 rcvdbyte=0",
        expect(
            "fortigate",
            src_ip="10.1.100.12",
            src_port=50000,
            dst_ip="198.51.100.80",
            dst_port=443,
            protocol="udp",
            user="jdupont",
            action="deny",
            bytes=0,
            session_id="99",
        ),
    ),
    (  # IPv6, unauthuser (FSSO), ICMPv6: no ports
        'type="traffic" subtype="local" srcip=2001:db8::20 dstip=2001:db8::1 srcport=0 dstport=0 '
        'proto=58 action="accept" unauthuser="mmartin" sessionid=12',
        expect(
            "fortigate",
            src_ip="2001:db8::20",
            dst_ip="2001:db8::1",
            protocol="icmpv6",
            user="mmartin",
            action="allow",
            session_id="12",
        ),
    ),
    (
        'type="traffic" subtype="forward" srcip=10.0.0.9 srcport=1234 dstip=10.0.1.9 dstport=22 proto=6 '
        'action="start" sessionid=5',
        expect(
            "fortigate",
            src_ip="10.0.0.9",
            src_port=1234,
            dst_ip="10.0.1.9",
            dst_port=22,
            protocol="tcp",
            action="build",
            session_id="5",
        ),
    ),
    (  # FortiOS 7.2 "Traffic log - forward" as the Log Reference shows it: SNAT, user, MAC
        'date=2026-10-10 time=13:55:36 eventtime=1791633336553412020 tz="+0200" logid="0000000013" '
        'type="traffic" subtype="forward" level="notice" vd="root" srcip=10.1.100.11 srcport=58012 '
        'srcintf="port2" srcintfrole="lan" dstip=93.184.216.34 dstport=443 dstintf="port1" dstintfrole="wan" '
        'srccountry="Reserved" dstcountry="United States" sessionid=7689 proto=6 action="close" policyid=1 '
        'policytype="policy" poluuid="b6a8e3a2-0000-51ea-0000-000000000000" policyname="lan-out" '
        'user="alice" authserver="corp-ldap" service="HTTPS" trandisp="snat" transip=203.0.113.5 '
        'transport=40123 appcat="unscanned" duration=5 sentbyte=1412 rcvdbyte=81484 sentpkt=15 rcvdpkt=64 '
        'srchwvendor="Dell" devtype="Computer" mastersrcmac="00:11:22:33:44:55" srcmac="00:11:22:33:44:55" '
        "srcserver=0",
        expect(
            "fortigate",
            src_ip="10.1.100.11",
            src_port=58012,
            dst_ip="93.184.216.34",
            dst_port=443,
            protocol="tcp",
            nat_ip="203.0.113.5",
            nat_port=40123,
            user="alice",
            mac="00:11:22:33:44:55",
            action="teardown",
            bytes=82896,
            session_id="7689",
        ),
    ),
    (  # FortiOS 6.4, a published server (DNAT): tranip/tranport are the inside destination, not a source NAT
        'date=2026-10-10 time=13:55:37 logid="0000000013" type="traffic" subtype="forward" level="notice" '
        'vd="root" eventtime=1791633337 srcip=198.51.100.7 srcport=51000 srcintf="wan1" dstip=203.0.113.10 '
        'dstport=443 dstintf="dmz" sessionid=7690 proto=6 action="accept" policyid=3 service="HTTPS" '
        'trandisp="dnat" tranip=10.1.1.10 tranport=443 duration=60 sentbyte=900 rcvdbyte=12000',
        expect(
            "fortigate",
            src_ip="198.51.100.7",
            src_port=51000,
            dst_ip="203.0.113.10",
            dst_port=443,
            protocol="tcp",
            action="allow",
            bytes=12900,
            session_id="7690",
        ),
    ),
]


@pytest.mark.parametrize(("line", "row"), FORTIGATE)
def test_fortigate(line: str, row: dict) -> None:
    assert extract_connection(line) == row


# --------------------------------------------------------------------------- Stormshield

STORMSHIELD = [
    (
        'id=firewall time="2024-01-15 10:01:02" fw="SN310A00000001" tz=+0100 startime="2024-01-15 10:00:59" '
        'pri=5 confid=01 slotlevel=2 ruleid=5 srcif="Ethernet1" srcifname="in" ipproto=tcp dstif="Ethernet0" '
        'dstifname="out" proto=https src=192.168.1.10 srcport=51234 srcportname=ephemeral_fw_tcp '
        'srcname="pc-jdupont" srcmac=00:11:22:33:44:55 dst=93.184.216.34 dstport=443 dstportname=https '
        "modsrc=203.0.113.5 modsrcport=40001 origdst=93.184.216.34 origdstport=443 "
        'user="jdupont" domain="ad.example.fr" sent=1234 rcvd=5678 duration=12.34 action=pass logtype="connection"',
        expect(
            "stormshield",
            src_ip="192.168.1.10",
            src_port=51234,
            dst_ip="93.184.216.34",
            dst_port=443,
            protocol="tcp",
            nat_ip="203.0.113.5",
            nat_port=40001,
            user="jdupont",
            mac="00:11:22:33:44:55",
            action="allow",
            bytes=6912,
        ),
    ),
    (
        'id=firewall time="2024-01-15 10:01:02" fw="SN310" tz=+0100 ipproto=udp src=2001:db8::10 '
        "srcport=5353 dst=2001:db8::53 dstport=53 action=block logtype=filter",
        expect(
            "stormshield",
            src_ip="2001:db8::10",
            src_port=5353,
            dst_ip="2001:db8::53",
            dst_port=53,
            protocol="udp",
            action="deny",
        ),
    ),
]


@pytest.mark.parametrize(("line", "row"), STORMSHIELD)
def test_stormshield(line: str, row: dict) -> None:
    assert extract_connection(line) == row


# --------------------------------------------------------------------------- pfSense / OPNsense

PFSENSE = [
    (
        "<134>Jan 15 10:01:02 pfsense filterlog[12345]: 5,,,1000000103,igb1,match,block,in,4,0x0,,64,0,0,DF,"
        "6,tcp,60,192.168.1.100,10.0.0.1,54321,22,0,S,1234567890,,64240,,mss;sackOK;TS;nop;wscale",
        expect(
            "pfsense",
            src_ip="192.168.1.100",
            src_port=54321,
            dst_ip="10.0.0.1",
            dst_port=22,
            protocol="tcp",
            action="deny",
        ),
    ),
    (  # MSG part only, UDP
        "9,,,1000000105,em0,match,pass,out,4,0x0,,64,1234,0,none,17,udp,76,192.168.1.10,8.8.8.8,33000,53,56",
        expect(
            "pfsense",
            src_ip="192.168.1.10",
            src_port=33000,
            dst_ip="8.8.8.8",
            dst_port=53,
            protocol="udp",
            action="allow",
        ),
    ),
    (  # ICMP: no ports
        "filterlog: 5,,,1000000103,igb0,match,block,in,4,0x0,,56,0,0,none,1,icmp,84,198.51.100.7,203.0.113.5,request,1234,1",
        expect("pfsense", src_ip="198.51.100.7", dst_ip="203.0.113.5", protocol="icmp", action="deny"),
    ),
    (  # IPv6 order: class, flow label, hop limit, protocol text, protocol id
        "filterlog[1]: 77,,,1000008105,em0,match,pass,out,6,0x00,0x00000,255,udp,17,60,fe80::1,ff02::1:2,546,547,60",
        expect(
            "pfsense",
            src_ip="fe80::1",
            src_port=546,
            dst_ip="ff02::1:2",
            dst_port=547,
            protocol="udp",
            action="allow",
        ),
    ),
    (
        "filterlog[1]: 4,,,1000000003,vtnet0,match,reject,in,6,0x00,0x00000,64,tcp,6,40,"
        "2001:db8::bad,2001:db8::1,40000,443,0,S,1,,65535,,mss",
        expect(
            "pfsense",
            src_ip="2001:db8::bad",
            src_port=40000,
            dst_ip="2001:db8::1",
            dst_port=443,
            protocol="tcp",
            action="deny",
        ),
    ),
    (  # OPNsense: tracker is a hash
        "filterlog[5]: 82,,,fae559338f65e11c53669fc3642c93c2,vtnet0,match,pass,out,6,0x00,0x00000,64,"
        "ipv6-icmp,58,16,2001:db8::2,2001:db8::1,datalen=8",
        expect("pfsense", src_ip="2001:db8::2", dst_ip="2001:db8::1", protocol="icmpv6", action="allow"),
    ),
]


@pytest.mark.parametrize(("line", "row"), PFSENSE)
def test_pfsense(line: str, row: dict) -> None:
    assert extract_connection(line) == row


# --------------------------------------------------------------------------- Squid

SQUID = [
    (
        "1286536308.779    180 192.168.0.224 TCP_MISS/200 411 GET http://www.example.com/ - "
        "HIER_DIRECT/93.184.216.34 text/html",
        expect(
            "squid",
            src_ip="192.168.0.224",
            dst_ip="93.184.216.34",
            dst_port=80,
            protocol="tcp",
            action="allow",
            bytes=411,
        ),
    ),
    (
        "<134>Jan 15 10:01:02 proxy squid[1234]: 1705312862.123   5012 10.1.1.5 TCP_TUNNEL/200 48213 "
        "CONNECT www.example.org:443 jdupont HIER_DIRECT/2606:2800:220:1:248:1893:25c8:1946 -",
        expect(
            "squid",
            src_ip="10.1.1.5",
            dst_ip="2606:2800:220:1:248:1893:25c8:1946",
            dst_port=443,
            protocol="tcp",
            user="jdupont",
            action="allow",
            bytes=48213,
        ),
    ),
    (
        "1705312862.200      0 10.1.1.6 TCP_DENIED/403 3924 GET http://bad.example/path?q=1 - HIER_NONE/- text/html",
        expect("squid", src_ip="10.1.1.6", dst_port=80, protocol="tcp", action="deny", bytes=3924),
    ),
    (  # via a parent proxy: the peer is not the destination; the URL host is an IP literal
        "1705312862.300     12 2001:db8::44 TCP_MISS/200 1200 GET http://[2001:db8::80]:8080/x "
        "mmartin FIRST_UP_PARENT/10.0.0.3 text/plain",
        expect(
            "squid",
            src_ip="2001:db8::44",
            dst_ip="2001:db8::80",
            dst_port=8080,
            protocol="tcp",
            user="mmartin",
            action="allow",
            bytes=1200,
        ),
    ),
    (  # older squid without HIER_ and a host name as peer: no destination address
        "1705312862.400     40 10.1.1.7 TCP_HIT/200 800 GET https://cdn.example.net/a.js - DIRECT/cdn.example.net "
        "application/javascript",
        expect("squid", src_ip="10.1.1.7", dst_port=443, protocol="tcp", action="allow", bytes=800),
    ),
    (  # squid.conf's example of the native format
        "1286536309.450    233 192.168.0.10 TCP_MISS/200 1234 GET http://example.com/ - HIER_DIRECT/93.184.216.34 "
        "text/html",
        expect(
            "squid",
            src_ip="192.168.0.10",
            dst_ip="93.184.216.34",
            dst_port=80,
            protocol="tcp",
            action="allow",
            bytes=1234,
        ),
    ),
    (  # native with %>a/%>p: was refused whole (the client was not an address)
        "1286536309.450    233 192.168.0.10/51234 TCP_MISS/200 1234 GET http://example.com/ alice "
        "HIER_DIRECT/93.184.216.34 text/html",
        expect(
            "squid",
            src_ip="192.168.0.10",
            src_port=51234,
            dst_ip="93.184.216.34",
            dst_port=80,
            protocol="tcp",
            user="alice",
            action="allow",
            bytes=1234,
        ),
    ),
    (  # native with %>a:%>p
        "1286536309.451     12 192.168.0.10:51235 TCP_DENIED/403 3900 CONNECT example.com:443 - HIER_NONE/- "
        "text/html",
        expect(
            "squid",
            src_ip="192.168.0.10",
            src_port=51235,
            dst_port=443,
            protocol="tcp",
            action="deny",
            bytes=3900,
        ),
    ),
    (  # native, IPv6 client with its port
        "1286536309.452     12 2001:db8::44/51236 TCP_MISS/200 100 GET http://example.com/ - "
        "HIER_DIRECT/93.184.216.34 text/html",
        expect(
            "squid",
            src_ip="2001:db8::44",
            src_port=51236,
            dst_ip="93.184.216.34",
            dst_port=80,
            protocol="tcp",
            action="allow",
            bytes=100,
        ),
    ),
    (  # "combined" (was not read): no peer address, the destination only from an IP-literal URL
        '192.168.0.10 - alice [10/Oct/2026:13:55:36 +0200] "GET http://93.184.216.34/index.html HTTP/1.1" 200 2326 '
        '"-" "Mozilla/5.0 (X11; Linux x86_64)" TCP_MISS:HIER_DIRECT',
        expect(
            "squid",
            src_ip="192.168.0.10",
            dst_ip="93.184.216.34",
            dst_port=80,
            protocol="tcp",
            user="alice",
            action="allow",
            bytes=2326,
        ),
    ),
    (  # "combined" behind a syslog header, a host-name URL
        "Oct 10 13:55:36 proxy squid[812]: 192.168.0.10 - - [10/Oct/2026:13:55:36 +0200] "
        '"GET http://example.com/ HTTP/1.1" 200 2326 "http://example.com/" "curl/8.5.0" TCP_REFRESH_MODIFIED:HIER_DIRECT',
        expect("squid", src_ip="192.168.0.10", dst_port=80, protocol="tcp", action="allow", bytes=2326),
    ),
    (  # "common", a CONNECT
        '192.168.0.10 - - [10/Oct/2026:13:55:36 +0200] "CONNECT example.com:443 HTTP/1.1" 200 5120 '
        "TCP_TUNNEL:HIER_DIRECT",
        expect("squid", src_ip="192.168.0.10", dst_port=443, protocol="tcp", action="allow", bytes=5120),
    ),
    (  # "common", a denial with the client port
        '192.168.0.10/51237 - - [10/Oct/2026:13:55:36 +0200] "GET http://example.com/ HTTP/1.1" 403 3900 '
        "TCP_DENIED:HIER_NONE",
        expect(
            "squid",
            src_ip="192.168.0.10",
            src_port=51237,
            dst_port=80,
            protocol="tcp",
            action="deny",
            bytes=3900,
        ),
    ),
]


@pytest.mark.parametrize(("line", "row"), SQUID)
def test_squid(line: str, row: dict) -> None:
    assert extract_connection(line) == row


# --------------------------------------------------------------------------- DHCP

DHCP = [
    (
        "<30>Jan 15 10:01:02 dhcp01 dhcpd[1234]: DHCPACK on 192.168.1.23 to aa:bb:cc:dd:ee:ff (laptop-jd) via eth0",
        expect("dhcp", src_ip="192.168.1.23", protocol="udp", mac="aa:bb:cc:dd:ee:ff", action="lease"),
    ),
    (  # ISC prints octets unpadded
        "DHCPACK on 10.0.0.5 to 0:c:29:ab:cd:ef via 10.0.0.1",
        expect("dhcp", src_ip="10.0.0.5", protocol="udp", mac="00:0c:29:ab:cd:ef", action="lease"),
    ),
    (
        "dhcpd: DHCPOFFER on 192.168.1.23 to aa:bb:cc:dd:ee:ff (John's iPhone) via eth0",
        expect("dhcp", src_ip="192.168.1.23", protocol="udp", mac="aa:bb:cc:dd:ee:ff", action="offer"),
    ),
    (
        "dhcpd: DHCPREQUEST for 192.168.1.23 (192.168.1.1) from aa:bb:cc:dd:ee:ff (laptop-jd) via eth0",
        expect("dhcp", src_ip="192.168.1.23", protocol="udp", mac="aa:bb:cc:dd:ee:ff", action="request"),
    ),
    (
        "dhcpd: DHCPRELEASE of 192.168.1.23 from aa:bb:cc:dd:ee:ff (laptop-jd) via eth0 (found)",
        expect("dhcp", src_ip="192.168.1.23", protocol="udp", mac="aa:bb:cc:dd:ee:ff", action="release"),
    ),
    (
        "dhcpd: DHCPACK to 192.168.1.40 (aa:bb:cc:00:11:22) via eth0",
        expect("dhcp", src_ip="192.168.1.40", protocol="udp", mac="aa:bb:cc:00:11:22", action="lease"),
    ),
    (
        "dnsmasq-dhcp[1234]: DHCPACK(eth0) 192.168.1.23 AA:BB:CC:DD:EE:FF laptop",
        expect("dhcp", src_ip="192.168.1.23", protocol="udp", mac="aa:bb:cc:dd:ee:ff", action="lease"),
    ),
    (
        "dnsmasq-dhcp[1234]: 3151233567 DHCPRELEASE(br0) 192.168.1.24 11:22:33:44:55:66",
        expect("dhcp", src_ip="192.168.1.24", protocol="udp", mac="11:22:33:44:55:66", action="release"),
    ),
    (  # DHCPv6: the identifier is a DUID, not a MAC
        "dnsmasq-dhcp[1234]: DHCPREPLY(eth0) 2001:db8::1:10 00:01:00:01:2a:3b:4c:5d:aa:bb:cc:dd:ee:ff host6",
        expect("dhcp", src_ip="2001:db8::1:10", protocol="udp", action="lease"),
    ),
    (  # ISC dhcpd, each message of a lease: DISCOVER names no address (not a binding)
        "dhcpd[812]: DHCPREQUEST for 10.0.0.5 from 00:11:22:33:44:55 via eth0",
        expect("dhcp", src_ip="10.0.0.5", protocol="udp", mac="00:11:22:33:44:55", action="request"),
    ),
    (
        "dhcpd[812]: DHCPACK on 10.0.0.5 to 00:11:22:33:44:55 (host) via eth0",
        expect("dhcp", src_ip="10.0.0.5", protocol="udp", mac="00:11:22:33:44:55", action="lease"),
    ),
    (
        "dhcpd[812]: DHCPOFFER on 10.0.0.5 to 00:11:22:33:44:55 via 10.0.0.1",
        expect("dhcp", src_ip="10.0.0.5", protocol="udp", mac="00:11:22:33:44:55", action="offer"),
    ),
    (
        "dhcpd[812]: DHCPDECLINE of 10.0.0.6 from 00:11:22:33:44:55 via eth0: abandoned",
        expect("dhcp", src_ip="10.0.0.6", protocol="udp", mac="00:11:22:33:44:55", action="decline"),
    ),
    (
        "dhcpd[812]: DHCPNAK on 10.0.0.7 to 00:11:22:33:44:55 via eth0",
        expect("dhcp", src_ip="10.0.0.7", protocol="udp", mac="00:11:22:33:44:55", action="nak"),
    ),
    (
        "dhcpd[812]: DHCPINFORM from 10.0.0.8 via eth0",
        expect("dhcp", src_ip="10.0.0.8", protocol="udp", action="inform"),
    ),
    (  # Kea, as its messages file writes them
        "INFO  [kea-dhcp4.leases/812.139] DHCP4_LEASE_ADVERT [hwtype=1 00:11:22:33:44:55], cid=[no info], "
        "tid=0x8a3b2c1d: lease 10.0.0.5 will be advertised",
        expect("dhcp", src_ip="10.0.0.5", protocol="udp", mac="00:11:22:33:44:55", action="offer"),
    ),
    (
        "INFO  [kea-dhcp4.leases/812.139] DHCP4_LEASE_ALLOC [hwtype=1 00:11:22:33:44:55], "
        "cid=[01:00:11:22:33:44:55], tid=0x8a3b2c1d: lease 10.0.0.5 has been allocated for 3600 seconds",
        expect("dhcp", src_ip="10.0.0.5", protocol="udp", mac="00:11:22:33:44:55", action="lease"),
    ),
    (
        "INFO  [kea-dhcp4.leases/812.139] DHCP4_LEASE_REUSE [hwtype=1 00:11:22:33:44:55], cid=[no info], "
        "tid=0x8a3b2c1e: lease 10.0.0.5 has been reused for 3000 seconds",
        expect("dhcp", src_ip="10.0.0.5", protocol="udp", mac="00:11:22:33:44:55", action="lease"),
    ),
    (  # Kea DHCPv6 with the client's link-layer address (was not taken)
        "INFO  [kea-dhcp6.leases/9.1] DHCP6_LEASE_ALLOC duid=[00:03:00:01:08:00:2b:02:3f:4e], "
        "[hwtype=1 08:00:2b:02:3f:4e], tid=0x2: lease for address 2001:db8:1::11 and iaid=1 has been allocated "
        "for 4000 seconds",
        expect("dhcp", src_ip="2001:db8:1::11", protocol="udp", mac="08:00:2b:02:3f:4e", action="lease"),
    ),
    (  # Kea's decline (was not read)
        "INFO  [kea-dhcp4.leases/812.139] DHCP4_DECLINE_LEASE Received DHCPDECLINE for addr 10.0.0.9 from "
        "client [hwtype=1 00:11:22:33:44:55], cid=[no info], tid=0x8a3b2c1f. The lease will be unavailable "
        "for 86400 seconds.",
        expect("dhcp", src_ip="10.0.0.9", protocol="udp", mac="00:11:22:33:44:55", action="decline"),
    ),
]


@pytest.mark.parametrize(("line", "row"), DHCP)
def test_dhcp(line: str, row: dict) -> None:
    assert extract_connection(line) == row


# --------------------------------------------------------------------------- RADIUS, hotspots, sshd

AUTH = [
    (
        "Auth: (123) Login OK: [jdupont] (from client ap01 port 0 cli aa-bb-cc-dd-ee-ff)",
        expect("radius", user="jdupont", mac="aa:bb:cc:dd:ee:ff", action="login"),
    ),
    (  # auth_badpass = yes: the password never reaches the user column
        "radiusd[77]: Auth: (124) Login incorrect (mschap: MS-CHAP2-Response is incorrect): [jdupont/s3cr/et] "
        "(from client ap01 port 0 cli AA:BB:CC:DD:EE:FF)",
        expect("radius", user="jdupont", mac="aa:bb:cc:dd:ee:ff", action="login_failed"),
    ),
    (  # 802.1X machine account, VPN NAS with an IP as Calling-Station-Id
        "Auth: (9) Login OK: [host/pc01.ad.example.fr] (from client vpn01 port 12 cli 198.51.100.7 via TLS tunnel)",
        expect("radius", src_ip="198.51.100.7", user="host/pc01.ad.example.fr", action="login"),
    ),
    (
        "Auth: Login OK: [mmartin/<via Auth-Type = PAP>] (from client localhost port 0)",
        expect("radius", user="mmartin", action="login"),
    ),
    (
        "Auth: (5) Invalid user: [nobody] (from client ap02 port 0 cli 02-00-00-00-00-01)",
        expect("radius", user="nobody", mac="02:00:00:00:00:01", action="login_failed"),
    ),
    (
        'User-Name = "jdupont", Acct-Status-Type = Start, Framed-IP-Address = 10.0.0.5, '
        'Calling-Station-Id = "aa-bb-cc-dd-ee-ff", Acct-Session-Id = "5A1B2C3D-00000001"',
        expect(
            "radius",
            src_ip="10.0.0.5",
            user="jdupont",
            mac="aa:bb:cc:dd:ee:ff",
            action="login",
            session_id="5A1B2C3D-00000001",
        ),
    ),
    (  # key=value, VPN: public Calling-Station-Id goes to nat_ip, gigawords counted
        "radacct: Acct-Status-Type=Stop User-Name=jdupont Framed-IP-Address=10.10.10.5 "
        "Calling-Station-Id=198.51.100.7 Acct-Session-Id=81000002 Acct-Input-Octets=100 "
        "Acct-Output-Octets=200 Acct-Input-Gigawords=1",
        expect(
            "radius",
            src_ip="10.10.10.5",
            nat_ip="198.51.100.7",
            user="jdupont",
            action="logout",
            bytes=300 + (1 << 32),
            session_id="81000002",
        ),
    ),
    (
        "Acct-Status-Type = Interim-Update, User-Name = guest42, Framed-IPv6-Address = 2001:db8:0:0::42, "
        "Calling-Station-Id = 0A-0B-0C-0D-0E-0F, Acct-Session-Id = abc",
        expect(
            "radius",
            src_ip="2001:db8::42",
            user="guest42",
            mac="0a:0b:0c:0d:0e:0f",
            action="interim",
            session_id="abc",
        ),
    ),
    (
        "hotspot,info,account user1 (10.5.50.2): logged in",
        expect("mikrotik_hotspot", src_ip="10.5.50.2", user="user1", action="login"),
    ),
    (
        "<134>Jan 15 10:01:02 rb01 hotspot,account,info,debug user1 (10.5.50.2): logged out: user request",
        expect("mikrotik_hotspot", src_ip="10.5.50.2", user="user1", action="logout"),
    ),
    (
        "hotspot,info,debug T-AA:BB:CC:DD:EE:01 (10.5.50.3): login failed: no more sessions are allowed",
        expect(
            "mikrotik_hotspot",
            src_ip="10.5.50.3",
            user="T-AA:BB:CC:DD:EE:01",
            mac="aa:bb:cc:dd:ee:01",
            action="login_failed",
        ),
    ),
    (
        "logportalauth[12345]: Zone: guest - ACCEPT: jdupont, 00:11:22:33:44:55, 192.168.2.10",
        expect(
            "pfsense_portal",
            src_ip="192.168.2.10",
            user="jdupont",
            mac="00:11:22:33:44:55",
            action="login",
        ),
    ),
    (
        "logportalauth[12345]: Zone: guest - IDLE TIMEOUT: jdupont, 00:11:22:33:44:55, 192.168.2.10",
        expect(
            "pfsense_portal",
            src_ip="192.168.2.10",
            user="jdupont",
            mac="00:11:22:33:44:55",
            action="logout",
        ),
    ),
    (
        "logportalauth[12345]: Zone: guest - FAILURE: mallory, 00:11:22:33:44:66, 192.168.2.11, Wrong password",
        expect(
            "pfsense_portal",
            src_ip="192.168.2.11",
            user="mallory",
            mac="00:11:22:33:44:66",
            action="login_failed",
        ),
    ),
    (
        "sshd[99]: Accepted password for jdoe from 198.51.100.7 port 51234 ssh2",
        expect("sshd", src_ip="198.51.100.7", src_port=51234, protocol="tcp", user="jdoe", action="login"),
    ),
    (
        "sshd[99]: Accepted publickey for deploy from 2001:db8::7 port 40022 ssh2: ED25519 SHA256:abc",
        expect("sshd", src_ip="2001:db8::7", src_port=40022, protocol="tcp", user="deploy", action="login"),
    ),
    (
        "sshd[99]: Failed password for invalid user admin from 203.0.113.66 port 4242 ssh2",
        expect(
            "sshd", src_ip="203.0.113.66", src_port=4242, protocol="tcp", user="admin", action="login_failed"
        ),
    ),
    (
        "sshd[99]: Disconnected from user jdoe 198.51.100.7 port 51234",
        expect("sshd", src_ip="198.51.100.7", src_port=51234, protocol="tcp", user="jdoe", action="logout"),
    ),
    (  # FreeRADIUS 3, the brief's example
        "radiusd[77]: Auth: (123) Login OK: [alice] (from client ap1 port 0 cli 00-11-22-33-44-55)",
        expect("radius", user="alice", mac="00:11:22:33:44:55", action="login"),
    ),
    (  # FreeRADIUS 3 with EAP, the MAC written bare
        "radiusd[77]: Auth: (124) Login OK: [alice/<via Auth-Type = eap>] (from client ap1 port 7 cli 001122334455)",
        expect("radius", user="alice", mac="00:11:22:33:44:55", action="login"),
    ),
    (  # an accounting record forwarded whole on one line (linelog), the Calling-Station-Id a MAC
        'radiusd[77]: Acct-Status-Type = Start, User-Name = "alice", Framed-IP-Address = 10.20.0.5, '
        'Calling-Station-Id = "00-11-22-33-44-55", Acct-Session-Id = "5F3A0001"',
        expect(
            "radius",
            src_ip="10.20.0.5",
            user="alice",
            mac="00:11:22:33:44:55",
            action="login",
            session_id="5F3A0001",
        ),
    ),
    (  # pfSense captive portal, every event word its captiveportal.inc writes
        "logportalauth[12345]: Zone: cpzone - ACCEPT: alice, 00:11:22:33:44:55, 192.168.2.50",
        expect(
            "pfsense_portal", src_ip="192.168.2.50", user="alice", mac="00:11:22:33:44:55", action="login"
        ),
    ),
    (
        "logportalauth[12345]: Zone: cpzone - DISCONNECT: alice, 00:11:22:33:44:55, 192.168.2.50",
        expect(
            "pfsense_portal", src_ip="192.168.2.50", user="alice", mac="00:11:22:33:44:55", action="logout"
        ),
    ),
    (
        "logportalauth[12345]: Zone: cpzone - TIMEOUT: alice, 00:11:22:33:44:55, 192.168.2.50",
        expect(
            "pfsense_portal", src_ip="192.168.2.50", user="alice", mac="00:11:22:33:44:55", action="logout"
        ),
    ),
    (
        "logportalauth[12345]: Zone: cpzone - SESSION TIMEOUT: alice, 00:11:22:33:44:55, 192.168.2.50",
        expect(
            "pfsense_portal", src_ip="192.168.2.50", user="alice", mac="00:11:22:33:44:55", action="logout"
        ),
    ),
    (
        "logportalauth[12345]: Zone: cpzone - USER LOGOUT: alice, 00:11:22:33:44:55, 192.168.2.50",
        expect(
            "pfsense_portal", src_ip="192.168.2.50", user="alice", mac="00:11:22:33:44:55", action="logout"
        ),
    ),
    (  # the old session, which the new login ends, is the one named
        "logportalauth[12345]: Zone: cpzone - CONCURRENT LOGIN - TERMINATING OLD SESSION: alice, "
        "00:11:22:33:44:55, 192.168.2.50",
        expect(
            "pfsense_portal", src_ip="192.168.2.50", user="alice", mac="00:11:22:33:44:55", action="logout"
        ),
    ),
    (
        "logportalauth[12345]: Zone: cpzone - CONCURRENT LOGIN - REUSING OLD SESSION: alice, "
        "00:11:22:33:44:55, 192.168.2.51",
        expect(
            "pfsense_portal", src_ip="192.168.2.51", user="alice", mac="00:11:22:33:44:55", action="login"
        ),
    ),
    (
        "logportalauth[12345]: Zone: cpzone - FAILURE: bob, 00:11:22:33:44:66, 192.168.2.52, "
        "Invalid credentials specified",
        expect(
            "pfsense_portal",
            src_ip="192.168.2.52",
            user="bob",
            mac="00:11:22:33:44:66",
            action="login_failed",
        ),
    ),
    (  # a portal without authentication
        "logportalauth[12345]: Zone: cpzone - ACCEPT: unauthenticated, 00:11:22:33:44:77, 192.168.2.53",
        expect("pfsense_portal", src_ip="192.168.2.53", mac="00:11:22:33:44:77", action="login"),
    ),
    (  # pfSense web GUI (auth.inc), was not read
        "<38>Oct 10 13:55:36 fw php-fpm[123]: /index.php: Successful login for user 'admin' from: 192.168.1.10 "
        "(Local Database)",
        expect("pfsense_gui", src_ip="192.168.1.10", protocol="tcp", user="admin", action="login"),
    ),
    (
        "php-fpm[123]: /index.php: webConfigurator authentication error for user 'admin' from: 192.168.1.10",
        expect("pfsense_gui", src_ip="192.168.1.10", protocol="tcp", user="admin", action="login_failed"),
    ),
    (
        "php-fpm[123]: /index.php: User logged out for user 'admin' from: 192.168.1.10 (Local Database)",
        expect("pfsense_gui", src_ip="192.168.1.10", protocol="tcp", user="admin", action="logout"),
    ),
    (
        "php-fpm[123]: /index.php: Session timed out for user 'admin' from: 2001:db8::10",
        expect("pfsense_gui", src_ip="2001:db8::10", protocol="tcp", user="admin", action="logout"),
    ),
    (  # OPNsense (audit)
        "audit[4321]: /index.php: Successful login for user 'root' from: 192.168.1.11 (Local Database)",
        expect("pfsense_gui", src_ip="192.168.1.11", protocol="tcp", user="root", action="login"),
    ),
    (
        "audit[4321]: /index.php: Web GUI authentication error for 'root' from 192.168.1.11",
        expect("pfsense_gui", src_ip="192.168.1.11", protocol="tcp", user="root", action="login_failed"),
    ),
    (  # Windows NPS 6272 as Snare forwards it (tabs between the header fields, the message flattened)
        "MSWinEventLog\t1\tSecurity\t4711\tSat Oct 10 13:55:36 2026\t6272\tMicrosoft-Windows-Security-Auditing"
        "\tCORP\\alice\tN/A\tSuccess Audit\tnps01.corp.example\tNetwork Policy Server\t\tNetwork Policy Server "
        "granted access to a user.    User:   Security ID:   CORP\\alice   Account Name:   CORP\\alice   "
        "Account Domain:   CORP   Fully Qualified Account Name:   corp.example/Users/alice    Client Machine:   "
        "Security ID:   NULL SID   Account Name:   -   Fully Qualified Account Name:   -   OS-Version:   -   "
        "Called Station Identifier:   AA-BB-CC-DD-EE-FF:CorpWifi   Calling Station Identifier:   "
        "00-11-22-33-44-55    NAS:   NAS IPv4 Address:   10.0.0.2   NAS IPv6 Address:   -   NAS Identifier:   "
        "ap1   NAS Port-Type:   Wireless - IEEE 802.11   NAS Port:   1    RADIUS Client:   Client Friendly "
        "Name:   ap1   Client IP Address:   10.0.0.2",
        expect("nps", user="CORP\\alice", mac="00:11:22:33:44:55", action="login"),
    ),
    (  # NPS 6273 as NXLog forwards it (the message's tabs and line breaks kept as tabs)
        "<13>Oct 10 13:55:37 nps01.corp.example Microsoft-Windows-Security-Auditing[4]: Network Policy Server "
        "denied access to a user.\t\tUser:\t\tSecurity ID:\t\t\tNULL SID\t\tAccount Name:\t\t\tbob\t\t"
        "Account Domain:\t\t\tCORP\t\tFully Qualified Account Name:\t\tCORP\\bob\t\tClient Machine:\t\t"
        "Security ID:\t\t\tNULL SID\t\tAccount Name:\t\t\t-\t\tCalling Station Identifier:\t\t"
        "00:11:22:33:44:66\t\tNAS:\t\tNAS IPv4 Address:\t\t10.0.0.3\t\tReason Code:\t\t\t16\t\t"
        "Reason:\t\t\tAuthentication failed due to a user credentials mismatch.",
        expect("nps", user="bob", mac="00:11:22:33:44:66", action="login_failed"),
    ),
    (  # NPS 6272 for a VPN client: the Calling Station Identifier is its public address
        "Network Policy Server granted access to a user. User: Security ID: CORP\\carol Account Name: carol "
        "Account Domain: CORP Client Machine: Security ID: NULL SID Account Name: - Called Station "
        "Identifier: 203.0.113.1 Calling Station Identifier: 198.51.100.7 NAS: NAS IPv4 Address: 10.0.0.4",
        expect("nps", src_ip="198.51.100.7", user="carol", action="login"),
    ),
    (  # NPS 6278
        "Network Policy Server granted full access to a user because the host met the defined health policy. "
        "User: Security ID: CORP\\dave Account Name: dave Account Domain: CORP Client Machine: Account Name: - "
        "Calling Station Identifier: 00-11-22-33-44-88",
        expect("nps", user="dave", mac="00:11:22:33:44:88", action="login"),
    ),
]


@pytest.mark.parametrize(("line", "row"), AUTH)
def test_auth_sources(line: str, row: dict) -> None:
    assert extract_connection(line) == row


# --------------------------------------------------------------------------- near misses

NEAR_MISSES = [
    # NPS event without a user nor a station, and an NPS service event
    "Network Policy Server denied access to a user. User: Account Name: - Calling Station Identifier: -",
    "Network Policy Server discarded the accounting request for a user.",
    # pfSense GUI line whose address is not one
    "php-fpm[123]: /index.php: Successful login for user 'admin' from: 192.168.1.300 (Local Database)",
    # an Apache combined line: no %Ss:%Sh at its end
    '192.168.0.10 - - [10/Oct/2026:13:55:36 +0200] "GET / HTTP/1.1" 200 2326 "-" "NONE/1.0"',
    # squid combined whose client is not an address
    'proxy01 - - [10/Oct/2026:13:55:36 +0200] "GET http://example.com/ HTTP/1.1" 200 2326 TCP_MISS:HIER_DIRECT',
    "",
    "hello world",
    "<13>Jan 15 10:01:02 host app: nothing to see",
    # netfilter look-alikes
    "kernel: IN=eth0 OUT= SRC=999.1.1.1 DST=192.0.2.1 LEN=60 PROTO=TCP SPT=1 DPT=2",
    "kernel: IN=eth0 OUT= SRC=192.0.2.1 DST=192.0.2.2 LEN=60 PROTO=TCP SPT=70000 DPT=22",
    "LOGIN=eth0 OUT= SRC=192.0.2.1 DST=192.0.2.2 PROTO=TCP",
    "SRC=192.0.2.1 DST=192.0.2.2 PROTO=TCP SPT=1 DPT=2",
    "IN=eth0 OUT= SRC=192.0.2.1 PROTO=TCP",
    # Cisco look-alikes
    "%ASA-6-302013: Built outbound TCP connection for outside:1.2.3.4/80",
    "%ASA-6-302013: Built outbound TCP connection 1 for outside:1.2.3/80 (1.2.3/80) to inside:10.0.0.1/1 (10.0.0.1/1)",
    "%ASA-6-199999: Built outbound TCP connection 1 for outside:1.2.3.4/80 (1.2.3.4/80) to inside:10.0.0.1/1 (10.0.0.1/1)",
    "%ASA-4-722051: Group <GP> User <u> IP <198.51.100.7> IPv4 Address <not-an-ip> assigned to session",
    "%ASA-4-722051: Group <GP> User <u> IP <198.51.100.7> something else",
    # FortiGate / Stormshield look-alikes
    'type="event" subtype="system" srcip=10.0.0.1 action="login"',
    'type="traffic" srcip=10.0.0.256 dstip=10.0.0.1 proto=6',
    "id=firewall logtype=system src=10.0.0.1",
    # filterlog look-alikes
    "5,,,1000000103,igb1,match,block,in,4,0x0,,64,0,0,DF,6,tcp,60",
    "5,,,1000000103,igb1,match,block,in,4,0x0,,64,0,0,DF,6,tcp,60,192.168.1.300,10.0.0.1,1,2",
    "a,b,c,in,4,foo",
    # squid look-alikes
    "1286536308.779 180 not-an-ip TCP_MISS/200 411 GET http://www.example.com/ - HIER_DIRECT/93.184.216.34 -",
    "TCP_MISS/200 411 GET http://www.example.com/",
    # DHCP look-alikes
    "dhcpd: DHCPDISCOVER from aa:bb:cc:dd:ee:ff via eth0",
    "dnsmasq-dhcp[1]: DHCPDISCOVER(eth0) aa:bb:cc:dd:ee:ff",
    "dhcpd: DHCPACK on 192.168.1.999 to aa:bb:cc:dd:ee:ff via eth0",
    "dhcpd: DHCPACK on 192.168.1.23 to aa:bb:cc:dd:ee:ff",
    "dnsmasq-dhcp[1]: DHCPACK(eth0) 1.2.3.4.5 aa:bb:cc:dd:ee:ff",
    "dnsmasq-dhcp[1]: DHCPNONSENSE(eth0) 192.168.1.23 aa:bb:cc:dd:ee:ff",
    # auth look-alikes
    "Login OK without brackets",
    "Acct-Status-Type",
    "Acct-Status-Type = Accounting-On, NAS-IP-Address = 10.0.0.1",
    "Framed-IP-Address = 10.0.0.300, User-Name = x",
    "hotspot,info user1 (10.5.50.2): trying to log in by http-chap",
    "hotspot,info user1 (10.5.50.999): logged in",
    "Zone: guest - ACCEPT: jdupont, 00:11:22:33:44:55, not-an-ip",
    "sshd[1]: Accepted password for jdoe from 1.2.3 port 22 ssh2",
    "sshd[1]: Connection closed by 198.51.100.7 port 51234",
    # mikrotik look-alikes
    "proto TCP, 1.2.3.4:1->5.6.7.8:2",
    "proto TCP (SYN), 1.2.3.400:1->5.6.7.8:2, len 60",
]


@pytest.mark.parametrize("line", NEAR_MISSES)
def test_near_misses_do_not_match(line: str) -> None:
    assert extract_connection(line) is None


def test_oversized_input_is_not_scanned() -> None:
    line = NETFILTER[0][0] + " X" * 10000
    assert extract_connection(line) is None


@pytest.mark.parametrize(
    ("value", "mac"),
    [
        ("AA-BB-CC-DD-EE-FF", "aa:bb:cc:dd:ee:ff"),
        ("aabb.ccdd.eeff", "aa:bb:cc:dd:ee:ff"),
        ("aabbccddeeff", "aa:bb:cc:dd:ee:ff"),
        ("0:1:2:3:4:5", "00:01:02:03:04:05"),
        ("aa:bb:cc:dd:ee", None),
        ("gg:bb:cc:dd:ee:ff", None),
        ("aa:bb:cc:dd:ee:ff:00", None),
        ("", None),
    ],
)
def test_mac_normalisation(value: str, mac: str | None) -> None:
    assert norm_mac(value) == mac


def test_ipv4_mapped_addresses_become_ipv4() -> None:
    assert valid_ip("::ffff:192.0.2.1") == "192.0.2.1"


# --------------------------------------------------------------------------- properties and CLI

ALL_TABLES = [NETFILTER, MIKROTIK_FW, ASA, ASA_GUIDE, FORTIGATE, STORMSHIELD, PFSENSE, SQUID, DHCP, AUTH]
ALL_SAMPLES = [line for table in ALL_TABLES for line, _ in table]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_never_raises_on_arbitrary_text(text: str) -> None:
    row = extract_connection(text)
    assert row is None or list(row) == CONN_COLUMNS


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ALL_SAMPLES), st.integers(min_value=0, max_value=400), st.text(max_size=20))
def test_never_raises_on_mangled_samples(sample: str, cut: int, junk: str) -> None:
    """Truncated and spliced real lines: the extractor returns a typed row or None, never raises."""
    row = extract_connection(sample[:cut] + junk + sample[cut:])
    if row is not None:
        assert list(row) == CONN_COLUMNS
        for key in ("src_port", "dst_port", "nat_port"):
            assert row[key] is None or (isinstance(row[key], int) and 0 <= row[key] <= 65535)
        assert row["bytes"] is None or (isinstance(row["bytes"], int) and row["bytes"] >= 0)


def test_cli_one_object_per_line() -> None:
    lines = [NETFILTER[0][0], "not a connection", FORTIGATE[0][0]]
    stdin = io.BytesIO(("\n".join(lines) + "\n").encode() + b"\xff\xfe garbage\n")
    stdout = io.StringIO()
    assert run(stdin, stdout) == 0
    out = [loads(line) for line in stdout.getvalue().splitlines()]
    assert len(out) == 4
    assert out[0] == NETFILTER[0][1]
    assert out[1] == empty_connection()
    assert out[2] == FORTIGATE[0][1]
    assert out[3] == empty_connection()
    assert all(list(row) == CONN_COLUMNS for row in out)


# --------------------------------------------------------------------------- robustness details


def test_key_value_inside_quotes_cannot_spoof_fields() -> None:
    """A device name or URL chosen by a user must not rewrite the archived source."""
    line = (
        'type="traffic" srcname="pc srcip=6.6.6.6 srcport=1 user=admin" srcip=10.0.0.9 srcport=1234 '
        "dstip=10.0.1.9 dstport=22 proto=6 action=accept"
    )
    row = extract_connection(line)
    assert row is not None
    assert (row["src_ip"], row["src_port"], row["user"]) == ("10.0.0.9", 1234, None)


def test_key_value_with_escaped_quotes_takes_the_full_scan() -> None:
    line = (
        'type="traffic" srcname="pc \\" srcip=6.6.6.6" srcip=10.0.0.9 srcport=1234 dstip=10.0.1.9 '
        'dstport=22 proto=6 user="a \\"quoted\\" name"'
    )
    row = extract_connection(line)
    assert row is not None
    assert (row["src_ip"], row["src_port"]) == ("10.0.0.9", 1234)
    assert row["user"] == 'a \\"quoted\\" name'


def test_key_value_with_unbalanced_quotes() -> None:
    line = 'type=traffic srcip=10.0.0.9 srcport=1234 dstip=10.0.1.9 dstport=22 proto=6 user="cut'
    row = extract_connection(line)
    assert row is not None
    assert row["src_ip"] == "10.0.0.9"


@pytest.mark.parametrize("port", ["١٢٣", "²", "99999", "-1", "0x50"])
def test_ports_must_be_ascii_numbers_in_range(port: str) -> None:
    line = f"IN=eth0 OUT= SRC=192.0.2.1 DST=192.0.2.2 LEN=60 PROTO=TCP SPT={port} DPT=22"
    assert extract_connection(line) is None or extract_connection(line)["src_port"] is None


def test_every_extractor_has_samples() -> None:
    covered = {row["conn_format"] for table in ALL_TABLES for _, row in table}
    assert covered >= {name for name, _, _ in connlog.EXTRACTORS}


def test_cli_handles_crlf_and_missing_final_newline() -> None:
    stdout = io.StringIO()
    run(io.BytesIO(DHCP[0][0].encode() + b"\r\n" + SQUID[0][0].encode()), stdout)
    out = [loads(line) for line in stdout.getvalue().splitlines()]
    assert out == [DHCP[0][1], SQUID[0][1]]


KEA = [
    (
        "kea-dhcp4[812]: INFO  [kea-dhcp4.leases/812.139] DHCP4_LEASE_ALLOC [hwtype=1 08:00:2b:02:3f:4e], "
        "cid=[no info], tid=0x67a5b3c2: lease 192.0.2.10 has been allocated for 3600 seconds",
        expect("dhcp", src_ip="192.0.2.10", protocol="udp", mac="08:00:2b:02:3f:4e", action="lease"),
    ),
    (
        "INFO  [kea-dhcp4.leases/812.139] DHCP4_RELEASE [hwtype=1 08:00:2b:02:3f:4e], cid=[01:08:00:2b:02:3f:4e], "
        "tid=0x1: address 192.0.2.10 was released properly.",
        expect("dhcp", src_ip="192.0.2.10", protocol="udp", mac="08:00:2b:02:3f:4e", action="release"),
    ),
    (
        "INFO  [kea-dhcp6.leases/9.1] DHCP6_LEASE_ALLOC duid=[00:03:00:01:08:00:2b:02:3f:4e], [no hwaddr info], "
        "tid=0x2: lease for address 2001:db8:1::10 and iaid=1 has been allocated for 4000 seconds",
        expect("dhcp", src_ip="2001:db8:1::10", protocol="udp", action="lease"),
    ),
]


@pytest.mark.parametrize(("line", "row"), KEA)
def test_kea_dhcp(line: str, row: dict) -> None:
    assert extract_connection(line) == row


def test_byte_counts_fit_the_int64_archive_column() -> None:
    line = "Acct-Status-Type=Stop User-Name=x Framed-IP-Address=10.0.0.1 Acct-Input-Gigawords=999999999999"
    assert extract_connection(line) is None
    line = "%ASA-6-302014: Teardown TCP connection 1 for outside:1.1.1.1/443 to inside:10.0.0.1/5000 duration 0:00:01 bytes 1234567890123456789012"
    assert extract_connection(line) is None
