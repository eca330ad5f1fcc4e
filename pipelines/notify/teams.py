"""Microsoft Teams through a Workflows ("When a Teams webhook request is received") webhook.

The body is the documented envelope: {"type": "message", "attachments": [{"contentType":
"application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": <Adaptive Card>}]}, the
card at version 1.4 (what Teams renders), with a FactSet and an Action.OpenUrl to the console.
"""

from __future__ import annotations

import json
from typing import Any

from vigie.pipelines.notify.base import HttpTarget
from vigie.pipelines.notify.render import render

CARD_TYPE = "application/vnd.microsoft.card.adaptive"


def teams_payload(notification: dict[str, Any], language: str, external_url: str) -> dict[str, Any]:
    text = render(notification, language, external_url)
    colour = "Good" if text.status == "resolved" else ("Attention" if text.severity in ("critical", "major") else "Warning")
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": text.title, "weight": "Bolder", "size": "Medium", "wrap": True, "color": colour},
        {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in text.facts]},
    ]
    body += [{"type": "TextBlock", "text": line, "wrap": True, "spacing": "Small"} for line in text.alert_lines]
    card: dict[str, Any] = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
                            "version": "1.4", "body": body}
    if text.link:
        label = "Ouvrir dans la console" if text.language == "fr" else "Open in the console"
        card["actions"] = [{"type": "Action.OpenUrl", "title": label, "url": text.link}]
    return {"type": "message", "attachments": [{"contentType": CARD_TYPE, "contentUrl": None, "content": card}]}


class TeamsChannel:
    kind = "teams"

    def __init__(self, receiver: str, target: HttpTarget, language: str = "fr", external_url: str = "") -> None:
        self.receiver, self.target, self.language, self.external_url = receiver, target, language, external_url

    def send(self, notification: dict[str, Any]) -> None:
        body = teams_payload(notification, self.language, self.external_url)
        self.target.send(json.dumps(body, ensure_ascii=False).encode(), "application/json")
