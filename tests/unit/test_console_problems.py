"""The Problems page and the wall: the view model (state + filters + now -> rows), the pages as each role sees
them, the live stream (/events) and the French catalogue of their templates."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from tests.console_support import login, make_console, serve
from vigie.config import validate
from vigie.console.i18n import catalogue
from vigie.console.live import Hub
from vigie.console.problems_view import Filters, problems_view
from vigie.console.state import ConsoleState
from vigie.pipelines.correlate.routing import Router

NOW = 1_796_000_000.0
TEMPLATES = Path(__file__).resolve().parents[2] / "vigie" / "console" / "templates"
NO_FILTER = Filters()
MY_TEMPLATES = ("problems.html", "problems_table.html", "problems_row.html", "problems_members.html", "wall.html")


def alert(fp: str, host: str, *, site: str = "mairie", severity: str = "critical", incident: str | None = None,
          state: str = "hard", suppressed: dict[str, str] | None = None, ack: str | None = None,
          flapping: bool = False, first: str = "2026-12-07T08:00:00Z", status: str = "firing",
          kind: str = "trap", component: str = "if3") -> dict[str, Any]:
    return {"schema": "alert/1", "fingerprint": fp, "status": status, "severity": severity, "host": host,
            "site": site, "component": component, "summary": f"{component} down on {host}", "first_seen": first,
            "last_seen": first, "count": 2, "state_type": state, "flapping": flapping, "suppressed_by": suppressed,
            "incident_id": incident, "sources": [kind],
            "acknowledged": {"author": ack, "reason": "on it", "at": first} if ack else None}


def incident(iid: str, alerts: list[str], symptoms: list[str], *, site: str = "mairie", root: str = "sw-core",
             status: str = "open", opened: str = "2026-12-07T08:00:00Z") -> dict[str, Any]:
    return {"schema": "incident/1", "id": iid, "status": status, "opened_at": opened, "updated_at": opened,
            "resolved_at": None, "severity": "critical", "site": site,
            "root_cause": {"host": root, "component": "if3", "reason": "parent of the others"},
            "alerts": alerts, "symptoms": symptoms, "explain": []}


def town() -> ConsoleState:
    """An incident at the town hall (a core switch down, two switches behind it inhibited), a resolved
    incident, and lone alerts at the library."""
    state = ConsoleState()
    for a in (alert("core", "sw-core", incident="inc-1"),
              alert("sw2", "sw-2", incident="inc-1", suppressed={"kind": "inhibited", "ref": "inc-1"}),
              alert("sw3", "sw-3", incident="inc-1", suppressed={"kind": "inhibited", "ref": "inc-1"}),
              alert("old", "sw-old", incident="inc-0", status="resolved"),
              alert("left", "srv-left", incident="inc-0", severity="warning", first="2026-12-07T07:00:00Z"),
              alert("disk", "nas", site="library", severity="warning", state="soft", kind="check",
                    component="disk", first="2026-12-07T09:00:00Z"),
              alert("ups", "ups", site="library", severity="critical", ack="alice", flapping=True, kind="check",
                    component="battery", suppressed={"kind": "maintenance", "ref": "m-7"}),
              alert("web", "portal", site="library", severity="critical", kind="check", component="http",
                    first="2026-12-07T09:30:00Z"),
              alert("quiet", "printer", site="library", severity="warning", kind="check",
                    suppressed={"kind": "silence", "ref": "s-3"})):
        state.apply("alerts", a["fingerprint"], a)
    state.apply("incidents", "inc-1", incident("inc-1", ["core", "sw2", "sw3"], ["sw2", "sw3"]))
    state.apply("incidents", "inc-0", incident("inc-0", ["old", "left"], ["left"], root="sw-old", status="resolved"))
    return state


def view(state: ConsoleState, filters: Filters = NO_FILTER, router: Router | None = None):
    names = [r.name for r in router.routes] if router else []
    match = (lambda labels, now: [r.name for r in router.match(labels, now)]) if router else None
    return problems_view(state.alerts, state.incidents, filters, NOW, match, names)


def test_incidents_come_first_with_their_root_cause_and_members_folded_then_lone_alerts() -> None:
    v = view(town())
    assert [g.id for g in v.incidents] == ["inc-1"]
    group = v.incidents[0]
    assert (group.root_host, group.reason) == ("sw-core", "parent of the others")
    assert [r.host for r in group.roots] == ["sw-core"]
    assert sorted(r.host for r in group.members) == ["sw-2", "sw-3"] and group.suppressed_count == 2
    # a resolved incident is gone; its still-open member is a lone alert; a resolved alert is not shown
    assert "srv-left" in [r.host for r in v.lone] and "sw-old" not in [r.host for r in v.lone]
    assert (v.shown, v.total) == (8, 8)
    assert v.by_severity["critical"] == 5 and v.by_severity["warning"] == 3


def test_lone_alerts_are_worst_first_hard_before_soft_unhandled_before_handled_newest_first() -> None:
    hosts = [r.host for r in view(town()).lone]
    # critical unhandled (portal) before critical acked (ups); HARD warnings newest first, then the silenced
    # one; the SOFT warning last
    assert hosts == ["portal", "ups", "srv-left", "printer", "nas"]


def test_rows_say_who_acknowledged_what_suppresses_them_and_flapping() -> None:
    rows = {r.host: r for r in view(town()).lone}
    assert (rows["ups"].acked_by, rows["ups"].suppressed, rows["ups"].suppressed_ref, rows["ups"].flapping) == (
        "alice", "maintenance", "m-7", True)
    assert (rows["printer"].suppressed, rows["printer"].acked_by) == ("silence", "")
    assert (rows["nas"].state, rows["portal"].state) == ("SOFT", "HARD")
    assert rows["portal"].since == "2026-12-07T09:30:00Z" and rows["portal"].count == 2


def test_malformed_values_on_the_topics_are_left_out_not_a_broken_page() -> None:
    state = town()
    state.apply("alerts", "junk", ["not", "an", "alert"])  # type: ignore[arg-type]
    state.apply("alerts", "odd", {**alert("odd", "odd-host", site="library"), "count": "many", "first_seen": 3})
    state.apply("incidents", "junk", "nope")  # type: ignore[arg-type]
    state.apply("incidents", "inc-1", {**incident("inc-1", ["core", "sw2", "sw3"], ["sw2", "sw3"]), "root_cause": None})
    v = view(state)
    assert v.total == 9 and [g.root_host for g in v.incidents] == [""]
    odd = next(r for r in v.lone if r.host == "odd-host")
    assert (odd.count, odd.since) == (1, "3")


def test_an_incident_ranks_as_its_worst_member_above_a_lesser_one() -> None:
    state = town()
    state.apply("alerts", "x", alert("x", "ap-1", site="school", severity="warning", incident="inc-2"))
    state.apply("incidents", "inc-2", incident("inc-2", ["x"], [], site="school", root="ap-1",
                                               opened="2026-12-07T10:00:00Z"))
    assert [g.id for g in view(state).incidents] == ["inc-1", "inc-2"]  # critical first, though older


def test_filters_by_site_and_state() -> None:
    state = town()
    library = view(state, Filters(site="library"))
    assert library.incidents == [] and {r.site for r in library.lone} == {"library"}
    soft = view(state, Filters(state="soft"))
    assert [r.host for r in soft.lone] == ["nas"] and soft.incidents == []
    hard_mairie = view(state, Filters(site="mairie", state="hard"))
    assert [g.id for g in hard_mairie.incidents] == ["inc-1"] and [r.host for r in hard_mairie.lone] == ["srv-left"]
    assert view(state, Filters(site="nowhere")).shown == 0


def test_the_route_filter_uses_the_pipelines_routing_on_the_configured_routes() -> None:
    cfg = validate({"routes": [{"name": "network", "match": {"kind": "trap"}},
                               {"name": "library-oncall", "match": {"site": "library"}, "continue": True},
                               {"name": "servers", "match_re": {"component": "disk|http"}}]})
    router = Router.from_config(cfg.routes, cfg.timeperiods)
    network = view(town(), Filters(route="network"), router)
    assert [g.id for g in network.incidents] == ["inc-1"] and [r.host for r in network.lone] == ["srv-left"]
    # continue: the library's disk and web checks go to library-oncall and to servers
    assert sorted(r.host for r in view(town(), Filters(route="servers"), router).lone) == ["nas", "portal"]
    assert len(view(town(), Filters(route="library-oncall"), router).lone) == 4
    assert view(town(), Filters(), router).routes == ["network", "library-oncall", "servers"]


def test_filters_from_the_query_drop_unknown_routes_and_states_and_links_keep_them() -> None:
    f = Filters.from_query({"site": "library", "route": "nope", "state": "HARD"}, ["network"])
    assert f == Filters(site="library", route="", state="hard")
    assert Filters.from_query({"route": "network"}, ["network"]).route == "network"
    assert f.query() == "site=library&state=hard"
    assert f.query(site="mairie") == "site=mairie&state=hard" and f.query(state="") == "site=library"
    assert Filters().query() == "" and not Filters().active


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_a_viewer_sees_no_action_buttons_an_operator_does_and_links_keep_the_filters(tmp_path: Path) -> None:
    console = make_console(tmp_path, town())

    async def page(role: str, path: str) -> str:
        async with serve(console) as client:
            await login(client, role)
            response = await client.get(path)
            assert response.status == 200
            return await response.text()

    viewer = run(page("viewer", "/problems?state=hard"))
    operator = run(page("operator", "/problems?state=hard"))
    assert "Acknowledge…" not in viewer and 'class="button action"' not in viewer
    assert operator.count('class="button action"') == 10  # two per HARD row shown: inc-1's root and 4 lone
    assert operator.count('href="/silences/new?host=') == 5  # "silence this", the form filled from the row
    assert 'href="/incidents/inc-1"' in operator and 'href="/hosts/sw-core"' in viewer
    assert 'href="/problems?site=library&amp;state=hard"' in viewer  # a site link keeps the state filter
    assert 'data-live="/problems?fragment=1&amp;state=hard"' in viewer
    assert '<details data-key="incident-inc-1" data-src="/problems?members=inc-1&amp;state=hard">' in viewer
    assert "sw-2" not in viewer and 'src="/static/live.js"' in viewer  # members come when opened


def test_the_fragment_is_the_table_alone_and_the_wall_has_no_controls(tmp_path: Path) -> None:
    console = make_console(tmp_path, town())

    async def go() -> tuple[str, str, str]:
        async with serve(console) as client:
            await login(client, "operator")
            fragment = await (await client.get("/problems?fragment=1&site=library")).text()
            wall = await (await client.get("/wall")).text()
            wall_fragment = await (await client.get("/wall?fragment=1")).text()
            return fragment, wall, wall_fragment

    fragment, wall, wall_fragment = run(go())
    assert fragment.lstrip().startswith('<p class="problems-counts">') and "<html" not in fragment
    assert "csrf" not in fragment and "portal" in fragment and "sw-core" not in fragment
    assert 'class="wall"' in wall and "<form" not in wall and "<select" not in wall
    assert "<a " not in wall_fragment and "<details" not in wall_fragment and "Acknowledge…" not in wall_fragment
    assert "+ 2 more (2 suppressed)" in wall_fragment and "sw-core" in wall_fragment
    assert "acked by alice" in wall_fragment and '<span class="badge maintenance">in maintenance</span>' not in wall_fragment
    assert '<span class="badge maintenance">maintenance</span>' in wall_fragment  # English: the kind itself


def test_an_incidents_folded_members_are_served_when_opened_under_the_same_filters(tmp_path: Path) -> None:
    state = town()
    state.apply("alerts", "sw4", alert("sw4", "sw-4", incident="inc-1", state="soft",
                                       suppressed={"kind": "inhibited", "ref": "inc-1"}))
    state.apply("incidents", "inc-1", incident("inc-1", ["core", "sw2", "sw3", "sw4"], ["sw2", "sw3", "sw4"]))
    console = make_console(tmp_path, state)

    async def go() -> tuple[str, str, str]:
        async with serve(console) as client:
            await login(client, "operator")
            every = await (await client.get("/problems?members=inc-1")).text()
            hard = await (await client.get("/problems?members=inc-1&state=hard")).text()
            none = await (await client.get("/problems?members=no-such")).text()
            return every, hard, none

    every, hard, none = run(go())
    assert re.findall(r'data-fingerprint="(\w+)"', every) == ["sw3", "sw2", "sw4"]  # worst first: HARD, then SOFT
    assert 'data-fingerprint="core"' not in every and "<html" not in every
    assert every.count('class="button action"') == 6  # acknowledge and silence, per member
    assert sorted(re.findall(r'data-fingerprint="(\w+)"', hard)) == ["sw2", "sw3"]
    assert "No problem." in none


def test_a_fragment_is_rendered_once_per_state_version(tmp_path: Path) -> None:
    state = town()
    console = make_console(tmp_path, state)

    async def go() -> list[str]:
        async with serve(console) as client:
            await login(client, "viewer")
            seen = [await (await client.get("/problems?fragment=1")).text()]
            cached = console.extras["problems_fragments"]
            first = list(cached.values())
            seen.append(await (await client.get("/problems?fragment=1")).text())
            assert list(cached.values()) == first  # the same rendering, not a second one
            state.apply("alerts", "new", alert("new", "sw-new", site="school"))
            seen.append(await (await client.get("/problems?fragment=1")).text())
            assert len(cached) == 1 and list(cached.values()) != first
            return seen

    one, two, three = run(go())
    assert one == two and "sw-new" not in two and "sw-new" in three


async def _read_event(content: Any) -> str:
    """The next SSE block (up to a blank line)."""
    lines = []
    while True:
        line = (await asyncio.wait_for(content.readline(), 5)).decode()
        if line == "\n":
            return "".join(lines)
        lines.append(line)


async def _next_change(content: Any) -> str:
    while True:
        block = await _read_event(content)
        if not block.startswith(":"):
            return block


def test_events_tell_open_pages_of_changes_coalesced_and_keep_alive(tmp_path: Path) -> None:
    state = ConsoleState()
    console = make_console(tmp_path, state)
    console.extras["live"] = Hub(state, interval=0.3, keepalive=0.2, client_check=0.1)

    async def go() -> list[str]:
        async with serve(console) as client:
            await login(client, "viewer")
            response = await client.get("/events", headers={"Accept": "text/event-stream"})
            assert response.headers["Content-Type"] == "text/event-stream"
            got = [await _read_event(response.content)]  # retry: ...
            got.append(await _read_event(response.content))  # quiet: a keep-alive comment
            state.apply("alerts", "a0", alert("a0", "h0"))
            got.append(await _next_change(response.content))  # at once
            for i in range(1, 50):  # a burst while the ticker waits: one more event for all of it
                state.apply("alerts", f"a{i}", alert(f"a{i}", f"h{i}"))
            state.apply("notifications", "n", {"incident": {"id": "inc-1"}})  # not what the pages show
            got.append(await _next_change(response.content))
            quiet = [await _read_event(response.content) for _ in range(4)]
            got.append("then " + " ".join(sorted(set(quiet))).strip())
            response.close()
            return got

    got = run(go())
    assert got[0] == "retry: 2000\n" and got[1] == ": keep-alive\n"
    assert got[2:] == ["event: change\ndata: 1\n", "event: change\ndata: 2\n", "then : keep-alive"]


def test_streams_end_when_the_console_stops_and_when_the_client_goes(tmp_path: Path) -> None:
    state = ConsoleState()
    console = make_console(tmp_path, state)
    hub = console.extras["live"] = Hub(state, keepalive=60, client_check=0.05)

    async def go() -> None:
        async with serve(console) as client:
            await login(client, "viewer")
            gone = await client.get("/events")
            await _read_event(gone.content)
            assert hub.streams == 1
            gone.close()  # the browser tab is closed
            for _ in range(100):
                if hub.streams == 0:
                    break
                await asyncio.sleep(0.02)
            assert hub.streams == 0
            staying = await client.get("/events")
            await _read_event(staying.content)
            assert hub.streams == 1
            await client.server.app.shutdown()  # what aiohttp's runner does when the console stops
            assert await asyncio.wait_for(staying.content.read(), 2) == b""  # ended, not left hanging
            assert hub.streams == 0 and hub.closed

    run(go())


def test_every_message_of_the_problems_templates_has_a_french_entry() -> None:
    french = catalogue("fr")
    messages = set()
    for name in MY_TEMPLATES:
        messages |= set(re.findall(r'_\("((?:[^"\\]|\\.)*)"', (TEMPLATES / name).read_text()))
    messages |= {"critical", "warning", "unknown", "info", "ok", "inhibited", "maintenance", "silence", "Wall"}
    assert sorted(m for m in messages if m not in french) == []


def test_silence_this_opens_the_silence_form_filled_from_the_problem(tmp_path: Path) -> None:
    import html
    import re

    console = make_console(tmp_path, town())

    async def go() -> tuple[str, str]:
        async with serve(console) as client:
            await login(client, "operator")
            page = await (await client.get("/problems")).text()
            link = html.unescape(re.search(r'href="(/silences/new\?host=[^"]+)"', page).group(1))
            form = await client.get(link)
            assert form.status == 200
            return link, await form.text()

    link, form = run(go())
    host = re.search(r"host=([^&]+)", link).group(1)
    assert f'value="{host}"' in form or f"host={host}" in form or f'host="{host}"' in form
