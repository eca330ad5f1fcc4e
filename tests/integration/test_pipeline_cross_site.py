"""A parent at another site through the real pipeline: the core router (site dc) parents the site router of
site mairie; host states cross partitions on `pipeline.hosts` and Engine.remote_host suppresses the site."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.integration.test_pipeline_scenarios import Scene, fresh_settings
from tests.tools import kafka_table
from vigie.kafka_client import KafkaSettings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHILDREN = [f"mairie-h{i}" for i in range(1, 6)]


def config_text(settings: KafkaSettings, state_dir: str) -> str:
    lines = [
        f'state_dir = "{state_dir}"',
        kafka_table(settings).rstrip("\n"),
        "[correlation]",
        'hold_down = "2s"',
        'update_interval = "500ms"',
        "max_check_attempts = 1",
        '[inventory.hosts."core"]',
        'site = "dc"',
        '[inventory.hosts."rtr-mairie"]',
        'site = "mairie"',
        'parents = ["core"]',
    ]
    for h in CHILDREN:
        lines += [f'[inventory.hosts."{h}"]', 'site = "mairie"', 'parents = ["rtr-mairie"]']
    for site in ("dc", "mairie"):
        lines += ["[[routes]]", f'name = "{site}-ops"', f'match = {{ site = "{site}" }}', 'group_wait = "1s"',
                  'group_interval = "3s"']
    return "\n".join(lines) + "\n"


@pytest.fixture()
def scene(broker: KafkaSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    tmp = tmp_path_factory.mktemp("cross-site")
    s = Scene(fresh_settings(broker), tmp)
    s.config.write_text(config_text(s.settings, str(tmp / "state")))
    s.worker.start()
    try:
        yield s
    finally:
        s.close()


def test_core_down_at_another_site_suppresses_the_site_then_recovery_releases(scene: Scene) -> None:
    scene.check("core", 2)
    scene.wait("core's incident", lambda: bool((scene.alerts.latest.get("core|check") or {}).get("incident_id")))
    core_inc = scene.alerts.latest["core|check"]["incident_id"]
    time.sleep(1.0)  # core's host state reaches the site's partition
    scene.check("rtr-mairie", 2)
    for h in CHILDREN:
        scene.check(h, 2)

    def suppressed() -> bool:
        alerts = scene.site_alerts("mairie")
        return len(alerts) == 6 and all(
            a["suppressed_by"] == {"kind": "incident", "ref": core_inc} for a in alerts.values())

    scene.wait("the site suppressed by core's incident", suppressed)
    time.sleep(3.0)  # past the hold-down: still nothing for the site
    scene.notes.poll()
    assert scene.route_notes("mairie-ops") == []
    # one page for core's incident, listing core's alert (people are paged per incident, not per alert)
    assert [(n["reason"], [a["fingerprint"] for a in n["alerts"]]) for n in scene.route_notes("dc-ops")] == [
        ("new", ["core|check"])]

    # core and the site router recover; the hosts still fail: released after the hold-down, notified
    scene.check("core", 0)
    scene.check("rtr-mairie", 0)
    def released() -> bool:
        paged = {a["fingerprint"] for n in scene.route_notes("mairie-ops") if n["reason"] == "new"
                 for a in n["alerts"] if a["status"] == "firing"}
        alerts = scene.site_alerts("mairie")
        return paged == {f"{h}|check" for h in CHILDREN} and all(
            alerts[f"{h}|check"]["suppressed_by"] is None for h in CHILDREN)

    scene.wait("the hosts released and notified", released)
    assert scene.site_alerts("mairie")["rtr-mairie|check"]["status"] == "resolved"
