"""Every ```toml example of docs/*.md and README.md is a configuration Vigie must accept and run: validated as
written, then the engine and the worker's stages built from it and driven for a simulated week (no Kafka).

A documented example that is refused, or that crashes the worker (as a time period with only `monday` set
once did), fails here rather than in front of someone copying it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from vigie.config import validate
from vigie.kafka_client import KafkaSettings
from vigie.pipelines.app import CorrelateStage, NormalizeStage, Worker, WorkerOptions
from vigie.pipelines.correlate.engine import Engine
from vigie.pipelines.normalize.normalize import Normalizer

ROOT = Path(__file__).resolve().parents[2]
T = 1_740_823_200.0  # Saturday 2025-03-01 10:00 UTC
HOUR = 3600.0


def documented_blocks() -> list[tuple[str, str]]:
    out = []
    for page in [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]:
        for i, m in enumerate(re.finditer(r"```toml\n(.*?)```", page.read_text(), re.S)):
            out.append((f"{page.name}#{i}", m.group(1)))
    return out


BLOCKS = documented_blocks()


def test_the_pages_have_examples():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize(("where", "text"), BLOCKS, ids=[w for w, _ in BLOCKS])
def test_documented_example_validates_and_runs(where, text):
    cfg = validate(tomllib.loads(text))
    worker = Worker(cfg, KafkaSettings(), WorkerOptions())
    assert [type(s) for s in worker.stages] == [NormalizeStage, CorrelateStage]
    normalizer = worker.stages[0].normalizer
    assert isinstance(normalizer, Normalizer)
    engine = Engine.from_config(cfg)
    hosts = list(cfg.inventory.hosts) or ["h1"]
    now = T
    for host in hosts:  # every documented host fails, then a week passes hour by hour, then it recovers
        event = normalizer.check({"host": host, "service": None, "status": 2, "output": "DOWN"})
        engine.process(event, now)
    for _ in range(24 * 8):
        now += HOUR
        engine.tick(now)
        for route in engine.router.routes:
            engine.router.active(route, now)
    for host in hosts:
        engine.process(normalizer.check({"host": host, "service": None, "status": 0, "output": "UP"}), now)
    engine.tick(now + 1)


def reference_deployment():
    for _where, text in BLOCKS:
        if 'name = "oncall-partner"' in text:
            return validate(tomllib.loads(text))
    raise AssertionError("docs/configuration.md lost its reference deployment")


@pytest.mark.parametrize(
    ("when", "host", "route"),
    [
        (1_740_996_000.0, "sw-mairie", "staff"),  # Monday 2025-03-03 11:00 Paris
        (1_741_039_200.0, "sw-mairie", "oncall-partner"),  # Monday 23:00 Paris
        (1_741_500_000.0, "sw-mairie", "oncall-partner"),  # Sunday 2025-03-09 07:00 Paris
        (1_741_039_200.0, "portail-web", "portals"),  # Monday 23:00 Paris
        (1_740_996_000.0, "portail-web", "portals"),  # Monday 11:00 Paris
    ],
)
def test_the_reference_deployment_routes_by_time(when, host, route):
    cfg = reference_deployment()
    worker = Worker(cfg, KafkaSettings(), WorkerOptions())
    normalizer, engine = worker.stages[0].normalizer, Engine.from_config(cfg)
    notes = []
    for attempt in range(3):  # max_check_attempts: hard at the third result
        down = normalizer.check({"host": host, "service": None, "status": 2, "output": "DOWN"})
        notes += engine.process(down, when + attempt).notifications
    for t in range(3, 60):
        notes += engine.tick(when + t).notifications
    assert [(n["reason"], n["route"]) for n in notes] == [("new", route)]


def test_a_route_held_until_its_period_waits_for_it():
    text = """
[timeperiods.staff-hours]
"monday..saturday" = "06:00-22:00"
[[routes]]
name = "staff"
active = "staff-hours"
hold_until_active = true
[[routes]]
name = "oncall-partner"
"""
    cfg = validate(tomllib.loads(text))
    engine = Engine.from_config(cfg)
    normalizer = Worker(cfg, KafkaSettings(), WorkerOptions()).stages[0].normalizer
    monday_23 = 1_741_039_200.0
    notes = []
    for attempt in range(3):
        down = normalizer.check({"host": "h1", "service": None, "status": 2, "output": "DOWN"})
        notes += engine.process(down, monday_23 + attempt).notifications
    for t in range(0, 9 * 3600, 60):  # until Tuesday 08:00 Paris
        notes += engine.tick(monday_23 + t).notifications
    assert [(n["reason"], n["route"], n["at"][11:16]) for n in notes] == [("new", "staff", "05:00")]  # 06:00 Paris
