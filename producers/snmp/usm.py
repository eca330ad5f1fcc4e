"""The pieces of pysnmp the trap receiver's v3 (USM) path uses: protocol tables, the counters the engine
bumps when it refuses a message, the notification PDU types, and a transport that sends through the
receiver's own socket. Apart from receiver.py, which is about datagrams, checks and records."""

from __future__ import annotations

from typing import Any

# usmStats / MPD / SNMPv2-MIB counters the pysnmp engine bumps when it refuses a v3 message -> reason label.
ENGINE_COUNTERS = (
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnknownUserNames", "unknown_user"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsWrongDigests", "wrong_digest"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsDecryptionErrors", "decryption_error"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnknownEngineIDs", "unknown_engine_id"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsNotInTimeWindows", "not_in_time_window"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnsupportedSecLevels", "unsupported_security_level"),
    ("__SNMP-MPD-MIB", "snmpUnknownSecurityModels", "unknown_security_model"),
    ("__SNMP-MPD-MIB", "snmpInvalidMsgs", "undecodable"),
    ("__SNMP-MPD-MIB", "snmpUnknownPDUHandlers", "unexpected_pdu"),
    ("__SNMPv2-MIB", "snmpInASNParseErrs", "undecodable"),
)


def auth_protocols() -> dict[str, Any]:
    from pysnmp.entity import config

    return {
        "none": config.USM_AUTH_NONE,
        "MD5": config.USM_AUTH_HMAC96_MD5,
        "SHA": config.USM_AUTH_HMAC96_SHA,
        "SHA-224": config.USM_AUTH_HMAC128_SHA224,
        "SHA-256": config.USM_AUTH_HMAC192_SHA256,
        "SHA-384": config.USM_AUTH_HMAC256_SHA384,
        "SHA-512": config.USM_AUTH_HMAC384_SHA512,
    }


def priv_protocols() -> dict[str, Any]:
    from pysnmp.entity import config

    return {
        "none": config.USM_PRIV_NONE,
        "DES": config.USM_PRIV_CBC56_DES,
        "3DES": config.USM_PRIV_CBC168_3DES,
        "AES": config.USM_PRIV_CFB128_AES,
        "AES-192": config.USM_PRIV_CFB192_AES_BLUMENTHAL,
        "AES-256": config.USM_PRIV_CFB256_AES_BLUMENTHAL,
        "AES-192-C": config.USM_PRIV_CFB192_AES,
        "AES-256-C": config.USM_PRIV_CFB256_AES,
    }


def make_transport_class(base: type) -> type:
    """A pysnmp UDP transport that sends through the receiver's socket; the receiver reads the socket itself."""

    class TapTransport(base):  # type: ignore[misc, valid-type]
        receiver: Any  # the TrapReceiver whose socket sends

        def send_message(self, outgoingMessage: bytes, transportAddress: Any) -> None:
            self.receiver._sendto(bytes(outgoingMessage), tuple(transportAddress))

    return TapTransport


def notification_pdu_types() -> tuple[Any, ...]:
    from pysnmp.proto.api import v2c

    return (v2c.SNMPv2TrapPDU.tagSet, v2c.InformRequestPDU.tagSet)
