"""Delivery of notifications to people and programs, one module per channel (like Alertmanager's notify/<receiver>/).

base.py: the Channel interface; webhook, email, slack (also Mattermost, Rocket.Chat), teams, sms,
ntfy: the channels; channels.py: a channel from its `[receivers.NAME]` table; render.py: the text
in French or English; delivery.py + state.py: retries, give-up and the delivery-state table;
runner.py: the Kafka consumer of one route.
"""
