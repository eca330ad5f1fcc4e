"""topic_partitions: a reader must not start on the empty partition list of a topic created a moment ago."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from vigie.kafka_client import topic_partitions


class FakeConsumer:
    """Answers list_topics from a script: each call takes the next answer (the last one repeats)."""

    def __init__(self, answers: list[dict | None]) -> None:
        self.answers = answers
        self.calls = 0

    def list_topics(self, topic: str, timeout: float) -> SimpleNamespace:
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        topics = {} if answer is None else {topic: SimpleNamespace(**answer)}
        return SimpleNamespace(topics=topics)


def test_waits_while_a_new_topic_lists_no_partitions():
    c = FakeConsumer([None, {"error": "LEADER_NOT_AVAILABLE", "partitions": {}}, {"error": None, "partitions": {}},
                      {"error": None, "partitions": {2: None, 0: None, 1: None}}])
    assert topic_partitions(c, "pipeline.hosts", timeout=5) == [0, 1, 2]
    assert c.calls == 4


def test_gives_up_naming_the_topic_and_why():
    c = FakeConsumer([{"error": None, "partitions": {}}])
    with pytest.raises(TimeoutError, match="pipeline.hosts: metadata not available after 0.3 s \\(no partitions\\)"):
        topic_partitions(c, "pipeline.hosts", timeout=0.3)
