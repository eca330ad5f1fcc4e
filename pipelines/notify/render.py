"""The words of a notification for people, in French or English: a title, lines, the member alerts, a link.

E-mail, chat, SMS and ntfy all say the same thing; only their layout differs, so the text is built
here once from the notification value (its `alerts`, else its lone `alert`; its `incident` summary).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

REASONS = {
    "fr": {"new": "Nouveau problème", "escalated": "Escalade", "repeat": "Rappel", "resolved": "Résolu",
           "updated": "Mise à jour", "flapping": "Instable", "flapping_start": "Instable",
           "flapping_stop": "Stabilisé", "maintenance_end": "Fin de maintenance",
           "notification_failed": "Échec de notification"},
    "en": {"new": "New problem", "escalated": "Escalated", "repeat": "Reminder", "resolved": "Resolved",
           "updated": "Updated", "flapping": "Flapping", "flapping_start": "Flapping",
           "flapping_stop": "Stable again", "maintenance_end": "Maintenance over",
           "notification_failed": "Notification failed"},
}
WORDS = {
    "fr": {"site": "Site", "route": "Route", "incident": "Incident", "cause": "Cause probable",
           "alerts": "Alertes", "since": "depuis", "open": "Ouvrir dans la console", "failed": "Non remis à",
           "resolved": "résolu"},
    "en": {"site": "Site", "route": "Route", "incident": "Incident", "cause": "Probable cause",
           "alerts": "Alerts", "since": "since", "open": "Open in the console", "failed": "Not delivered to",
           "resolved": "resolved"},
}
SEVERITY_ORDER = ("critical", "major", "warning", "minor", "info", "ok")


@dataclass(frozen=True)
class Text:
    """What a person reads: title (subject line), facts lines, one line per member alert, the console link."""

    title: str
    reason: str
    severity: str
    status: str
    facts: list[tuple[str, str]]
    alert_lines: list[str]
    link: str
    language: str = "fr"

    def plain(self) -> str:
        """The whole message as plain text (e-mail body, ntfy body)."""
        out = [self.title, ""]
        sep = " : " if self.language == "fr" else ": "  # French puts a space before the colon
        out += [f"{k}{sep}{v}" for k, v in self.facts]
        if self.alert_lines:
            out += ["", *[f"- {line}" for line in self.alert_lines]]
        if self.link:
            out += ["", self.link]
        return "\n".join(out) + "\n"


def member_alerts(n: dict[str, Any]) -> list[dict[str, Any]]:
    """The message's member alerts: `alerts` (notification with a group), else the lone `alert`."""
    alerts = [a for a in n.get("alerts") or [] if isinstance(a, dict)]
    if not alerts and isinstance(n.get("alert"), dict):
        alerts = [n["alert"]]
    return alerts


def console_link(n: dict[str, Any], external_url: str) -> str:
    """The console page of the incident (or of the lone alert); "" without a console URL."""
    if not external_url:
        return ""
    base = external_url.rstrip("/")
    incident = n.get("incident") or {}
    if incident.get("id"):
        return f"{base}/incidents/{quote(str(incident['id']), safe='')}"
    alerts = member_alerts(n)
    if alerts and alerts[0].get("fingerprint"):
        return f"{base}/alerts/{quote(str(alerts[0]['fingerprint']), safe='')}"
    return base


def worst(severities: list[str]) -> str:
    known = [s for s in severities if s in SEVERITY_ORDER]
    return min(known, key=SEVERITY_ORDER.index) if known else (severities[0] if severities else "info")


def render(n: dict[str, Any], language: str = "fr", external_url: str = "") -> Text:
    """The text of one notification in `language` ("fr" or "en")."""
    lang = language if language in REASONS else "en"
    words = WORDS[lang]
    reason = str(n.get("reason") or "")
    alerts = member_alerts(n)
    incident = n.get("incident") or {}
    severity = str(incident.get("severity") or worst([str(a.get("severity", "")) for a in alerts]))
    status = "resolved" if reason == "resolved" else "firing"
    site = incident.get("site") or (alerts[0].get("site") if alerts else "") or ""
    root = incident.get("root_cause") if isinstance(incident.get("root_cause"), dict) else None
    if root:
        what = f"{root.get('host', '')} {root.get('component', '')}".strip()
    elif alerts:
        first = alerts[0]
        what = f"{first.get('host', '')}: {first.get('summary') or first.get('component', '')}"
    else:
        what = str(incident.get("id") or "")
    more = f" (+{len(alerts) - 1})" if len(alerts) > 1 else ""
    sep = " : " if lang == "fr" else ": "
    title = f"[{severity.upper()}] {REASONS[lang].get(reason, reason)}{sep}{what}{more}"
    facts = [(words["site"], str(site)), (words["route"], str(n.get("route", "")))]
    if incident.get("id"):
        facts.append((words["incident"], str(incident["id"])))
    if root:
        facts.append((words["cause"], f"{root.get('host', '')} {root.get('component', '')}".strip()))
    failure = n.get("failure") if isinstance(n.get("failure"), dict) else None
    if failure:
        facts.append((words["failed"], f"{failure.get('receiver', '')}: {failure.get('error', '')}"))
    lines = []
    for a in alerts:
        state = f" ({words['resolved']})" if a.get("status") == "resolved" else ""
        lines.append(f"{str(a.get('severity', '')).upper()} {a.get('host', '')} {a.get('component', '')}: "
                     f"{a.get('summary', '')}{state}, {words['since']} {a.get('first_seen', '')}")
    return Text(title, reason, severity, status, facts, lines, console_link(n, external_url), lang)
