"""ntfy push: POST the message as the body to <server>/<topic>, with Title, Priority, Tags and Click headers.

As ntfy documents: Priority 1-5 (or min, low, default, high, max/urgent), Tags comma-separated
(emoji short codes show as emojis), Click the URL opened on tap. HTTP headers are Latin-1, so a
non-ASCII title (French accents) is sent RFC 2047-encoded (=?UTF-8?B?...?=), which ntfy decodes.
"""

from __future__ import annotations

import base64
from typing import Any

from vigie.pipelines.notify.base import HttpTarget
from vigie.pipelines.notify.render import render

PRIORITY_OF_SEVERITY = {"critical": "high", "major": "high", "warning": "default", "minor": "default", "info": "low"}
TAG_OF_SEVERITY = {"critical": "rotating_light", "major": "warning", "warning": "warning", "minor": "warning",
                   "info": "information_source"}


def header_text(value: str) -> str:
    """A header value as is when ASCII, else RFC 2047 base64-encoded UTF-8."""
    if value.isascii():
        return value
    return "=?UTF-8?B?" + base64.b64encode(value.encode()).decode() + "?="


def ntfy_request(notification: dict[str, Any], language: str, external_url: str, priority: str,
                 tags: list[str]) -> tuple[bytes, dict[str, str]]:
    """(body, headers) of the ntfy publish request."""
    text = render(notification, language, external_url)
    if priority == "auto":
        priority = "default" if text.status == "resolved" else PRIORITY_OF_SEVERITY.get(text.severity, "default")
    severity_tag = "white_check_mark" if text.status == "resolved" else TAG_OF_SEVERITY.get(text.severity, "bell")
    headers = {"Title": header_text(text.title), "Priority": priority,
               "Tags": ",".join([*tags, severity_tag])}
    if text.link:
        headers["Click"] = text.link
    body = "\n".join([*(f"{k}: {v}" for k, v in text.facts), *text.alert_lines])
    return body.encode(), headers


class NtfyChannel:
    kind = "ntfy"

    def __init__(self, receiver: str, target: HttpTarget, language: str = "fr", external_url: str = "",
                 priority: str = "auto", tags: list[str] | None = None) -> None:
        self.receiver, self.target, self.language, self.external_url = receiver, target, language, external_url
        self.priority, self.tags = priority, list(tags or [])

    def send(self, notification: dict[str, Any]) -> None:
        body, headers = ntfy_request(notification, self.language, self.external_url, self.priority, self.tags)
        self.target.send(body, "text/plain; charset=utf-8", headers=headers)
