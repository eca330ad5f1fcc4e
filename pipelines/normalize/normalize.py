"""Pure functions turning parsed syslog, raw.traps and raw.checks values into `events` contract dicts."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from vigie.pipelines.correlate.topology import Inventory
from vigie.pipelines.fingerprints import check_fingerprint, syslog_fingerprint, trap_fingerprint
from vigie.pipelines.normalize.rules import RuleSet
from vigie.schemas.codec import rfc3339

EVENT_SCHEMA = "event/1"
SUMMARY_MAX = 300

# SNMPv2-MIB standard traps and the BGP4-MIB notifications, by OID (no leading dot)
LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
LINK_UP = "1.3.6.1.6.3.1.1.5.4"
COLD_START = "1.3.6.1.6.3.1.1.5.1"
WARM_START = "1.3.6.1.6.3.1.1.5.2"
AUTH_FAILURE = "1.3.6.1.6.3.1.1.5.5"
BGP_ESTABLISHED = ("1.3.6.1.2.1.15.0.1", "1.3.6.1.2.1.15.7.1")
BGP_BACKWARD = ("1.3.6.1.2.1.15.0.2", "1.3.6.1.2.1.15.7.2")
_IFTABLE = "1.3.6.1.2.1.2.2.1."  # ifEntry columns: .1 ifIndex, .2 ifDescr, .7 ifAdminStatus, .8 ifOperStatus
_IFXTABLE_NAME = "1.3.6.1.2.1.31.1.1.1.1."  # ifName
_IFXTABLE_ALIAS = "1.3.6.1.2.1.31.1.1.1.18."  # ifAlias
_BGP_PEER = "1.3.6.1.2.1.15.3.1."  # bgpPeerEntry columns, indexed by the peer address
# v1 generic-trap numbers mapped to the v2 OIDs (RFC 3584)
_V1_GENERIC = {0: COLD_START, 1: WARM_START, 2: LINK_DOWN, 3: LINK_UP, 4: AUTH_FAILURE}
_NAME_TO_OID = {
    "linkdown": LINK_DOWN,
    "linkup": LINK_UP,
    "coldstart": COLD_START,
    "warmstart": WARM_START,
    "authenticationfailure": AUTH_FAILURE,
    "bgpestablishednotification": BGP_ESTABLISHED[0],
    "bgpbackwardtransnotification": BGP_BACKWARD[0],
    "bgpestablished": BGP_ESTABLISHED[0],
    "bgpbackwardtransition": BGP_BACKWARD[0],
}
# fixed traps: oid -> (fingerprint kind, severity, category, resolve_after)
_FIXED_TRAPS: dict[str, tuple[str, str, str | None, float | None]] = {
    COLD_START: ("restart", "info", "restart", 600.0),
    WARM_START: ("restart", "info", "restart", 600.0),
    AUTH_FAILURE: ("snmp-auth", "warning", "security", 3600.0),
}
# Nagios host check plugin results: 0 and 1 are UP, 2 and 3 DOWN; service results map one to one
_HOST_SEVERITY = ("ok", "ok", "critical", "critical")
_SERVICE_SEVERITY = ("ok", "warning", "critical", "unknown")
# syslog severities 0..7 when a rule names none
_SYSLOG_SEVERITY = ("critical", "critical", "critical", "critical", "warning", "info", "info", "info")


def _ts(value: Any) -> str | None:
    """Event time as RFC 3339: strings pass through, epoch numbers and datetimes are formatted."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float | datetime):
        return rfc3339(value)
    return str(value)


def _event_id(origin: dict[str, Any] | None, fingerprint: str, ts: str | None, summary: str) -> str:
    """Deterministic id: the Kafka origin when known, so a replay gives the same ids."""
    if origin and origin.get("topic") is not None:
        return f"{origin['topic']}:{origin.get('partition')}:{origin.get('offset')}"
    digest = hashlib.blake2b(f"{fingerprint}\x00{ts}\x00{summary}".encode(), digest_size=12)
    return digest.hexdigest()


def _first_line(text: str | None) -> str:
    if not text:
        return ""
    line = text.split("\n", 1)[0].strip()
    return line[:SUMMARY_MAX]


def make_event(
    kind: str,
    host: str,
    site: str,
    component: str,
    severity: str,
    fingerprint: str,
    clears: str | None,
    summary: str,
    attributes: dict[str, Any],
    ts: str | None,
    origin: dict[str, Any] | None,
) -> dict[str, Any]:
    """Assemble one `events` value (schema event/1)."""
    return {
        "id": _event_id(origin, fingerprint, ts, summary),
        "ts": ts,
        "kind": kind,
        "host": host,
        "site": site,
        "component": component,
        "severity": severity,
        "fingerprint": fingerprint,
        "clears": clears,
        "summary": summary,
        "attributes": attributes,
        "origin": origin,
        "schema": EVENT_SCHEMA,
    }


def normalize_syslog(
    parsed: dict[str, Any],
    inventory: Inventory,
    rules: RuleSet,
    origin: dict[str, Any] | None = None,
    received_at: Any = None,
) -> dict[str, Any] | None:
    """An event for a parsed syslog message that a rule matches; None for the (many) others."""
    msg = parsed.get("msg")
    if not msg:
        return None
    app_name = parsed.get("app_name")
    found = rules.match(msg, app_name, parsed.get("cisco"))
    if found is None:
        return None
    rule = found.rule
    host = inventory.resolve(parsed.get("hostname") or parsed.get("peer")) or "unknown"
    fingerprint = syslog_fingerprint(host, rule.pair, found.component)
    if found.clear:
        severity = "ok"
    elif rule.severity:
        severity = rule.severity
    else:
        sev = parsed.get("severity")
        severity = _SYSLOG_SEVERITY[sev] if isinstance(sev, int) and 0 <= sev <= 7 else "warning"
    attributes: dict[str, Any] = {"rule": rule.pair, "matched": rule.name, "app_name": app_name}
    if found.mnemonic:
        attributes["mnemonic"] = found.mnemonic
    if rule.category:
        attributes["category"] = rule.category
    if rule.resolve_after:
        attributes["resolve_after"] = rule.resolve_after
    return make_event(
        "syslog",
        host,
        inventory.site_of(host),
        found.component,
        severity,
        fingerprint,
        fingerprint if found.clear else None,
        msg[:SUMMARY_MAX],
        attributes,
        _ts(parsed.get("timestamp") or received_at),
        origin,
    )


def _trap_oid(value: dict[str, Any]) -> str:
    """The v2 trap OID, from trap_oid, a v1 generic-trap number, or a known trap name."""
    oid = value.get("trap_oid")
    if oid:
        return str(oid).lstrip(".")
    generic = value.get("generic_trap")
    if isinstance(generic, int) and generic in _V1_GENERIC:
        return _V1_GENERIC[generic]
    if generic == 6 and value.get("enterprise") is not None:
        return f"{str(value['enterprise']).lstrip('.')}.0.{value.get('specific_trap')}"
    name = str(value.get("trap_name") or "").rsplit("::", 1)[-1].lower()
    return _NAME_TO_OID.get(name, "")


def normalize_trap(
    value: dict[str, Any],
    inventory: Inventory,
    origin: dict[str, Any] | None = None,
    unknown_severity: str | None = "warning",
    unknown_resolve_after: float = 3600.0,
) -> dict[str, Any] | None:
    """An event for a raw.traps value: linkDown/linkUp pair by ifIndex, BGP by peer, others by trap name."""
    oid = _trap_oid(value)
    trap_name = value.get("trap_name") or oid
    short_name = str(trap_name).rsplit("::", 1)[-1]
    host = inventory.resolve(value.get("agent_address") or value.get("peer")) or "unknown"
    site = inventory.site_of(host)
    ts = _ts(value.get("received_at"))
    varbinds = value.get("varbinds") or ()
    attributes: dict[str, Any] = {"rule": short_name, "trap_oid": oid}
    clear = False
    if oid == LINK_DOWN or oid == LINK_UP:
        if_index = if_name = if_descr = None
        for vb in varbinds:
            vb_oid = str(vb.get("oid", "")).lstrip(".")
            if vb_oid.startswith(_IFTABLE):
                column, _, index = vb_oid[len(_IFTABLE) :].partition(".")
                if_index = if_index or index or None
                if column == "1":
                    if_index = str(vb.get("value"))
                elif column == "2":
                    if_descr = vb.get("value")
            elif vb_oid.startswith(_IFXTABLE_NAME):
                if_name = vb.get("value")
                if_index = if_index or vb_oid[len(_IFXTABLE_NAME) :] or None
            elif vb_oid.startswith(_IFXTABLE_ALIAS):
                attributes["ifAlias"] = vb.get("value")
        if_index = if_index or "?"
        component = str(if_name or if_descr or f"ifIndex {if_index}")
        fingerprint = trap_fingerprint(host, "link", if_index)
        clear = oid == LINK_UP
        severity = "ok" if clear else "critical"
        attributes.update(rule="link", ifIndex=if_index, ifName=if_name, ifDescr=if_descr, category="link")
        summary = f"{short_name} {component} on {host}"
    elif oid in BGP_ESTABLISHED or oid in BGP_BACKWARD:
        peer = None
        for vb in varbinds:
            vb_oid = str(vb.get("oid", "")).lstrip(".")
            if vb_oid.startswith(_BGP_PEER):
                peer = vb_oid[len(_BGP_PEER) :].partition(".")[2] or peer
        component = f"bgp:{peer or '?'}"
        fingerprint = trap_fingerprint(host, "bgp", component)
        clear = oid in BGP_ESTABLISHED
        severity = "ok" if clear else "critical"
        attributes.update(rule="bgp", peer=peer, category="routing")
        summary = f"{short_name} {component} on {host}"
    elif oid in _FIXED_TRAPS:
        kind, severity, category, resolve_after = _FIXED_TRAPS[oid]
        component = "system" if kind == "restart" else kind
        fingerprint = trap_fingerprint(host, kind, "")
        attributes.update(rule=kind, category=category, resolve_after=resolve_after)
        summary = f"{short_name} from {host}"
    else:
        if unknown_severity is None:
            return None
        severity = unknown_severity
        component = short_name
        fingerprint = trap_fingerprint(host, short_name, "")
        attributes["resolve_after"] = unknown_resolve_after
        summary = f"{short_name} from {host}"
    return make_event(
        "trap",
        host,
        site,
        component,
        severity,
        fingerprint,
        fingerprint if clear else None,
        summary,
        attributes,
        ts,
        origin,
    )


def normalize_check(
    value: dict[str, Any],
    inventory: Inventory,
    origin: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """An event for a raw.checks value; status 0 is ok and clears its own fingerprint."""
    status = value.get("status")
    if not isinstance(status, int) or not 0 <= status <= 3:
        raise ValueError(f"raw.checks: status must be 0..3, got {status!r}")
    host = inventory.resolve(value.get("host"))
    if not host:
        raise ValueError("raw.checks: host is required")
    service = value.get("service") or None
    severity = (_SERVICE_SEVERITY if service else _HOST_SEVERITY)[status]
    fingerprint = check_fingerprint(host, service)
    attributes: dict[str, Any] = {
        "rule": service or "host",
        "service": service,
        "status": status,
        "source": value.get("source"),
    }
    if service is None:
        attributes["category"] = "liveness"
    elif inventory.servicegroups:
        groups = inventory.servicegroups.get((host, service))
        if groups:
            attributes["servicegroups"] = groups
    return make_event(
        "check",
        host,
        inventory.site_of(host),
        service or "host",
        severity,
        fingerprint,
        fingerprint if severity == "ok" else None,
        _first_line(value.get("output")) or f"{service or 'host'} status {status}",
        attributes,
        _ts(value.get("check_time")),
        origin,
    )


class Normalizer:
    """The normalize stage with its inventory and rules bound, as the normalize worker's batch loop holds it."""

    __slots__ = ("inventory", "rules", "unknown_trap_severity")

    def __init__(
        self,
        inventory: Inventory | None = None,
        rules: RuleSet | None = None,
        unknown_trap_severity: str | None = "warning",
    ) -> None:
        self.inventory = inventory if inventory is not None else Inventory()
        self.rules = rules if rules is not None else RuleSet.default()
        self.unknown_trap_severity = unknown_trap_severity

    def syslog(
        self, parsed: dict[str, Any], origin: dict[str, Any] | None = None, received_at: Any = None
    ) -> dict[str, Any] | None:
        return normalize_syslog(parsed, self.inventory, self.rules, origin, received_at)

    def trap(self, value: dict[str, Any], origin: dict[str, Any] | None = None) -> dict[str, Any] | None:
        return normalize_trap(value, self.inventory, origin, self.unknown_trap_severity)

    def check(self, value: dict[str, Any], origin: dict[str, Any] | None = None) -> dict[str, Any] | None:
        return normalize_check(value, self.inventory, origin)
