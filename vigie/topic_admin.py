"""Creates the architecture's topics idempotently and reports, by name and setting, any that drifted."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from vigie.kafka_client import KafkaSettings, make_admin
from vigie.topics import TopicSpec


@dataclass(frozen=True)
class Drift:
    """One setting of an existing topic that differs from its declaration."""

    topic: str
    setting: str
    found: str
    expected: str

    def __str__(self) -> str:
        return f"topic {self.topic}: {self.setting} is {self.found}, expected {self.expected}"


class TopicDriftError(RuntimeError):
    """Existing topics do not match their declaration; Vigie never accepts that silently."""

    def __init__(self, drifts: list[Drift]) -> None:
        self.drifts = drifts
        super().__init__("; ".join(str(d) for d in drifts))


def ensure_topics(settings: KafkaSettings, specs: list[TopicSpec], timeout: float = 30.0,
                  admin: AdminClient | None = None) -> list[str]:
    """Create missing topics, check existing ones; returns the names created, raises TopicDriftError on drift."""
    admin = admin or make_admin(settings)
    existing = admin.list_topics(timeout=timeout).topics
    wanted = {settings.topic(s.name): s for s in specs}
    missing = [
        NewTopic(name, num_partitions=s.partitions, replication_factor=settings.replication_factor, config=s.configs())
        for name, s in wanted.items()
        if name not in existing
    ]
    created: list[str] = []
    if missing:
        for name, fut in admin.create_topics(missing, operation_timeout=timeout, request_timeout=timeout).items():
            try:
                fut.result()
                created.append(name)
            except KafkaException as exc:
                if exc.args[0].code() != 36:  # TOPIC_ALREADY_EXISTS: a concurrent creator won the race
                    raise
    present = {n: s for n, s in wanted.items() if n in existing}
    drifts = check_topics(admin, present, existing, timeout)
    if drifts:
        raise TopicDriftError(drifts)
    return created


def check_topics(admin: AdminClient, present: dict[str, TopicSpec], metadata: dict, timeout: float) -> list[Drift]:
    """Compare partitions and owned configs of existing topics with their specs."""
    drifts: list[Drift] = []
    if not present:
        return drifts
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in present]
    described = admin.describe_configs(resources, request_timeout=timeout)
    for resource, fut in described.items():
        name = resource.name
        spec = present[name]
        parts = len(metadata[name].partitions)
        if parts != spec.partitions:
            drifts.append(Drift(name, "partitions", str(parts), str(spec.partitions)))
        configs = fut.result()
        for key, expected in spec.configs().items():
            found = configs[key].value if key in configs else None
            if found != expected:
                drifts.append(Drift(name, key, str(found), expected))
    return drifts
