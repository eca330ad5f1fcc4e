"""Settings of the SNMP trap receiver ([snmp] in the TOML file): listener, community allow-list, v3 users, MIB directories."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

AUTH_PROTOCOLS = ("none", "MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512")
# AES-192/AES-256 localize keys as net-snmp's AES192/AES256 do (Blumenthal draft); the -C variants as Cisco
# and net-snmp's AES192C/AES256C do (Reeder draft).
PRIV_PROTOCOLS = ("none", "DES", "3DES", "AES", "AES-192", "AES-256", "AES-192-C", "AES-256-C")


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
                    f"snmp.v3_users[{self.name}].auth_key_env: environment variable {self.auth_key_env} is not set"
                )
            if len(auth) < 8:
                raise ValueError(
                    f"snmp.v3_users[{self.name}].auth_key_env: {self.auth_key_env} is shorter than 8 characters"
                )
        if self.priv_protocol != "none":
            priv = env.get(self.priv_key_env or "")
            if not priv:
                raise ValueError(
                    f"snmp.v3_users[{self.name}].priv_key_env: environment variable {self.priv_key_env} is not set"
                )
            if len(priv) < 8:
                raise ValueError(
                    f"snmp.v3_users[{self.name}].priv_key_env: {self.priv_key_env} is shorter than 8 characters"
                )
        return auth, priv

    def validate(self) -> None:
        """Raise ValueError with one line naming the key that is wrong."""
        where = f"snmp.v3_users[{self.name or '?'}]"
        if not self.name:
            raise ValueError("snmp.v3_users[].name: expected a non-empty user name")
        if self.auth_protocol not in AUTH_PROTOCOLS:
            raise ValueError(f"{where}.auth_protocol: expected one of {', '.join(AUTH_PROTOCOLS)}")
        if self.priv_protocol not in PRIV_PROTOCOLS:
            raise ValueError(f"{where}.priv_protocol: expected one of {', '.join(PRIV_PROTOCOLS)}")
        if self.priv_protocol != "none" and self.auth_protocol == "none":
            raise ValueError(f"{where}.priv_protocol: privacy needs an auth_protocol")
        if self.auth_protocol != "none" and not self.auth_key_env:
            raise ValueError(f"{where}.auth_key_env: expected the name of an environment variable")
        if self.priv_protocol != "none" and not self.priv_key_env:
            raise ValueError(f"{where}.priv_key_env: expected the name of an environment variable")
        if self.engine_id is not None and not _is_engine_id(self.engine_id):
            raise ValueError(f"{where}.engine_id: expected 5 to 32 bytes in hex (e.g. 8000000001020304)")


def _is_engine_id(text: str) -> bool:
    h = text.lower().removeprefix("0x")
    return bool(re.fullmatch(r"[0-9a-f]*", h)) and len(h) % 2 == 0 and 10 <= len(h) <= 64


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

    def validate(self) -> None:
        """Raise ValueError with one line naming the key that is wrong."""
        if not self.host:
            raise ValueError("snmp.host: expected an IP address to listen on")
        if not 0 <= self.port <= 65535:
            raise ValueError("snmp.port: expected a UDP port number (0-65535)")
        if isinstance(self.communities, str) or any(
            not isinstance(c, str) or not c for c in self.communities
        ):
            raise ValueError("snmp.communities: expected a list of non-empty strings")
        names = [u.name for u in self.v3_users]
        if len(set(names)) != len(names):
            raise ValueError("snmp.v3_users: user names must be unique")
        for user in self.v3_users:
            user.validate()
        if self.engine_id is not None and not _is_engine_id(self.engine_id):
            raise ValueError("snmp.engine_id: expected 5 to 32 bytes in hex")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> TrapSettings:
        """Build from the [snmp] table (as vigie.config validates it: listen, communities, users, mib_dirs).

        Also takes host/port instead of listen and v3_users instead of users; `enabled` is the caller's
        business and ignored here; any other key is refused by name.
        """
        known = {
            "enabled",
            "listen",
            "host",
            "port",
            "communities",
            "users",
            "v3_users",
            "mib_dirs",
            "engine_id",
            "recv_buffer",
        }
        for key in data:
            if key not in known:
                raise ValueError(f"snmp.{key}: unknown key (expected one of {', '.join(sorted(known))})")
        kwargs: dict[str, Any] = {}
        listen = data.get("listen")
        if listen is not None:
            if isinstance(listen, str):
                host, _, port = listen.rpartition(":")
                listen = (host.strip("[]"), int(port))
            kwargs["host"], kwargs["port"] = str(listen[0]), int(listen[1])
        for key in ("host", "port", "engine_id", "recv_buffer"):
            if data.get(key) is not None:
                kwargs[key] = data[key]
        if "communities" in data:
            communities = data["communities"]
            kwargs["communities"] = communities if isinstance(communities, str) else tuple(communities)
        if "mib_dirs" in data:
            kwargs["mib_dirs"] = tuple(data["mib_dirs"])
        users = []
        user_keys = {"name", "auth_protocol", "auth_key_env", "priv_protocol", "priv_key_env", "engine_id"}
        key = "users" if "users" in data else "v3_users"
        for i, u in enumerate(data.get(key) or ()):
            if not isinstance(u, Mapping):
                raise ValueError(f"snmp.{key}[{i}]: expected a table")
            for k in u:
                if k not in user_keys:
                    raise ValueError(f"snmp.{key}[{i}].{k}: unknown key")
            users.append(V3User(**{k: v for k, v in u.items() if v is not None}))
        settings = cls(v3_users=tuple(users), **kwargs)
        settings.validate()
        return settings
