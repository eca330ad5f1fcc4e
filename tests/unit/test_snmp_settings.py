"""Trap receiver settings: the [snmp] table as vigie.config validates it, one-line errors, keys only from the environment."""

from __future__ import annotations

import pytest

from vigie.producers.snmp.settings import TrapSettings, V3User


def test_from_config_table() -> None:
    settings = TrapSettings.from_mapping(
        {
            "enabled": True,
            "listen": ("0.0.0.0", 162),
            "communities": ["public", "noc"],
            "users": [
                {
                    "name": "ops",
                    "auth_protocol": "SHA-256",
                    "auth_key_env": "OPS_AUTH",
                    "priv_protocol": "AES",
                    "priv_key_env": "OPS_PRIV",
                    "engine_id": "0x8000000001020304",
                }
            ],
            "mib_dirs": [],
        }
    )
    assert (settings.host, settings.port, settings.communities) == ("0.0.0.0", 162, ("public", "noc"))
    (user,) = settings.v3_users
    assert (user.name, user.security_level, user.engine_id) == ("ops", "authPriv", "0x8000000001020304")


def test_defaults() -> None:
    settings = TrapSettings.from_mapping({})
    assert (settings.host, settings.port, settings.communities, settings.v3_users) == (
        "127.0.0.1",
        1162,
        ("public",),
        (),
    )


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"bogus": 1}, "snmp.bogus"),
        ({"port": 70000}, "snmp.port"),
        ({"communities": "public"}, "snmp.communities"),
        ({"communities": [""]}, "snmp.communities"),
        ({"users": [{"name": "a", "auth_protocol": "SHA1"}]}, "snmp.v3_users[a].auth_protocol"),
        ({"users": [{"name": "a", "auth_protocol": "SHA"}]}, "snmp.v3_users[a].auth_key_env"),
        (
            {"users": [{"name": "a", "priv_protocol": "AES", "priv_key_env": "X"}]},
            "snmp.v3_users[a].priv_protocol",
        ),
        ({"users": [{"name": "a", "engine_id": "xyz"}]}, "snmp.v3_users[a].engine_id"),
        ({"users": [{"name": "a"}, {"name": "a"}]}, "snmp.v3_users"),
        ({"users": [{"name": "a", "auth_key": "secret"}]}, "snmp.users[0].auth_key"),
    ],
)
def test_errors_name_the_key(table: dict, key: str) -> None:
    with pytest.raises(ValueError) as err:
        TrapSettings.from_mapping(table)
    assert str(err.value).startswith(key + ":") or str(err.value).startswith(key + " "), str(err.value)


def test_keys_come_from_the_environment_and_errors_never_show_them() -> None:
    user = V3User("ops", "SHA", "OPS_AUTH", "AES", "OPS_PRIV")
    assert user.keys({"OPS_AUTH": "a-secret-1", "OPS_PRIV": "p-secret-1"}) == ("a-secret-1", "p-secret-1")
    with pytest.raises(ValueError, match="OPS_PRIV is not set"):
        user.keys({"OPS_AUTH": "a-secret-1"})
    with pytest.raises(ValueError) as err:
        user.keys({"OPS_AUTH": "short", "OPS_PRIV": "p-secret-1"})
    assert "short" not in str(err.value).replace("shorter", "")
    assert "a-secret-1" not in repr(user)
