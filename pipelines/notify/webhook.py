"""Webhook channel: Alertmanager's webhook payload (version 4), so that existing receivers work unchanged."""

from __future__ import annotations

from typing import Any

from vigie.pipelines.correlate.routing import alertmanager_webhook_payload
from vigie.pipelines.notify.base import HttpTarget
from vigie.pipelines.notify.render import member_alerts
from vigie.schemas.codec import dumps


def payload_for(notification: dict[str, Any], receiver: str, external_url: str = "") -> dict[str, Any]:
    """The Alertmanager webhook body for one notification (its member alerts, or its lone alert)."""
    route = str(notification.get("route") or receiver)
    body = alertmanager_webhook_payload(member_alerts(notification), receiver, external_url=external_url)
    group = notification.get("group") if isinstance(notification.get("group"), dict) else {}
    body["groupLabels"] = group.get("labels") or {"route": route}
    if group.get("key"):
        body["groupKey"] = group["key"]
    body["commonAnnotations"] = {**body["commonAnnotations"], "vigie_reason": notification.get("reason", "")}
    if notification.get("incident"):
        body["commonAnnotations"]["incident_id"] = notification["incident"].get("id", "")
    return body


class WebhookChannel:
    """POST of the Alertmanager payload as JSON, with the receiver's headers, credentials and TLS options."""

    kind = "webhook"

    def __init__(self, receiver: str, target: HttpTarget, external_url: str = "") -> None:
        self.receiver = receiver
        self.target = target
        self.external_url = external_url

    def send(self, notification: dict[str, Any]) -> None:
        body = dumps(payload_for(notification, self.receiver, self.external_url))
        self.target.send(body, "application/json")
