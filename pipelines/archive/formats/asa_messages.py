"""Cisco ASA / FTD messages other than connections and translations: denies, to-the-box access, AAA, VPN.

Part of the cisco_asa format (formats/cisco_asa.py dispatches here by message id); kept apart so that
neither module outgrows a reader. These messages are rare next to 302013-302016 and are read row by row.

Every id below comes with the message format of Cisco's "Cisco Secure Firewall ASA Series Syslog
Messages" guide (https://www.cisco.com/c/en/us/td/docs/security/asa/syslog/b_syslog.html) and which
party of it is the source (the initiator of the connection or the sender of the packet) and why.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from vigie.pipelines.archive.formats.values import (
    ADDR,
    PORT_PROTOS,
    Conn,
    conn_row,
    norm_proto,
    norm_token,
    norm_user,
    sum_bytes,
    valid_ip,
    valid_port,
)


def asa_user(*candidates: str | None) -> str | None:
    """First real user name among the trailing AAA user and the identity-firewall users."""
    for candidate in candidates:
        if candidate:
            value = norm_user(candidate.split(",")[0])
            if value is not None:
                return value
    return None


def _endpoints(m: re.Match[str], action: str, proto: str | None, user: str | None = None) -> Conn:
    """Row for messages that name the source (sip/sport) and the destination (dip/dport) explicitly."""
    proto = norm_proto(proto)
    ports = proto in PORT_PROTOS
    groups = m.groupdict()
    return conn_row(
        "cisco_asa",
        src_ip=valid_ip(groups.get("sip")),
        src_port=valid_port(groups.get("sport")) if ports else None,
        dst_ip=valid_ip(groups.get("dip")),
        dst_port=valid_port(groups.get("dport")) if ports else None,
        protocol=proto,
        user=user if user is not None else asa_user(groups.get("suser")),
        action=action,
    )


_IDFW = r"(?:\s?\((?P<{n}>[^()]*)\))?"  # an optional "(idfw_user)" or "(idfw_user, sg_info)" bracket

# 106023: "Deny protocol src [interface_name:source_address/source_port] [([idfw_user|FQDN_string], sg_info)]
# dst interface_name:dest_address/dest_port [([idfw_user|FQDN_string], sg_info)] [type {string}, code {code}]
# by access_group acl_ID [0x8ed66b60, 0xf8852875]": a packet denied by an ACL; src is its sender, which for
# the first packet of a connection (the one ACLs check) is the initiator.
_DENY = re.compile(
    r"Deny (?P<proto>protocol \d+|\S+) src "
    rf"(?P<sif>[^\s:]+):(?P<sip>{ADDR})(?:/(?P<sport>\d+))?{_IDFW.format(n='suser')} "
    rf"dst (?P<dif>[^\s:]+):(?P<dip>{ADDR})(?:/(?P<dport>\d+))?"
)
# 106010: "Deny inbound protocol src [interface_name:source_address/source_port] [([idfw_user | FQDN_string],
# sg_info)] dst [interface_name:dest_address/dest_port] [([idfw_user | FQDN_string], sg_info)]";
# 106014: "Deny inbound icmp src interface_name : IP_address [([idfw_user | FQDN_string], sg_info)] dst
# interface_name : IP_address [([idfw_user | FQDN_string], sg_info)] (type dec, code dec)": an inbound packet
# refused (no connection to match, no rule); src is its sender, the would-be initiator.
_DENY_DIR = re.compile(
    r"Deny (?:inbound|outbound) (?P<proto>protocol \d+|\S+) src "
    rf"(?P<sif>[^\s:]+)\s?:\s?(?P<sip>{ADDR})(?:/(?P<sport>\d+))?{_IDFW.format(n='suser')} "
    rf"dst (?P<dif>[^\s:]+)\s?:\s?(?P<dip>{ADDR})(?:/(?P<dport>\d+))?"
)
# 106001: "Inbound TCP connection denied from IP_address/port to IP_address/port flags tcp_flags on interface
# interface_name": a SYN refused; "from" is the initiator.
# 106006: "Deny inbound UDP from outside_address/outside_port to inside_address/inside_port on interface
# interface_name"; 106007: "Deny inbound UDP from outside_address/outside_port to inside_address/inside_port
# due to DNS {Response|Query}": "from" is the sender, the outside party that tried to start the exchange.
# 106015: "Deny TCP (no connection) from IP_address/port to IP_address/port flags tcp_flags on interface
# interface_name": a packet of no known connection (often a late RST or FIN); "from" is that packet's sender,
# the only party the message knows.
_DENY_FROM = re.compile(
    r"(?:Deny (?:inbound |outbound )?(?P<proto>[A-Za-z]+) (?:\(no connection\) )?"
    r"|(?:Inbound|Outbound) (?P<proto2>TCP|UDP) connection denied )"
    rf"from (?P<sip>{ADDR})/(?P<sport>\d+) to (?P<dip>{ADDR})/(?P<dport>\d+)"
)
# 106021: "Deny protocol reverse path check from source_address to dest_address on interface interface_name";
# 106022: "Deny protocol connection spoof from source_address to dest_address on interface interface_name";
# 106016: "Deny IP spoof from (IP_address) to IP_address on interface interface_name": a packet dropped for
# its (claimed) source; "from" is the address the packet carried as its source.
_DENY_SPOOF = re.compile(
    r"Deny (?P<proto>\S+) (?:reverse path check|connection spoof|spoof) "
    rf"from \(?(?P<sip>{ADDR})\)? to (?P<dip>{ADDR})"
)
# 106002: "protocol Connection denied by outbound list acl_ID src inside_address dest outside_address";
# 106018: "ICMP packet type ICMP_type denied by outbound list acl_ID src inside_address dest outside_address":
# an outbound packet refused by an outbound list; src (the inside host) started it.
_DENY_OUTBOUND_LIST = re.compile(
    r"(?:(?P<proto>\S+) Connection|(?P<icmp>ICMP) packet type \S+) denied by outbound list \S+ "
    rf"src (?P<sip>{ADDR}) dest (?P<dip>{ADDR})"
)
# 106100: "access-list acl_ID {permitted | denied | est-allowed} protocol interface_name/source_address
# (source_port) [(idfw_user)] -> interface_name/dest_address(dest_port) [(idfw_user)] hit-cnt number ({first
# hit | number-second interval}) hash codes": the packet that hit the ACL entry, source first ("->").
_ACL = re.compile(
    r"access-list (?P<acl>\S+) (?P<act>permitted|denied|est-allowed) (?P<proto>\S+) "
    rf"(?P<sif>[^\s/]+)/(?P<sip>{ADDR})\((?P<sport>\d+)\){_IDFW.format(n='suser')} -> "
    rf"(?P<dif>[^\s/]+)/(?P<dip>{ADDR})\((?P<dport>\d+)\)"
)
# 313001: "Denied ICMP type=number, code=code from IP_address on interface interface_name" (313008, the same
# for ICMPv6): an ICMP packet to the ASA itself refused; "from" is its sender, the ASA the destination
# (whose address the message does not give).
_ICMP_TO_BOX = re.compile(
    rf"Denied (?P<proto>ICMP|ICMPv6) type=\d+, code=\d+ from (?P<sip>{ADDR}) on interface \S+"
)
# 313004: "Denied ICMP type=icmp_type, from source_address on interface interface_name to dest_address: no
# matching session" (ASA 8.x+ write "from laddr source_address"): an ICMP reply with no request; "from" is
# its sender.
_ICMP_NO_SESSION = re.compile(
    rf"Denied (?P<proto>ICMP|ICMPv6) type=\d+, from (?:laddr )?(?P<sip>{ADDR}) on interface \S+ "
    rf"to (?P<dip>{ADDR}): no matching session"
)
# 313005: "No matching connection for ICMP error message: icmp_msg_info on interface_name interface. Original
# IP payload: embedded_frame_info", icmp_msg_info = "icmp src src_interface_name:src_address [([idfw_user |
# FQDN_string], sg_info)] dst dest_interface_name:dest_address [([idfw_user | FQDN_string], sg_info)] (type
# icmp_type, code icmp_code)": the source is the sender of the ICMP error (the embedded packet, quoted by
# the error, is not this message's connection and is not taken).
_ICMP_ERROR = re.compile(
    r"No matching connection for ICMP error message: (?P<proto>icmp6?|icmpv6) src "
    rf"(?P<sif>[^\s:]+):(?P<sip>{ADDR}){_IDFW.format(n='suser')} "
    rf"dst (?P<dif>[^\s:]+):(?P<dip>{ADDR})"
)
# 710002: "{TCP|UDP} access permitted from source_address/source_port to interface_name:dest_address/service";
# 710003: "{TCP|UDP} access denied by ACL from source_IP/source_port to interface_name:dest_IP/service";
# 710005: "{TCP|UDP|SCTP} request discarded from source_address/source_port to interface_name:dest_address/
# service": a connection to the ASA itself (management, VPN); "from" is the initiator, "to" the ASA's own
# address, the service a port number or an ASA service name.
_TO_BOX = re.compile(
    r"(?P<proto>TCP|UDP|SCTP) (?P<res>access permitted|access denied by ACL|request discarded) "
    rf"from (?P<sip>{ADDR})/(?P<sport>\d+) to (?P<dif>[^\s:]+):(?P<dip>{ADDR})/(?P<svc>[\w-]+)"
)
_TO_BOX_ACTIONS = {"access permitted": "allow", "access denied by ACL": "deny", "request discarded": "deny"}
# The ASA's names for the services it serves itself (710002 and 605004/605005 write them instead of ports).
_ASA_SERVICES = {
    "ftp": 21,
    "ssh": 22,
    "telnet": 23,
    "smtp": 25,
    "domain": 53,
    "tftp": 69,
    "http": 80,
    "www": 80,
    "ntp": 123,
    "snmp": 161,
    "https": 443,
    "isakmp": 500,
    "syslog": 514,
    "ldap": 389,
    "radius": 1645,
}


def _service_port(svc: str) -> int | None:
    """A 710002-style service: a port number, an ASA service name, or None for a name we do not know."""
    if svc.isdigit():
        return valid_port(svc)
    return _ASA_SERVICES.get(svc.lower())


# 109001: "Auth start for user user from inside_address/inside_port to outside_address/outside_port";
# 109005: "Authentication succeeded for user user from inside_address/inside_port to
# outside_address/outside_port on interface interface_name"; 109006: "Authentication failed for user user
# from ..."; 109007: "Authorization permitted for user user from inside_address/inside_port to
# outside_address/outside_port on interface interface_name"; 109008: "Authorization denied for user user from
# outside_address/outside_port to inside_address/inside_port on interface interface_name": cut-through proxy
# (HTTP, HTTPS, FTP, Telnet: TCP) authentication of the connection "from" the user's host "to" the server it
# asked for; the user name is written bare or in quotes ('???' before the user has typed one).
_CUT_THROUGH = re.compile(
    r"(?P<ev>Auth start|Authentication succeeded|Authentication failed|Authorization permitted"
    r"|Authorization denied) for user (?:'(?P<quser>[^']*)'|(?P<user>\S+)) "
    rf"from (?P<sip>{ADDR})/(?P<sport>\d+) to (?P<dip>{ADDR})/(?P<dport>\d+)"
)
_CUT_THROUGH_ACTIONS = {
    "Auth start": "request",
    "Authentication succeeded": "login",
    "Authentication failed": "login_failed",
    "Authorization permitted": "allow",
    "Authorization denied": "deny",
}
# 113004: "AAA user aaa_type Successful : server = server_IP_address : user = user"; 113005: "AAA user
# authentication Rejected : reason = AAA_failure_reason : server = server_IP_address : user = user : user IP =
# user_ip"; 113012: "AAA user authentication Successful : local database : user = user"; 113015: "AAA user
# authentication Rejected : reason = reason : local database : user = user : user IP = xxx.xxx.xxx.xxx": the
# user (and, when given, the user's address); the server is the AAA server, not a party of a connection.
_AAA = re.compile(
    r"AAA user (?P<type>authentication|authorization) (?P<res>Successful|Rejected)\b(?P<rest>.*)"
)
_AAA_USER = re.compile(r":\s*user = (?P<user>.*?)\s*(?::\s*user IP = (?P<ip>\S+?)\s*)?$")
_AAA_ACTIONS = {
    ("authentication", "Successful"): "login",
    ("authentication", "Rejected"): "login_failed",
    ("authorization", "Successful"): "allow",
    ("authorization", "Rejected"): "deny",
}
# 113008: "AAA transaction status ACCEPT : user = user": the user accepted, nothing else.
_AAA_ACCEPT = re.compile(r"AAA transaction status ACCEPT\s*:\s*user = (?P<user>.*?)\s*$")
# 611101: "User authentication succeeded: IP, IP address: Uname: user"; 611102: "User authentication failed:
# IP = IP address, Uname: user" (VPN client authentication: the client's address and user).
_USER_AUTH = re.compile(
    r"User authentication (?P<res>succeeded|failed):\s*(?:IP(?: address)?\s*[:=,]?\s*)?"
    rf"(?:(?P<ip>{ADDR})\s*[,:]?\s*)?Uname\s*:\s*(?P<user>\S+)"
)
# 605004: "Login denied from source-address/source-port to interface:destination/service for user "username"";
# 605005: "Login permitted from source-address/source-port to interface:destination/service for user
# "username"": a management session (SSH, Telnet, HTTPS) to the ASA; "from" is the administrator's host.
_MGMT_LOGIN = re.compile(
    rf"Login (?P<res>permitted|denied) from (?P<sip>{ADDR})/(?P<sport>\d+) to "
    rf"(?P<dif>[^\s:]+):(?P<dip>{ADDR})/(?P<svc>\S+) for user \"(?P<user>[^\"]*)\""
)
# 716001: "Group group User user IP ip WebVPN session started."; 716002: "Group group User user IP ip WebVPN
# session terminated: reason."; 113039: "Group group User user IP ip AnyConnect parent session started.";
# 722037: "Group group User user IP ip SVC closing connection: reason."; 722051: "Group group-policy User
# username IP public-ip IPv4 Address assigned-ip IPv6 Address assigned-ip assigned to session"; 722022: "Group
# group User user-name IP IP_address {TCP | UDP} SVC connection established {with | without} compression";
# 722023: "Group group User user-name IP IP_address {TCP | UDP} SVC connection terminated {with|without}
# compression" (the ASA writes each value in angle brackets): the remote user, whose public address ("IP")
# opened the session, and the inside address the ASA assigned (722051), which the user's traffic then has.
_VPN = re.compile(
    r"Group <(?P<group>[^>]*)> User <(?P<user>[^>]*)> IP <(?P<ip>[^>]*)>"
    r"(?: IPv[46] (?:A|a)ddress <(?P<assigned>[^>]*)> assigned to session)?"
    r"(?: (?P<proto>TCP|UDP) SVC connection (?P<svc>established|terminated))?"
)
# 113019: "Group = group, Username = user, IP = peer_address, Session disconnected. Session Type: type,
# Duration: duration, Bytes xmt: count, Bytes rcv: count, Reason: reason": the VPN peer's public address.
_VPN_DISCONNECT = re.compile(
    r"Group = (?P<group>[^,]*), Username = (?P<user>[^,]*), IP = (?P<ip>[^,\s]+), Session disconnected\."
    r".*?Bytes xmt: (?P<tx>\d+), Bytes rcv: (?P<rx>\d+)"
)
VPN_ACTIONS = {
    "716001": "login",
    "113039": "login",
    "722051": "login",
    "722022": "build",
    "716002": "logout",
    "722037": "logout",
    "722023": "teardown",
    "113019": "logout",
}


# FTD 430002 (connection start) and 430003 (connection end), Cisco "Cisco Secure Firewall Threat Defense Syslog
# Messages": "DeviceUUID: ..., InstanceID: ..., ConnectionID: id, AccessControlRuleAction: action, SrcIP: ip,
# DstIP: ip, SrcPort: port, DstPort: port, Protocol: proto, ..., User: user, ..., InitiatorBytes: n,
# ResponderBytes: n, ..., NAT_InitiatorIP: ip, NAT_InitiatorPort: port, NAT_ResponderIP: ip, ...": Src is the
# connection's initiator (the event's "Initiator IP"), NAT_Initiator* its translated socket.
_FTD_FIELD = re.compile(r"(?:^|,\s)([A-Za-z_][A-Za-z_ ]{0,40}): ([^,]*)")
_FTD_KEYS = frozenset(
    {"ConnectionID", "AccessControlRuleAction", "SrcIP", "DstIP", "SrcPort", "DstPort", "Protocol", "User"}
    | {"InitiatorBytes", "ResponderBytes", "NAT_InitiatorIP", "NAT_InitiatorPort"}
)
_FTD_NO_USER = frozenset({"No Authentication Required", "Not Found", "Unknown"})


def _ftd_connection(msg_id: str, body: str) -> Conn | None:
    """430002, 430003."""
    f: dict[str, str] = {}
    for key, value in _FTD_FIELD.findall(body):
        if key in _FTD_KEYS and key not in f:
            f[key] = value.strip()
    if "SrcIP" not in f or "DstIP" not in f:
        return None
    proto = norm_proto(f.get("Protocol"))
    ports = proto in PORT_PROTOS
    src_ip, src_port = valid_ip(f["SrcIP"]), valid_port(f.get("SrcPort")) if ports else None
    nat_ip, nat_port = (
        valid_ip(f.get("NAT_InitiatorIP")),
        valid_port(f.get("NAT_InitiatorPort")) if ports else None,
    )
    if nat_ip is None or (nat_ip == src_ip and nat_port == src_port):
        nat_ip = nat_port = None
    rule = f.get("AccessControlRuleAction", "").lower()
    action = "deny" if "block" in rule else ("build" if msg_id == "430002" else "teardown")
    user = f.get("User")
    return conn_row(
        "cisco_asa",
        src_ip=src_ip,
        src_port=src_port,
        dst_ip=valid_ip(f["DstIP"]),
        dst_port=valid_port(f.get("DstPort")) if ports else None,
        protocol=proto,
        nat_ip=nat_ip,
        nat_port=nat_port,
        user=None if user in _FTD_NO_USER else asa_user(user),
        action=action,
        bytes=sum_bytes(f.get("InitiatorBytes"), f.get("ResponderBytes")),
        session_id=norm_token(f.get("ConnectionID")),
    )


def _deny(body: str) -> Conn | None:
    """106023."""
    m = _DENY.match(body)
    return _endpoints(m, "deny", m["proto"]) if m else None


def _deny_dir(body: str) -> Conn | None:
    """106010, 106014."""
    m = _DENY_DIR.match(body)
    return _endpoints(m, "deny", m["proto"]) if m else None


def _deny_from(body: str) -> Conn | None:
    """106001, 106006, 106007, 106015."""
    m = _DENY_FROM.match(body)
    return _endpoints(m, "deny", m["proto"] or m["proto2"]) if m else None


def _deny_spoof(body: str) -> Conn | None:
    """106016, 106021, 106022."""
    m = _DENY_SPOOF.match(body)
    return _endpoints(m, "deny", m["proto"]) if m else None


def _deny_outbound_list(body: str) -> Conn | None:
    """106002, 106018."""
    m = _DENY_OUTBOUND_LIST.match(body)
    return _endpoints(m, "deny", m["proto"] or m["icmp"]) if m else None


def _acl(body: str) -> Conn | None:
    """106100."""
    m = _ACL.match(body)
    if m is None:
        return None
    return _endpoints(m, "deny" if m["act"] == "denied" else "allow", m["proto"])


def _icmp_to_box(body: str) -> Conn | None:
    """313001, 313008."""
    m = _ICMP_TO_BOX.match(body)
    return _endpoints(m, "deny", m["proto"]) if m else None


def _icmp_no_session(body: str) -> Conn | None:
    """313004."""
    m = _ICMP_NO_SESSION.match(body)
    return _endpoints(m, "deny", m["proto"]) if m else None


def _icmp_error(body: str) -> Conn | None:
    """313005."""
    m = _ICMP_ERROR.match(body)
    return _endpoints(m, "deny", m["proto"]) if m else None


def _to_box(body: str) -> Conn | None:
    """710002, 710003, 710005."""
    m = _TO_BOX.match(body)
    if m is None:
        return None
    row = _endpoints(m, _TO_BOX_ACTIONS[m["res"]], m["proto"])
    row["dst_port"] = _service_port(m["svc"])
    return row


def _cut_through(body: str) -> Conn | None:
    """109001, 109005, 109006, 109007, 109008."""
    m = _CUT_THROUGH.match(body)
    if m is None:
        return None
    user = m["quser"] if m["quser"] is not None else m["user"]
    name = None if user.strip("?") == "" else norm_user(user)  # '???': not typed yet
    return _endpoints(m, _CUT_THROUGH_ACTIONS[m["ev"]], "tcp", user=name)


def _aaa(body: str) -> Conn | None:
    """113004, 113005, 113012, 113015."""
    m = _AAA.match(body)
    if m is None:
        return None
    u = _AAA_USER.search(m["rest"])
    if u is None:
        return None
    action = _AAA_ACTIONS[(m["type"], m["res"])]
    return conn_row("cisco_asa", src_ip=valid_ip(u["ip"]), user=norm_user(u["user"]), action=action)


def _aaa_accept(body: str) -> Conn | None:
    """113008."""
    m = _AAA_ACCEPT.match(body)
    return conn_row("cisco_asa", user=norm_user(m["user"]), action="login") if m else None


def _user_auth(body: str) -> Conn | None:
    """611101, 611102."""
    m = _USER_AUTH.match(body)
    if m is None:
        return None
    action = "login" if m["res"] == "succeeded" else "login_failed"
    return conn_row("cisco_asa", src_ip=valid_ip(m["ip"]), user=norm_user(m["user"]), action=action)


def _mgmt_login(body: str) -> Conn | None:
    """605004, 605005."""
    m = _MGMT_LOGIN.match(body)
    if m is None:
        return None
    return conn_row(
        "cisco_asa",
        src_ip=valid_ip(m["sip"]),
        src_port=valid_port(m["sport"]),
        dst_ip=valid_ip(m["dip"]),
        protocol="tcp",
        user=norm_user(m["user"]),
        action="login" if m["res"] == "permitted" else "login_failed",
    )


def _vpn(msg_id: str, body: str) -> Conn | None:
    """AnyConnect/WebVPN sessions: user, public client address and, when logged, the assigned one."""
    if msg_id == "113019":
        d = _VPN_DISCONNECT.match(body)
        if d is None:
            return None
        return conn_row(
            "cisco_asa",
            src_ip=valid_ip(d["ip"]),
            user=norm_user(d["user"]),
            action="logout",
            bytes=sum_bytes(d["tx"], d["rx"]),
        )
    m = _VPN.match(body)
    if m is None:
        return None
    public = valid_ip(m["ip"])
    assigned = valid_ip(m["assigned"])
    if msg_id == "722051" and assigned is None:
        return None
    tunnel = msg_id in ("722022", "722023")
    if tunnel != (m["svc"] is not None):  # 722022/722023 must say "SVC connection", the others must not
        return None
    return conn_row(
        "cisco_asa",
        src_ip=assigned or public,
        protocol=m["proto"].lower() if tunnel else None,
        nat_ip=public if assigned else None,
        user=norm_user(m["user"]),
        action=VPN_ACTIONS[msg_id],
    )


_BY_ID: dict[str, Callable[[str], Conn | None]] = {
    "106023": _deny,
    "106010": _deny_dir,
    "106014": _deny_dir,
    "106016": _deny_spoof,
    "106021": _deny_spoof,
    "106022": _deny_spoof,
    "106002": _deny_outbound_list,
    "106018": _deny_outbound_list,
    "106100": _acl,
    "313001": _icmp_to_box,
    "313008": _icmp_to_box,
    "313004": _icmp_no_session,
    "313005": _icmp_error,
    "710002": _to_box,
    "710003": _to_box,
    "710005": _to_box,
    "113004": _aaa,
    "113005": _aaa,
    "113012": _aaa,
    "113015": _aaa,
    "113008": _aaa_accept,
    "611101": _user_auth,
    "611102": _user_auth,
    "605004": _mgmt_login,
    "605005": _mgmt_login,
}
_BY_ID.update(dict.fromkeys(("106001", "106006", "106007", "106015"), _deny_from))
_BY_ID.update(dict.fromkeys(("109001", "109005", "109006", "109007", "109008"), _cut_through))


def extract_other(msg_id: str, body: str) -> Conn | None:
    """The row of an ASA message that is neither a connection (302xxx) nor a translation (305xxx)."""
    if msg_id in VPN_ACTIONS:
        return _vpn(msg_id, body)
    if msg_id in ("430002", "430003"):
        return _ftd_connection(msg_id, body)
    read = _BY_ID.get(msg_id)
    return read(body) if read is not None else None
