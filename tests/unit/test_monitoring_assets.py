"""The shipped Prometheus rules and Grafana dashboard: valid, and built only on metrics Vigie serves."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.metrics_doc import series_names
from tests.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "vigie-rules.yml"
RULES_TESTS = ROOT / "deploy" / "prometheus" / "vigie-rules.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "vigie.json"
_NAME = re.compile(r"\bvigie_[a-z0-9_]+\b")


def _dashboard_exprs() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in dash["templating"]["list"] if "definition" in v]
    return exprs


def _rule_exprs() -> list[str]:
    # the expressions only (annotations hold no metric names); `expr: >` blocks run to the next key
    text = RULES.read_text()
    return re.findall(r"^\s+expr: (?:>\n)?(.+?)(?=^\s+(?:for|labels):)", text, re.M | re.S)


def test_promtool_accepts_the_rules_and_their_unit_tests_pass() -> None:
    promtool = require_tool("promtool")
    checked = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run([promtool, "test", "rules", RULES_TESTS.name], cwd=RULES_TESTS.parent,
                            capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_rules_and_dashboard_use_only_metrics_vigie_serves() -> None:
    served = series_names()
    rules, panels = _rule_exprs(), _dashboard_exprs()
    assert len(rules) == RULES.read_text().count("- alert:")
    for expr in rules + panels:
        used = set(_NAME.findall(expr))
        # each expression watches Vigie; `up` is the one series Prometheus itself adds to a scrape
        assert used or 'up{job="vigie"}' in expr, expr
        assert used <= served, f"{sorted(used - served)} in {expr!r} are not in docs/metrics.md"


def test_the_dashboard_covers_what_operators_watch() -> None:
    used = {name for expr in _dashboard_exprs() for name in _NAME.findall(expr)}
    for name in ("vigie_syslog_received_total", "vigie_consumer_lag", "vigie_alerts_open", "vigie_incidents_open",
                 "vigie_notifications_failed_total", "vigie_archive_rows_written_total",
                 "vigie_archive_last_file_timestamp_seconds", "vigie_service_restarts_total"):
        assert name in used
