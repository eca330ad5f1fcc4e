"""Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat): POST application/json with `text`.

`text` is required by all three and is what notifications and old clients show; one legacy
`attachments` entry (colour bar, title, title_link, text, fallback) carries the details, which all
three render (Slack's `blocks` are not understood by Mattermost).
"""

from __future__ import annotations

import json
from typing import Any

from vigie.pipelines.notify.base import HttpTarget
from vigie.pipelines.notify.render import render

COLOURS = {"critical": "#d00000", "major": "#e8590c", "warning": "#f59f00", "minor": "#f59f00",
           "info": "#1c7ed6", "resolved": "#2b8a3e"}


def slack_payload(notification: dict[str, Any], language: str, external_url: str,
                  channel: str | None = None) -> dict[str, Any]:
    text = render(notification, language, external_url)
    sep = " : " if text.language == "fr" else ": "
    details = "\n".join([*(f"*{k}*{sep}{v}" for k, v in text.facts), *(f"• {line}" for line in text.alert_lines)])
    attachment: dict[str, Any] = {
        "fallback": text.title,
        "color": COLOURS["resolved"] if text.status == "resolved" else COLOURS.get(text.severity, "#868e96"),
        "title": text.title,
        "text": details,
    }
    if text.link:
        attachment["title_link"] = text.link
    body: dict[str, Any] = {"text": text.title, "attachments": [attachment]}
    if channel:
        body["channel"] = channel
    return body


class SlackChannel:
    kind = "slack"

    def __init__(self, receiver: str, target: HttpTarget, language: str = "fr", external_url: str = "",
                 channel: str | None = None) -> None:
        self.receiver, self.target, self.language = receiver, target, language
        self.external_url, self.channel = external_url, channel

    def send(self, notification: dict[str, Any]) -> None:
        body = slack_payload(notification, self.language, self.external_url, self.channel)
        self.target.send(json.dumps(body, ensure_ascii=False).encode(), "application/json")
