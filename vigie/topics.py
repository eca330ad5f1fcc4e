"""The topics of the architecture: logical names, partitions, retention and cleanup policy."""

from __future__ import annotations

from dataclasses import dataclass, field

RAW_SYSLOG = "raw.syslog"
RAW_TRAPS = "raw.traps"
RAW_CHECKS = "raw.checks"
EVENTS = "events"
ALERTS = "alerts"
INCIDENTS = "incidents"
NOTIFICATIONS = "notifications"
CONTROL = "control"
DEADLETTER = "deadletter"
ARCHIVE_HEADS = "archive.heads"  # the archive's manifest chain head, published at each file (a copy outside the host)
AUDIT = "audit"  # who queried the archive, when, what, how many rows
ACTIONS = "actions"  # every step of the guarded automatic actions (action/1), keyed by action name

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    """How one topic is declared: Vigie creates it so, and reports any drift from it."""

    name: str
    partitions: int
    cleanup_policy: str  # "delete" or "compact"
    retention_ms: int | None = None  # None: Kafka default / not applicable to compacted topics
    extra: dict[str, str] = field(default_factory=dict)

    def configs(self) -> dict[str, str]:
        """The topic-level settings Vigie owns (and checks on existing topics)."""
        out = {"cleanup.policy": self.cleanup_policy}
        if self.retention_ms is not None:
            out["retention.ms"] = str(self.retention_ms)
        out.update(self.extra)
        return out


def default_specs(partitions: int = 3, raw_retention_days: int = 7) -> list[TopicSpec]:
    """The topic set of the architecture, sized for one machine by default."""
    raw = raw_retention_days * DAY_MS
    return [
        TopicSpec(RAW_SYSLOG, partitions, "delete", raw),
        TopicSpec(RAW_TRAPS, partitions, "delete", raw),
        TopicSpec(RAW_CHECKS, partitions, "delete", raw),
        TopicSpec(EVENTS, partitions, "delete", 3 * DAY_MS),
        TopicSpec(ALERTS, partitions, "compact", None, {"min.compaction.lag.ms": "60000"}),
        TopicSpec(INCIDENTS, partitions, "compact", None, {"min.compaction.lag.ms": "60000"}),
        TopicSpec(NOTIFICATIONS, partitions, "delete", 30 * DAY_MS),
        TopicSpec(CONTROL, 1, "compact", None),
        TopicSpec(DEADLETTER, partitions, "delete", 30 * DAY_MS),
        # One partition: the heads in publication order. Compacted on a key unique per head (archive
        # root and seq), so nothing is ever deleted by age and the whole history stays readable.
        TopicSpec(ARCHIVE_HEADS, 1, "compact", None),
        # Accesses to connection data stay traceable for longer than the data itself (1 year): 2 years.
        TopicSpec(AUDIT, 1, "delete", 2 * 365 * DAY_MS),
        # One partition: an action's steps in order, read back whole by the actions service at start (its state
        # is their fold). Deleted by age, not compacted: max_runs counts the runs of the last period, and the
        # trace of who cancelled what is kept for a year.
        TopicSpec(ACTIONS, 1, "delete", 365 * DAY_MS),
    ]


def full_name(prefix: str, logical: str) -> str:
    """The broker-side name of a logical topic (prefix default `vigie.`)."""
    return f"{prefix}{logical}"
