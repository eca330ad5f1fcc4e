"""Inventory lookups: host resolution, sites, parents, descendants, overrides, topology updates."""

import pytest

from vigie.pipelines.correlate.topology import Inventory, InventoryError

INV = Inventory.from_dict(
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
    again = Inventory.from_dict(INV.to_dict())
    assert again.descendants("core") == INV.descendants("core")
    moved = INV.updated({"hosts": {"pc1": {"parents": ["core"]}, "sw1": None}})
    assert moved.parents_of("pc1") == ("core",) and "sw1" not in moved.hosts
    assert moved.site_of("pc1") == "paris"  # untouched keys survive an update


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"hosts": []}, "inventory.hosts"),
        ({"hosts": {"a": {"parents": [1]}}}, "inventory.hosts.a.parents"),
        ({"hosts": {"a": {"parents": ["a"]}}}, "own parent"),
        ({"hosts": {"a": {"max_check_attempts": 0}}}, "max_check_attempts"),
        ({"hosts": {"a": {"services": 3}}}, "services"),
    ],
)
def test_inventory_errors(data, error):
    with pytest.raises(InventoryError, match=error):
        Inventory.from_dict(data)


def test_config_shape_with_sites_and_services_list():
    inv = Inventory.from_dict(
        {
            "sites": {"mairie": {"description": "Hôtel de ville"}},
            "hosts": {"core1": {"site": "dc"}, "rtr": {"site": "mairie", "parents": ["core1"]}},
            "services": [
                {"host": "rtr", "name": "PING", "command": ["check_ping"], "max_check_attempts": 5},
                {"host": "rtr", "name": "SSH"},
            ],
        }
    )
    assert inv.max_check_attempts("rtr", "PING") == 5 and inv.max_check_attempts("rtr", "SSH") is None
    with pytest.raises(InventoryError, match=r"inventory.services\[0\]"):
        Inventory.from_dict({"services": [{"name": "PING"}]})
