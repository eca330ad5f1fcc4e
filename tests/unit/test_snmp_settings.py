"""Trap receiver settings: built from the [snmp] table vigie.config checks, one-line errors, keys only from the environment."""

from __future__ import annotations

import pytest

from vigie.config import ConfigError, validate
from vigie.producers.snmp.settings import TrapSettings, V3User


def test_from_config_table() -> None:
    settings = TrapSettings.from_config(validate({"snmp": {
        "enabled": True,
        "listen": "0.0.0.0:162",
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
    }}).snmp)
    assert (settings.host, settings.port, settings.communities) == ("0.0.0.0", 162, ("public", "noc"))
    (user,) = settings.v3_users
    assert (user.name, user.security_level, user.engine_id) == ("ops", "authPriv", "0x8000000001020304")


def test_defaults() -> None:
    settings = TrapSettings.from_config(validate({}).snmp)
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
        ({"listen": "127.0.0.1:70000"}, "snmp.listen"),
        ({"communities": "public"}, "snmp.communities"),
        ({"users": [{"name": "a", "auth_protocol": "SHA1"}]}, "snmp.users[0].auth_protocol"),
        ({"users": [{"name": "a", "auth_protocol": "SHA"}]}, "snmp.users[0].auth_key_env"),
        (
            {"users": [{"name": "a", "auth_protocol": "none", "priv_protocol": "AES", "priv_key_env": "X"}]},
            "snmp.users[0].priv_protocol",
        ),
        ({"users": [{"name": "a", "engine_id": "xyz"}]}, "snmp.users[0].engine_id"),
        ({"users": [{"name": "a", "engine_id": "80000000010"}]}, "snmp.users[0].engine_id"),  # odd length
        (
            {"users": [{"name": "a", "auth_protocol": "none", "priv_protocol": "none"}] * 2},
            "snmp.users[1].name",
        ),
        ({"users": [{"name": "a", "auth_key": "secret"}]}, "snmp.users[0].auth_key"),
    ],
)
def test_errors_name_the_key(table: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate({"snmp": table})
    assert str(err.value).startswith(f"config: {key}:"), str(err.value)
    assert "\n" not in str(err.value)


def test_keys_come_from_the_environment_and_errors_never_show_them() -> None:
    user = V3User("ops", "SHA", "OPS_AUTH", "AES", "OPS_PRIV")
    assert user.keys({"OPS_AUTH": "a-secret-1", "OPS_PRIV": "p-secret-1"}) == ("a-secret-1", "p-secret-1")
    with pytest.raises(ValueError, match="OPS_PRIV is not set"):
        user.keys({"OPS_AUTH": "a-secret-1"})
    with pytest.raises(ValueError) as err:
        user.keys({"OPS_AUTH": "short", "OPS_PRIV": "p-secret-1"})
    assert "short" not in str(err.value).replace("shorter", "")
    assert "a-secret-1" not in repr(user)
