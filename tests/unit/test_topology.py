"""Inventory lookups: host resolution, sites, parents, descendants, overrides, topology updates."""

import pytest

from tests import configured
from vigie.config import ConfigError, validate
from vigie.pipelines.correlate.topology import Inventory, InventoryError

INV = configured.inventory(
    {
        "default_site": "hq",
        "hosts": {
            "core": {},
            "r1.paris.example": {
                "site": "paris",
                "parents": ["core"],
                "address": "10.1.0.1",
                "max_check_attempts": 5,
            },
            "sw1": {
                "site": "paris",
                "parents": ["r1.paris.example"],
                "services": {"PING": {"max_check_attempts": 2}},
            },
            "pc1": {"site": "paris", "parents": "sw1", "services": ["HTTP"]},
        },
    }
)


def test_resolve_by_name_address_case_and_short_name():
    assert INV.resolve("r1.paris.example") == "r1.paris.example"
    assert INV.resolve("10.1.0.1") == "r1.paris.example"
    assert INV.resolve("R1") == "r1.paris.example"
    assert INV.resolve("unknown-host") == "unknown-host"
    assert INV.resolve(None) is None


def test_sites_parents_children():
    assert INV.site_of("sw1") == "paris" and INV.site_of("core") == "hq" and INV.site_of("nope") == "hq"
    assert INV.children_of("core") == ("r1.paris.example",)
    assert INV.descendants("core") == ["r1.paris.example", "sw1", "pc1"]
    assert INV.is_behind("pc1", "core") and not INV.is_behind("core", "pc1")


def test_max_check_attempts_overrides():
    assert INV.max_check_attempts("sw1", "PING") == 2
    assert INV.max_check_attempts("r1.paris.example", "HTTP") == 5
    assert INV.max_check_attempts("pc1", "HTTP") is None


def test_round_trip_and_update():
    again = Inventory.from_snapshot(INV.to_dict())
    assert again.descendants("core") == INV.descendants("core")
    moved = INV.updated({"hosts": {"pc1": {"parents": ["core"]}, "sw1": None}})
    assert moved.parents_of("pc1") == ("core",) and "sw1" not in moved.hosts
    assert moved.site_of("pc1") == "paris"  # untouched keys survive an update


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"hosts": []}, "inventory.hosts"),
        ({"hosts": {"a": {"parents": [1]}}}, r"inventory.hosts.a.parents\[0\]"),
        ({"hosts": {"a": {"parents": ["a"]}}}, "inventory.hosts.a.parents: expected no parent loop, got a -> a"),
        (
            {"hosts": {"a": {"parents": ["b"]}, "b": {"parents": ["c"]}, "c": {"parents": ["a"]}}},
            "parent loop, got a -> b -> c -> a",
        ),
        ({"hosts": {"a": {"max_check_attempts": 0}}}, "max_check_attempts"),
        ({"hosts": {"a": {"colour": "red"}}}, "unknown key"),
    ],
)
def test_inventory_errors(data, error):
    # the config checks the [inventory] table once (Inventory.from_config takes the checked section)
    with pytest.raises(ConfigError, match=error):
        validate({"inventory": data})


def test_a_topology_command_cannot_make_a_host_its_own_parent():
    with pytest.raises(InventoryError, match="own parent"):
        INV.updated({"hosts": {"sw1": {"parents": ["sw1"]}}})


def test_config_shape_with_sites_and_services_list():
    inv = configured.inventory(
        {
            "sites": {"mairie": {"description": "Hôtel de ville"}},
            "hosts": {"core1": {"site": "dc"}, "rtr": {"site": "mairie", "parents": ["core1"]}},
            "services": [
                {"host": "rtr", "name": "PING", "command": ["check_ping"], "max_check_attempts": 5},
                {"host": "rtr", "name": "SSH"},
            ],
        }
    )
    # SSH has the documented [[inventory.services]] default (3), as the worker always ran it
    assert inv.max_check_attempts("rtr", "PING") == 5 and inv.max_check_attempts("rtr", "SSH") == 3
    with pytest.raises(ConfigError, match=r"inventory.services\[0\].host"):
        validate({"inventory": {"services": [{"name": "PING"}]}})
