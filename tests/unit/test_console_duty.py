"""The On duty page: route states and the next change of duty on the reference deployment of
docs/configuration.md (staff 06:00-22:00 Monday to Saturday, an on-call partner otherwise, portals 24/7)."""

from __future__ import annotations

import asyncio
import re
import tomllib
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.console_support import login, make_console, serve
from vigie.config import validate
from vigie.console.pages.duty import duty_view, next_change, periods_of, receiver_view, route_states
from vigie.pipelines.correlate.routing import route_from_config

ROOT = Path(__file__).resolve().parents[2]
PARIS = ZoneInfo("Europe/Paris")


def local(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS).timestamp()


def reference_config():
    """The 'Routes by time' example of docs/configuration.md, as documented."""
    doc = (ROOT / "docs" / "configuration.md").read_text()
    block = re.search(r"\*\*Routes by time\.\*\*.*?```toml\n(.*?)```", doc, re.S)
    assert block is not None
    return validate(tomllib.loads(block.group(1)))


def states_at(cfg, when: str) -> dict[str, str]:
    routes = [route_from_config(r) for r in cfg.routes]
    return dict(zip([r.name for r in routes], route_states(routes, periods_of(cfg), local(when)), strict=True))


def test_the_reference_deployment_hands_over_at_22_on_saturday_and_at_6_on_monday() -> None:
    cfg = reference_config()
    assert states_at(cfg, "2026-12-05T21:00") == {"portals": "receiving", "staff": "receiving",
                                                   "oncall-partner": "shadowed"}
    _routes, change = duty_view(cfg, local("2026-12-05T21:00"))  # Saturday evening
    assert (change.at, change.starts, change.stops) == (local("2026-12-05T22:00"), ("oncall-partner",), ("staff",))
    assert states_at(cfg, "2026-12-06T12:00") == {"portals": "receiving", "staff": "off",
                                                   "oncall-partner": "receiving"}
    _routes, change = duty_view(cfg, local("2026-12-06T12:00"))  # Sunday: nobody of the staff until Monday
    assert (change.at, change.starts, change.stops) == (local("2026-12-07T06:00"), ("staff",), ("oncall-partner",))
    _routes, change = duty_view(cfg, local("2026-12-07T22:00"))  # Monday 22:00 sharp: the change has just happened
    assert change.at == local("2026-12-08T06:00")


def test_a_flip_that_changes_nobody_is_skipped_and_a_held_route_is_holding() -> None:
    cfg = validate(tomllib.loads("""
[timeperiods.nights]
timezone = "Europe/Paris"
"monday..sunday" = "20:00-24:00"
[timeperiods.staff-hours]
timezone = "Europe/Paris"
"monday..friday" = "08:00-18:00"
[[routes]]
name = "everything"
[[routes]]
name = "night-shift"
active = "nights"
[[routes]]
name = "held"
match = { site = "mairie" }
timeperiod = "staff-hours"
"""))
    # held is behind the catch-all; night-shift too: their periods flip, but nothing visible changes
    assert states_at(cfg, "2026-12-07T21:00")["held"] == "shadowed"
    routes = [route_from_config(r) for r in cfg.routes]
    assert next_change(routes, periods_of(cfg), local("2026-12-07T21:00")) is None
    held = validate(tomllib.loads("""
[timeperiods.staff-hours]
timezone = "Europe/Paris"
"monday..friday" = "08:00-18:00"
[[routes]]
name = "staff"
active = "staff-hours"
hold_until_active = true
"""))
    views, change = duty_view(held, local("2026-12-05T12:00"))  # a Saturday
    assert views[0].state == "holding" and views[0].hold == "staff-hours" and views[0].active is None
    assert (change.at, change.starts) == (local("2026-12-07T08:00"), ("staff",))


def test_receivers_show_addresses_and_env_names_never_secrets(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VIGIE_SMTP_PASSWORD", "hunter2-smtp")
    monkeypatch.setenv("VIGIE_TOKEN", "hunter2-token")
    cfg = validate(tomllib.loads("""
[receivers.mail]
type = "email"
smarthost = "smtp.example:587"
password_env = "VIGIE_SMTP_PASSWORD"
username = "vigie"
from = "vigie@example.org"
to = ["dsi@example.org"]
[receivers.chat]
type = "slack"
url = "https://hooks.slack.example/services/T000/B000/SECRETPATH"
[receivers.push]
type = "ntfy"
url = "https://ntfy.example/private-topic"
bearer_token_env = "VIGIE_TOKEN"
[[routes]]
name = "all"
receivers = ["mail", "chat"]
fallback = "push"
webhook = "https://am.example/hook?token=SECRETQUERY"
escalate_after = "30m"
escalate_to = "all"
"""))
    views, change = duty_view(cfg, local("2026-12-07T12:00"))
    (route,) = views
    assert change is None and route.state == "receiving" and route.matches == ()
    shown = {r.name: (r.kind, r.targets, r.secrets) for r in route.receivers}
    assert shown == {"mail": ("email", ("dsi@example.org",), ("VIGIE_SMTP_PASSWORD",)),
                     "chat": ("slack", ("hooks.slack.example",), ()),
                     "all": ("webhook", ("am.example",), ())}
    assert receiver_view("push", cfg.receivers["push"]) == route.fallback
    assert route.fallback.targets == ("ntfy.example",) and route.fallback.secrets == ("VIGIE_TOKEN",)

    async def page() -> str:
        console = make_console(tmp_path, cfg=cfg)
        async with serve(console) as client:
            await login(client, "viewer")
            response = await client.get("/duty")
            assert response.status == 200
            return await response.text()

    text = asyncio.run(page())
    assert "dsi@example.org" in text and "VIGIE_SMTP_PASSWORD" in text and "30 minutes" in text
    for secret in ("hunter2", "SECRETPATH", "SECRETQUERY", "private-topic"):
        assert secret not in text


def test_the_page_says_the_next_change_in_local_time_in_french(tmp_path: Path) -> None:
    cfg = reference_config()
    console = make_console(tmp_path, cfg=cfg)

    async def page() -> str:
        async with serve(console) as client:
            await login(client, "viewer")
            console.clock = lambda: local("2026-12-05T21:00")
            response = await client.get("/duty", headers={"Accept-Language": "fr-FR"})
            return await response.text()

    text = asyncio.run(page())
    assert "Prochaine relève" in text and "samedi 05/12/2026 22:00" in text
    next_change_line = re.search(r'<p id="next-change">(.*?)</p>', text, re.S).group(1)
    assert "oncall-partner" in next_change_line and "staff" in next_change_line
    assert 'data-route="staff"' in text and "state-receiving" in text
