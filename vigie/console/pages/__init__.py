"""One module per page; each exposes ROUTES (server.Route) and NAV (server.NavItem, in top-bar order).

PAGE_MODULES is the order of the top bar. A new page: a module here, its templates, its catalogue
entries in locale/fr, its browser test.
"""

from __future__ import annotations

from importlib import import_module

from vigie.console.server import NavItem, Route

PAGE_MODULES = ("login", "problems", "events", "incident", "host", "silences", "duty", "archive", "health", "users")


def collect() -> tuple[list[Route], list[NavItem]]:
    routes: list[Route] = []
    nav: list[NavItem] = []
    for name in PAGE_MODULES:
        module = import_module(f"vigie.console.pages.{name}")
        routes.extend(module.ROUTES)
        nav.extend(getattr(module, "NAV", ()))
    return routes, nav
