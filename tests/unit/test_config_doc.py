"""docs/configuration.md's reference tables are the schema's: a key, default or doc changed on one side only fails here."""

from __future__ import annotations

from dataclasses import fields

import pytest

from vigie import config
from vigie.config_doc import DOC, main, referenced, render, sections, table


def test_the_page_matches_the_schema() -> None:
    text = DOC.read_text()
    assert render(text) == text, "docs/configuration.md drifted from vigie/config.py: run scripts/config_reference"


def test_every_table_of_the_schema_has_its_place_on_the_page() -> None:
    assert {path for path, _ in sections()} == referenced(DOC.read_text())


def test_every_key_has_a_checker_and_a_doc() -> None:
    for path, cls in sections():
        for f in fields(cls):
            assert callable(f.metadata.get("check")), (path, f.name)
            assert "section" in f.metadata or f.metadata.get("doc"), (path, f.name)


def test_a_drifted_page_is_rewritten_and_an_unknown_table_refused(tmp_path) -> None:  # noqa: ANN001 - pytest fixture
    page = tmp_path / "configuration.md"
    stale = DOC.read_text().replace("| `partitions` | 3 |", "| `partitions` | 4 |")
    page.write_text(stale)
    assert render(stale) != stale
    assert main([str(page)]) == 0 and page.read_text() == DOC.read_text()
    assert "| `continue` | false |" in table(config.RouteConfig)  # the TOML name, not the Python one
    with pytest.raises(KeyError, match="unknown table"):
        render("<!-- reference: kafak -->\n<!-- end reference -->\n")
    page.write_text("# nothing\n")
    assert main([str(page)]) == 1


def test_the_reference_deployment_loads_and_builds_every_channel(monkeypatch) -> None:
    """The syndicate of five towns in docs/configuration.md is a complete, valid configuration."""
    import re
    import tomllib

    from vigie.config import validate
    from vigie.pipelines.notify.channels import route_settings

    block = re.search(r"<!-- example: syndicate -->\n```toml\n(.*?)```", DOC.read_text(), re.S)
    assert block is not None
    for env in ("VIGIE_SMTP_PASSWORD", "VIGIE_SMS_PASSWORD", "VIGIE_PORTAL_TOKEN", "VIGIE_NTFY_TOKEN"):
        monkeypatch.setenv(env, "x")
    cfg = validate(tomllib.loads(block.group(1)))
    assert len(cfg.inventory.sites) == 5
    from vigie.pipelines.correlate.engine import Engine

    assert [r.name for r in Engine.from_config(cfg).router.routes] == ["portals", "staff", "oncall"]  # correlate too
    routes = {r.route: ([(c.receiver, c.kind) for c in r.channels], r.fallback.kind) for r in route_settings(cfg)}
    assert routes == {
        "portals": ([("portals", "webhook")], "ntfy"),
        "staff": ([("staff-mail", "email"), ("staff-chat", "slack")], "ntfy"),
        "oncall": ([("oncall-mail", "email"), ("oncall-sms", "sms")], "ntfy"),
    }
