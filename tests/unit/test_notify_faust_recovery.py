"""The Faust notifier's end of recovery (pipelines/notify/faust_recovery.py): where each stream partition starts,
without a broker; and an alarm when the faust or aiokafka code it corrects changes under it."""

from __future__ import annotations

import asyncio
import hashlib
import inspect

from aiokafka import TopicPartition
from aiokafka.consumer.consumer import AIOKafkaConsumer
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer
from faust.types import TP

from vigie.pipelines.notify.faust_recovery import seek_streams


class FakeAio:
    """The part of an AIOKafkaConsumer seek_streams uses: committed offsets, reset positions, commits, seeks."""

    def __init__(self, committed: dict[int, int | None], begin: int = 0, end: int = 90) -> None:
        self.committed_offsets, self.begin, self.end = committed, begin, end
        self.commits: list[dict] = []
        self.seeks: dict[int, int] = {}

    async def committed(self, tp: TopicPartition) -> int | None:
        return self.committed_offsets[tp.partition]

    async def beginning_offsets(self, tps: list[TopicPartition]) -> dict:
        return {tp: self.begin for tp in tps}

    async def end_offsets(self, tps: list[TopicPartition]) -> dict:
        return {tp: self.end for tp in tps}

    async def commit(self, offsets: dict) -> None:
        self.commits.append({tp.partition: o.offset for tp, o in offsets.items()})

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks[tp.partition] = offset


STREAMS = {TP("notifications", 0), TP("notifications", 1), TP("notifications", 2)}


def test_every_stream_partition_is_sought_to_its_commit_even_offset_0() -> None:
    aio = FakeAio({0: 0, 1: 17, 2: 0})
    starts = asyncio.run(seek_streams(aio, STREAMS, "latest"))
    assert aio.seeks == {0: 0, 1: 17, 2: 0}  # aiokafka's seek_to_committed skips 0: fetched records stayed lost
    assert starts == {TP("notifications", 0): 0, TP("notifications", 1): 17, TP("notifications", 2): 0}
    assert aio.commits == []


def test_a_partition_never_committed_starts_at_the_reset_position_committed_at_once() -> None:
    latest = FakeAio({0: None, 1: 5, 2: None})
    asyncio.run(seek_streams(latest, STREAMS, "latest"))
    assert latest.seeks == {0: 90, 1: 5, 2: 90} and latest.commits == [{0: 90, 2: 90}]
    earliest = FakeAio({0: None, 1: None, 2: None}, begin=3)
    asyncio.run(seek_streams(earliest, STREAMS, "earliest"))
    assert earliest.seeks == {0: 3, 1: 3, 2: 3} and earliest.commits == [{0: 3, 1: 3, 2: 3}]


def test_the_corrected_library_code_is_the_one_the_fix_was_written_against() -> None:
    """faust-streaming 0.15.3 and aiokafka 0.14: if one of these changes, re-read faust_recovery.py against it
    (OrderedRecovery copies the first, SnapshotConsumer works around the second, seek_streams the third)."""
    def digest(function: object) -> str:
        return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]

    assert digest(Recovery.on_recovery_completed) == "6ef567acf072e46d"
    assert digest(Consumer._wait_next_records) == "6218e1969a636b3f"
    assert digest(AIOKafkaConsumer.seek_to_committed) == "f6cd85c8b70a4ccf"
