"""Settings of the SNMP trap receiver ([snmp] in the TOML file, checked by vigie.config): listener, community
allow-list, v3 users, MIB directories."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vigie.config import SnmpConfig

# The protocols a user may name are vigie.config's (SnmpUserConfig). AES-192/AES-256 localize keys as
# net-snmp's AES192/AES256 do (Blumenthal draft); the -C variants as Cisco and net-snmp's AES192C/AES256C
# do (Reeder draft).


@dataclass(frozen=True)
class V3User:
    """One SNMPv3 USM user; it holds only the names of the environment variables with the keys, never a key.

    `engine_id` is the authoritative engine of the traps this user sends, i.e. the sender's snmpEngineID
    in hex (net-snmp: `snmptrap -e`); INFORMs use the receiver's own engine and need none.
    """

    name: str
    auth_protocol: str = "none"
    auth_key_env: str | None = None
    priv_protocol: str = "none"
    priv_key_env: str | None = None
    engine_id: str | None = None

    @property
    def security_level(self) -> str:
        if self.priv_protocol != "none":
            return "authPriv"
        if self.auth_protocol != "none":
            return "authNoPriv"
        return "noAuthNoPriv"

    def keys(self, environ: Mapping[str, str] | None = None) -> tuple[str | None, str | None]:
        """(auth key, priv key) from the environment; raises ValueError naming the variable (never its value)."""
        env = os.environ if environ is None else environ
        auth = priv = None
        if self.auth_protocol != "none":
            auth = env.get(self.auth_key_env or "")
            if not auth:
                raise ValueError(
                    f"snmp.users[{self.name}].auth_key_env: environment variable {self.auth_key_env} is not set"
                )
            if len(auth) < 8:
                raise ValueError(
                    f"snmp.users[{self.name}].auth_key_env: {self.auth_key_env} is shorter than 8 characters"
                )
        if self.priv_protocol != "none":
            priv = env.get(self.priv_key_env or "")
            if not priv:
                raise ValueError(
                    f"snmp.users[{self.name}].priv_key_env: environment variable {self.priv_key_env} is not set"
                )
            if len(priv) < 8:
                raise ValueError(
                    f"snmp.users[{self.name}].priv_key_env: {self.priv_key_env} is shorter than 8 characters"
                )
        return auth, priv


@dataclass(frozen=True)
class TrapSettings:
    """Where the receiver listens (162 is the standard port; 1162 needs no privilege) and whom it accepts."""

    host: str = "127.0.0.1"
    port: int = 1162
    communities: tuple[str, ...] = ("public",)
    v3_users: tuple[V3User, ...] = ()
    mib_dirs: tuple[str, ...] = ()
    engine_id: str | None = None  # the receiver's own snmpEngineID (hex); random per start when None
    recv_buffer: int = 4 * 1024 * 1024  # SO_RCVBUF: absorbs bursts while the loop is busy

    @classmethod
    def from_config(cls, snmp: SnmpConfig) -> TrapSettings:
        """From the [snmp] table vigie.config has checked (the only check: nothing is validated twice)."""
        from vigie.config import build

        host, port = snmp.listen
        return cls(host=host, port=port, communities=tuple(snmp.communities), mib_dirs=tuple(snmp.mib_dirs),
                   v3_users=tuple(build(V3User, user) for user in snmp.users))
