"""Every shipped syslog rule: what it matches, the component it extracts, problem versus clear."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import configured
from vigie.codecs.syslog import parse_syslog
from vigie.pipelines.normalize.normalize import normalize_syslog
from vigie.pipelines.normalize.rules import RuleError, RuleSet

RULES = RuleSet.default()

# (message, app_name, expected pair, expected component, expected clear) ; None pair = no rule
CASES = [
    (
        "%LINK-3-UPDOWN: Interface GigabitEthernet0/1, changed state to down",
        None,
        "cisco-link-updown",
        "GigabitEthernet0/1",
        False,
    ),
    (
        "%LINK-3-UPDOWN: Interface GigabitEthernet0/1, changed state to up",
        None,
        "cisco-link-updown",
        "GigabitEthernet0/1",
        True,
    ),
    (
        "%ETHPORT-5-IF_DOWN_LINK_FAILURE: Interface Ethernet1/1 is down (Link failure)",
        None,
        "cisco-link-updown",
        "Ethernet1/1",
        False,
    ),
    (
        "%ETHPORT-5-IF_UP: Interface Ethernet1/1 is up in mode access",
        None,
        "cisco-link-updown",
        "Ethernet1/1",
        True,
    ),
    (
        "%LINEPROTO-5-UPDOWN: Line protocol on Interface Gi0/2, changed state to down",
        None,
        "cisco-lineproto-updown",
        "Gi0/2",
        False,
    ),
    (
        "%LINEPROTO-5-UPDOWN: Line protocol on Interface Gi0/2, changed state to up",
        None,
        "cisco-lineproto-updown",
        "Gi0/2",
        True,
    ),
    (
        "%OSPF-5-ADJCHG: Process 1, Nbr 10.0.0.2 on GigabitEthernet0/1 from FULL to DOWN, Neighbor Down: Dead timer "
        "expired",
        None,
        "cisco-ospf-adjchg",
        "ospf:10.0.0.2",
        False,
    ),
    (
        "%OSPF-5-ADJCHG: Process 1, Nbr 10.0.0.2 on GigabitEthernet0/1 from LOADING to FULL, Loading Done",
        None,
        "cisco-ospf-adjchg",
        "ospf:10.0.0.2",
        True,
    ),
    (
        "%BGP-5-ADJCHANGE: neighbor 192.168.1.2 Down BGP Notification sent",
        None,
        "cisco-bgp-adjchange",
        "bgp:192.168.1.2",
        False,
    ),
    (
        "%BGP-5-ADJCHANGE: neighbor 192.168.1.2 vpn vrf CUST Up",
        None,
        "cisco-bgp-adjchange",
        "bgp:192.168.1.2",
        True,
    ),
    (
        "%PM-4-ERR_DISABLE: bpduguard error detected on Gi0/1, putting Gi0/1 in err-disable state",
        None,
        "cisco-err-disable",
        "Gi0/1",
        False,
    ),
    (
        "%PM-4-ERR_RECOVER: Attempting to recover from bpduguard err-disable state on Gi0/1",
        None,
        "cisco-err-disable",
        "Gi0/1",
        True,
    ),
    ("%SYS-5-RESTART: System restarted --", None, "cisco-sys-restart", "system", False),
    (
        "%SYS-5-RELOAD: Reload requested by console. Reload Reason: Reload Command.",
        None,
        "cisco-sys-reload",
        "system",
        False,
    ),
    (
        "SNMP_TRAP_LINK_DOWN: ifIndex 526, ifAdminStatus up(1), ifOperStatus down(2), ifName ge-0/0/2",
        "mib2d",
        "junos-link-updown",
        "ge-0/0/2",
        False,
    ),
    (
        "SNMP_TRAP_LINK_UP: ifIndex 526, ifAdminStatus up(1), ifOperStatus up(1), ifName ge-0/0/2",
        "mib2d",
        "junos-link-updown",
        "ge-0/0/2",
        True,
    ),
    (
        "BGP_PEER_STATE_CHANGED: BGP peer 10.0.0.9 (External AS 65001) changed state from Established to Idle "
        "(event RecvNotify)",
        "rpd",
        "junos-bgp-state",
        "bgp:10.0.0.9",
        False,
    ),
    (
        "BGP_PEER_STATE_CHANGED: BGP peer 10.0.0.9 (External AS 65001) changed state from OpenConfirm to "
        "Established (event RecvKeepAlive)",
        "rpd",
        "junos-bgp-state",
        "bgp:10.0.0.9",
        True,
    ),
    ("e1000e 0000:00:19.0 eth0: NIC Link is Down", "kernel", "linux-nic-link", "eth0", False),
    (
        "e1000e: eth0 NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx",
        "kernel",
        "linux-nic-link",
        "eth0",
        True,
    ),
    (
        "bond0: link status definitely down for interface eth1, disabling it",
        "kernel",
        "linux-bond-slave",
        "bond0/eth1",
        False,
    ),
    (
        "bond0: (slave eth1): link status definitely up, 1000 Mbps full duplex",
        "kernel",
        "linux-bond-slave",
        "bond0/eth1",
        True,
    ),
    (
        "Out of memory: Killed process 1234 (java) total-vm:1234kB, anon-rss:100kB",
        "kernel",
        "linux-oom-kill",
        "oom:java",
        False,
    ),
    (
        "blk_update_request: I/O error, dev sda, sector 12345 op 0x0:(READ)",
        "kernel",
        "linux-disk-io-error",
        "disk:sda",
        False,
    ),
    (
        "Buffer I/O error on dev sdb1, logical block 0, async page read",
        "kernel",
        "linux-disk-io-error",
        "disk:sdb1",
        False,
    ),
    (
        "EXT4-fs error (device sda1): ext4_find_entry:1455: inode #2: comm ls",
        "kernel",
        "linux-fs-error",
        "disk:sda1",
        False,
    ),
    ("%C6KPWR-SP-4-PSFAIL: power supply 1 output failed.", None, "power-supply", "psu1", False),
    ("%PLATFORM_ENV-1-PWR: Faulty internal power supply A detected", None, "power-supply", "psuA", False),
    ("Power supply 1 is now OK", None, "power-supply", "psu1", True),
    ("%ENVMON-3-FAN_FAILED: Fan 2 not rotating", None, "fan", "fan2", False),
    ("Fan 2 OK", None, "fan", "fan2", True),
    # no rule: no event
    ("%LINK-5-CHANGED: Interface Gi0/1, changed state to administratively down", None, None, None, None),
    (
        "%OSPF-5-ADJCHG: Process 1, Nbr 10.0.0.2 on Gi0/1 from DOWN to INIT, Received Hello",
        None,
        None,
        None,
        None,
    ),
    ("Accepted publickey for alice from 10.0.0.5 port 50000 ssh2", "sshd", None, None, None),
    ("fan speed set to 3000 rpm", None, None, None, None),
]


@pytest.mark.parametrize(("msg", "app", "pair", "component", "clear"), CASES)
def test_default_rules(msg, app, pair, component, clear):
    found = RULES.match(msg, app)
    if pair is None:
        assert found is None
        return
    assert found is not None
    assert (found.rule.pair, found.component, found.clear) == (pair, component, clear)


def test_parsed_cisco_field_is_used_when_msg_lacks_the_mnemonic():
    found = RULES.match(
        "Interface Gi0/3, changed state to down",
        None,
        {"facility": "LINK", "severity": 3, "mnemonic": "UPDOWN"},
    )
    assert found.rule.name == "cisco-link-updown" and found.mnemonic == "LINK-3-UPDOWN"


def test_cisco_rule_ignores_other_mnemonics():
    # the same words under another mnemonic do not reach the cisco-indexed rule
    assert RULES.match("%FOO-3-BAR: Interface Gi0/1, changed state to down") is None


def test_down_and_up_share_the_pair_so_they_pair_by_fingerprint():
    down = RULES.match("%PM-4-ERR_DISABLE: x error detected on Gi0/1, putting Gi0/1 in err-disable state")
    up = RULES.match("%PM-4-ERR_RECOVER: Attempting to recover from x err-disable state on Gi0/1")
    assert (down.rule.pair, down.component) == (up.rule.pair, up.component)
    assert down.rule.name != up.rule.name


def test_custom_rule_from_toml():
    rules = RuleSet.from_toml("""
[[rule]]
name = "ups"
app_name = ["upsd"]
contains = ["on battery", "on line"]
msg = 'UPS (?P<ups>\\S+) on (?P<state>battery|line)'
component = "ups:{ups}"
severity = "warning"
state = "state"
clear = ["line"]
resolve_after = 60
""")
    found = rules.match("UPS eaton1 on battery", "upsd")
    assert (found.component, found.clear, found.rule.resolve_after) == ("ups:eaton1", False, 60.0)
    assert rules.match("UPS eaton1 on line", "upsd").clear is True
    assert rules.match("UPS eaton1 on battery", "other") is None


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('[[rule]]\nname = "x"\n', "msg"),
        ('[[rule]]\nname = "x"\nmsg = "("\n', "not a valid regular expression"),
        ('[[rule]]\nname = "x"\nmsg = "a"\ncomponent = "{intf}"\n', "no group"),
        ('[[rule]]\nname = "x"\nmsg = "a"\nseverity = "bad"\n', "severity"),
        ('[[rule]]\nname = "x"\nmsg = "a"\nfoo = 1\n', "unknown field"),
        ('[[rule]]\nname = "x"\nmsg = "(?P<s>a)"\nclear = ["a"]\n', "no state group"),
        ('[[rule]]\nname = "x"\nmsg = "a"\n[[rule]]\nname = "x"\nmsg = "b"\n', "duplicate"),
        ('[[rule]]\nname = "x"\nmsg = "a"\ncisco = ["not a mnemonic"]\n', "mnemonic"),
    ],
)
def test_rule_errors_name_the_field(text, error):
    with pytest.raises(RuleError, match=error):
        RuleSet.from_toml(text)


# --- the raw prefilter: normalize skips parsing what no rule can match ---------------------------


def _wrap(msg: str, app: str | None) -> list[bytes]:
    tag = f"{app}[42]: " if app else ""
    return [
        f"<187>Mar  1 10:00:00 sw1 {tag}{msg}".encode(),
        f"<187>1 2025-03-01T10:00:00Z sw1 {app or '-'} 42 - - {msg}".encode(),
        f"<187>123: *Mar  1 10:00:00.123 CET: {msg}".encode(),
    ]


@pytest.mark.parametrize(("msg", "app", "pair", "component", "clear"), [c for c in CASES if c[2] is not None])
def test_raw_prefilter_lets_every_rule_hit_through(msg, app, pair, component, clear):
    for raw in _wrap(msg, app):
        assert RULES.could_match(raw), raw


@pytest.mark.parametrize("raw", [
    b"<4>Mar  1 10:00:00 fw1 kernel: [UFW BLOCK] IN=eth0 OUT= SRC=10.0.0.5 DST=10.0.0.1 PROTO=TCP SPT=5 DPT=22",
    b"<166>Mar  1 10:00:00 asa %ASA-6-302013: Built outbound TCP connection 1 for outside:1.2.3.4/443 "
    b"(1.2.3.4/443) to inside:10.0.0.5/50000 (5.6.7.8/50000)",
    b'<189>date=2025-03-01 time=10:00:00 devname="fg1" type="traffic" srcip=10.0.0.5 dstip=1.2.3.4',
    b"<30>Mar  1 10:00:00 dhcp1 dhcpd[99]: DHCPACK on 10.0.0.5 to aa:bb:cc:dd:ee:ff (pc1) via eth0",
    b"<86>Mar  1 10:00:00 srv sshd[1]: Accepted publickey for alice from 10.0.0.5 port 50000 ssh2",
])
def test_raw_prefilter_drops_connection_logs(raw):
    assert not RULES.could_match(raw)


_FRAGMENTS = st.sampled_from([
    "%LINK-3-UPDOWN: ", "%LINK-5-CHANGED: ", "%ETHPORT-5-IF_UP: ", "%ASA-6-302013: ", "%SYS-5-RESTART: ",
    "Interface Gi0/1, changed state to down", "NIC Link is Down", "link status definitely up", "Fan 2 ",
    "POWER SUPPLY 1 failed", "Out of memory: Killed process 1 (x)", "I/O error, dev sda", "EXT4-fs error ",
    "SNMP_TRAP_LINK_DOWN ", "bgp_peer_state_changed ", "İ", "K", "é", " ", "%", "-", "fan", "FAN", "Fan",
])
_TEXT = st.lists(st.one_of(_FRAGMENTS, st.text(max_size=8)), max_size=6).map("".join)


@settings(max_examples=400, deadline=None)
@given(msg=_TEXT, app=st.sampled_from([None, "kernel", "sshd", "%LINK"]), form=st.integers(0, 2))
def test_raw_prefilter_never_drops_what_normalize_would_keep(msg, app, form):
    raw = _wrap(msg, app)[form]
    event = normalize_syslog(parse_syslog(raw), configured.inventory(None), RULES)
    if event is not None:
        assert RULES.could_match(raw), (raw, event["attributes"]["matched"])
