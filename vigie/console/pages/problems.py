"""Problems and the wall: what is wrong now, worst first (the page people open first, and the big screen).

Both pages are a shell around one live fragment (`?fragment=1`, the table alone) that static/live.js
re-fetches when `/events` says the state changed. Fragments hold no per-person data (no CSRF token, no name),
so one rendering per state version, filters, language and role class serves every open page: with 20 pages
open a change is rendered once, not 20 times (bench/console.py).
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from aiohttp import web
from markupsafe import Markup

from vigie.console.i18n import Translator
from vigie.console.problems_view import Filters, ProblemsView, RouteNames, Row, RowMemo, problems_view
from vigie.console.server import ACCOUNT, CONSOLE, Console, NavItem, Route, T, render

FRAGMENT_CACHE = "problems_fragments"
ROW_CACHE = "problems_rows"
ROW_MEMO = "problems_row_memo"
ROUTER = "router"  # Console.extras key: the pipelines' Router, given by the composition root (vigie.app)
ROUTE_TIME_BUCKET = 60.0  # s: a route with an `active` period may start or stop matching as time passes


def route_names(console: Console) -> tuple[list[str], RouteNames | None]:
    """The configured route names, and what tells which of them an alert's labels go to.

    vigie.console may not import the pipelines (tests/unit/test_import_rules.py), so the composition root
    hands the console the correlate stage's own Router (Router.from_config over cfg.routes and
    cfg.timeperiods): the filter uses the very matching that notifies people.
    """
    names = [r.name for r in getattr(console.cfg, "routes", None) or []]
    router = console.extras.get(ROUTER)
    if router is None:
        return names, None

    def match(labels: dict[str, str], now: float) -> list[str]:
        return [r.name for r in router.match(labels, now)]

    return names, match


def _view(console: Console, query: Mapping[str, str]) -> ProblemsView:
    names, match = route_names(console)
    filters = Filters.from_query(query, names)
    memo: RowMemo = console.extras.setdefault(ROW_MEMO, RowMemo())
    memo.prune(console.state.alerts)
    return problems_view(console.state.alerts, console.state.incidents, filters, console.clock(), match, names,
                         make_row=memo)


class RowCache:
    """Rendered rows by (row, context): after a change only the changed alerts' rows are rendered again.
    Measured on 5,000 alerts: the template's rows were ~85 % of a rendering."""

    LIMIT = 50_000

    def __init__(self) -> None:
        self._html: dict[tuple[Any, ...], str] = {}

    def renderer(self, module: Any, context: tuple[Any, ...]) -> Any:
        html, macro = self._html, module.row
        if len(html) > self.LIMIT:
            html.clear()

        def row_html(row: Row) -> Markup:
            key = (row, *context)
            text = html.get(key)
            if text is None:
                text = html[key] = str(macro(row))
            return Markup(text)

        return row_html


def _local_time(t: Translator) -> Any:
    """t.datetime memoised for one rendering: Babel formats a time in ~40 µs and a storm shares seconds."""
    seen: dict[str, str] = {}

    def show(value: str) -> str:
        text = seen.get(value)
        if text is None:
            text = seen[value] = t.datetime(value)
        return text

    return show


def _fragment(request: web.Request, wall: bool) -> Fragment:
    """The table alone, cached per state version, filters, language and role class."""
    console = request.app[CONSOLE]
    t: Translator = request[T]
    can_act = not wall and request[ACCOUNT].can("act")
    key = (wall, console.state.version, request.query_string, t.language, can_act,
           int(console.clock() // ROUTE_TIME_BUCKET))
    cache: dict[Any, Fragment] = console.extras.setdefault(FRAGMENT_CACHE, {})
    body = cache.get(key)
    if body is None:
        text = render_fragment(console, t, request.query, wall, can_act)
        if len(cache) > 64 or any(k[1] != console.state.version for k in cache):
            cache.clear()  # only the current version's renderings are worth keeping
        body = cache[key] = Fragment(text)
    return body


def render_fragment(console: Console, t: Translator, query: Mapping[str, str], wall: bool, can_act: bool,
                    members_of: str | None = None) -> str:
    """The live fragment's HTML for the console's state now (bench/console.py times it alone), or with
    `members_of` the folded members of that incident."""
    view = _view(console, query)
    f = view.filters
    context = dict(
        _=t.gettext, t=t, f=f, wall=wall, can_act=can_act, since=_local_time(t),
        segment=lambda s: quote(s, safe=""), base="/wall" if wall else "/problems",
        # the filter links of every row, made once per site (urlencode per row was a third of the render)
        site_query={s: f.query(site=s) for s in view.sites},
        state_query={"HARD": f.query(state="hard"), "SOFT": f.query(state="soft")})
    rows: RowCache = console.extras.setdefault(ROW_CACHE, RowCache())
    module = console.templates.get_template("problems_row.html").make_module(vars=context)
    row_html = rows.renderer(module, (wall, can_act, t.language, f))
    if members_of is not None:
        rows = next((g.members for g in view.incidents if g.id == members_of), [])
        return console.templates.get_template("problems_members.html").render(**context, rows=rows,
                                                                              row_html=row_html)
    return console.templates.get_template("problems_table.html").render(
        **context, view=view, row_html=row_html, now=console.clock())


class Fragment:
    """A rendered fragment and, once asked for, its gzip form: 5,000 alerts make 3.7 MB of HTML, ~25x
    smaller compressed, compressed once per state version for every page that fetches it."""

    __slots__ = ("text", "_gzip")

    def __init__(self, text: str) -> None:
        self.text = text
        self._gzip: bytes | None = None

    def gzip(self) -> bytes:
        if self._gzip is None:
            self._gzip = gzip.compress(self.text.encode(), compresslevel=1)
        return self._gzip

    def response(self, request: web.Request) -> web.Response:
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            return web.Response(body=self.gzip(), content_type="text/html", charset="utf-8",
                                headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
        return web.Response(text=self.text, content_type="text/html", charset="utf-8")


async def _page(request: web.Request, wall: bool) -> web.StreamResponse:
    members_of = request.query.get("members")
    if members_of is not None and not wall:
        text = render_fragment(request.app[CONSOLE], request[T], request.query, False, request[ACCOUNT].can("act"),
                               members_of)
        return web.Response(text=text, content_type="text/html", charset="utf-8")
    fragment = _fragment(request, wall)
    if request.query.get("fragment"):
        return fragment.response(request)
    console = request.app[CONSOLE]
    names, _match = route_names(console)
    filters = Filters.from_query(request.query, names)
    query = filters.query()
    live = f"{'/wall' if wall else '/problems'}?fragment=1" + (f"&{query}" if query else "")
    sites = sorted(({str(a.get("site") or "") for a in console.state.alerts.values()} | {filters.site}) - {""})
    return render(request, "wall.html" if wall else "problems.html", fragment=fragment.text, live=live, f=filters,
                  sites=sites, routes=names)


async def problems(request: web.Request) -> web.StreamResponse:
    return await _page(request, wall=False)


async def wall(request: web.Request) -> web.StreamResponse:
    return await _page(request, wall=True)


ROUTES = [Route("GET", "/problems", problems), Route("GET", "/wall", wall)]
NAV = [NavItem("/problems", "Problems"), NavItem("/wall", "Wall")]
