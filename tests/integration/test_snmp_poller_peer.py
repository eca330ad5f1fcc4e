"""The SNMP poller against Debian's snmpd: values read over v2c and v3 authPriv (UCD extend outputs and an
ENTITY-SENSOR-MIB sensor), thresholds with hysteresis, UNKNOWN when the agent stops answering."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tests.snmpd_agent import COMMUNITY, PASS_BASE, SNMPD, V3_AUTH, V3_PRIV, V3_USER, Agent, extend_oid
from vigie.config import validate
from vigie.producers.snmp.poller import Poller
from vigie.schemas.codec import loads
from vigie.sink import MemorySink

pytestmark = [pytest.mark.peer, pytest.mark.timeout(120),
              pytest.mark.skipif(not os.access(SNMPD, os.X_OK) and not os.environ.get("CI"),
                                 reason="snmpd not installed (Debian: snmpd; bash scripts/setup)")]

ENV = {"T_COMMUNITY": COMMUNITY, "T_AUTH": V3_AUTH, "T_PRIV": V3_PRIV}


def config(port: int, version: str = "2c", **poller: object) -> dict:
    p = {"name": "room-temp", "hosts": ["probe-a"], "port": port, "version": version, "interval": "30s",
         "timeout": "0.5s", "retries": 0, "warning": 30.0, "critical": 35.0, "hysteresis": 1.0,
         "items": [{"label": "inlet", "oid": f"{PASS_BASE}.1", "uom": "C"},
                   {"label": "board", "entity_sensor": 1, "uom": "C"},
                   {"label": "outlet", "oid": extend_oid("temp1"), "uom": "C"}]}
    p.update({"community_env": "T_COMMUNITY"} if version == "2c" else {"user": V3_USER})
    p.update(poller)
    return {"inventory": {"hosts": {"probe-a": {"address": "127.0.0.1"}}, "pollers": [p]},
            "snmp": {"users": [{"name": V3_USER, "auth_protocol": "SHA", "auth_key_env": "T_AUTH",
                                "priv_protocol": "AES", "priv_key_env": "T_PRIV"}]}}


@pytest.fixture()
def agent(tmp_path: Path):
    running = Agent(tmp_path / "snmpd").start()
    try:
        yield running
    finally:
        running.stop()


def poll(cfg: dict, environ: dict[str, str] = ENV, times: int = 1, between=None) -> list[dict]:
    sink = MemorySink()

    async def go() -> None:
        poller = Poller(sink, validate(cfg), environ=environ)
        from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

        poller._engine = SnmpEngine()
        try:
            for i in range(times):
                if between:
                    between(i)
                await poller.poll_once(poller.targets[0])
        finally:
            poller._engine.close_dispatcher()

    asyncio.run(go())
    return [loads(r.value) for r in sink.records]


def test_v2c_reads_pass_and_extend_outputs_and_an_entity_sensor_with_hysteresis(agent: Agent) -> None:
    agent.set_sensor(1, 245, scale=9, precision=1)  # 24.5 C
    agent.set_extend("temp1", "26 C")
    temps = ["24.5", "31.2", "29.5", "28.7", "36"]
    results = poll(config(agent.port), times=len(temps), between=lambda i: agent.set_probe(1, temps[i]))
    assert [r["status"] for r in results] == [0, 1, 1, 0, 2]  # 29.5 stays WARNING: within the hysteresis
    first = results[0]
    assert first["host"] == "probe-a" and first["service"] == "room-temp"
    assert [(p["label"], p["value"], p["uom"]) for p in first["perfdata"]] == \
        [("inlet", 24.5, "C"), ("board", 24.5, "C"), ("outlet", 26.0, "C")]
    assert results[1]["output"].startswith("SNMP WARNING - room-temp: inlet 31.2 C (WARNING)")


def test_v3_auth_priv_and_a_wrong_key_gives_unknown(agent: Agent) -> None:
    agent.set_probe(1, "22")
    agent.set_extend("temp1", "23")
    agent.set_sensor(1, 22000, scale=8, precision=0)  # milli-degrees
    ok = poll(config(agent.port, version="3"))
    assert ok[0]["status"] == 0 and [p["value"] for p in ok[0]["perfdata"]] == [22.0, 22.0, 23.0]
    bad = poll(config(agent.port, version="3"), environ=dict(ENV, T_AUTH="not-the-key-123"))
    assert bad[0]["status"] == 3 and bad[0]["perfdata"] == []


def test_an_agent_that_stops_answering_gives_unknown_and_keeps_the_items_state(agent: Agent) -> None:
    agent.set_probe(1, "36")
    agent.set_sensor(1, 20)
    results = poll(config(agent.port), times=2, between=lambda i: agent.stop() if i == 1 else None)
    assert [r["status"] for r in results] == [2, 3]
    assert "inlet: " in results[1]["output"] and "No SNMP response" in results[1]["output"]


def test_a_sensor_whose_status_is_not_ok_is_unknown(agent: Agent) -> None:
    agent.set_probe(1, "20")
    agent.set_sensor(1, 20, status=2)  # unavailable
    r = poll(config(agent.port))[0]
    assert r["status"] == 3 and "board: sensor status 2" in r["output"]


def test_an_unresolvable_host_is_unknown_and_tried_again(agent: Agent) -> None:
    cfg = config(agent.port)
    cfg["inventory"]["hosts"]["probe-a"]["address"] = "no-such-host.invalid"
    results = poll(cfg, times=2)
    assert [r["status"] for r in results] == [3, 3]
    assert "inlet: " in results[0]["output"]
