"""The channel of each receiver type, built from its `[receivers.NAME]` table (secrets read here, once)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vigie.config import secret
from vigie.pipelines.notify.base import Channel, HttpTarget, tls_context
from vigie.pipelines.notify.email import EmailChannel
from vigie.pipelines.notify.ntfy import NtfyChannel
from vigie.pipelines.notify.slack import SlackChannel
from vigie.pipelines.notify.sms import SmsChannel
from vigie.pipelines.notify.teams import TeamsChannel
from vigie.pipelines.notify.webhook import WebhookChannel

if TYPE_CHECKING:
    from vigie.config import Config, ReceiverConfig
    from vigie.pipelines.notify.runner import RouteSettings


def make_channel(name: str, rc: ReceiverConfig, external_url: str = "") -> Channel:
    """The channel for one receiver; raises ConfigError when a secret it names is not set."""
    if rc.type == "email":
        host, port = rc.smarthost or ("localhost", 25)
        password = secret(rc.password_env, f"receivers.{name}.password_env") if rc.username else None
        return EmailChannel(name, host, port, rc.sender or "", rc.to, tls=rc.tls, username=rc.username,
                            password=password, context=tls_context(rc.ca_file, rc.insecure_skip_verify),
                            timeout=rc.timeout, language=rc.language, external_url=external_url, with_html=rc.html)
    target = HttpTarget.from_config(name, rc)
    if rc.type == "slack":
        return SlackChannel(name, target, rc.language, external_url, rc.channel)
    if rc.type == "teams":
        return TeamsChannel(name, target, rc.language, external_url)
    if rc.type == "ntfy":
        return NtfyChannel(name, target, rc.language, external_url, rc.priority, rc.tags)
    if rc.type == "sms":
        return SmsChannel(name, target, rc.to, rc.body, rc.method, rc.content_type, rc.language)
    return WebhookChannel(name, target, external_url)


def route_channels(cfg: Config, route_name: str) -> tuple[list[Channel], Channel | None]:
    """A route's channels (its `webhook` shorthand first, named after the route) and its fallback."""
    from vigie.config import ReceiverConfig

    route = next(r for r in cfg.routes if r.name == route_name)
    url = cfg.notify.external_url
    out: list[Channel] = []
    if route.webhook:
        out.append(make_channel(route.name, ReceiverConfig(type="webhook", url=route.webhook), url))
    out += [make_channel(n, cfg.receivers[n], url) for n in route.receivers]
    fallback = make_channel(route.fallback, cfg.receivers[route.fallback], url) if route.fallback else None
    return out, fallback


def route_settings(cfg: Config) -> list[RouteSettings]:
    """The settings of every route that has a receiver, with the [notify] retry policy and the state file."""
    from pathlib import Path

    from vigie.pipelines.notify.delivery import RetryPolicy
    from vigie.pipelines.notify.runner import RouteSettings

    n = cfg.notify
    policy = RetryPolicy(n.min_backoff, n.max_backoff, n.give_up_after)
    state_path = str(Path(cfg.state_dir) / "notify" / "delivery.sqlite")
    out = []
    for route in cfg.routes:
        if route.webhook or route.receivers:
            channels, fallback = route_channels(cfg, route.name)
            out.append(RouteSettings(route.name, channels, fallback, policy, state_path, n.state_retention))
    return out
