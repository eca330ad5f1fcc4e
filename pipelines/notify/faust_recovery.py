"""The end of a Faust worker's table recovery, in an order that loses no record (faust-streaming 0.15.3, aiokafka 0.14).

Why: after a SIGKILL, a restarted notifier sometimes consumed nothing more once "Worker ready" (4 starts in
11 runs of the delivery test). Measured with a SIGKILL loop and the fetches, seeks and pauses logged, the
records of the notifications partition had been fetched (the consumer's position at the end of the
partition) and thrown away by Faust before any agent saw them, in two ways:

1. faust's Recovery.on_recovery_completed resumes the stream partitions, then seeks them to their committed
   offsets (an await, during which the fetcher runs), then calls flow_control.resume(), which empties every
   stream's buffer: records fetched in that window were emptied with the position already past them.
2. The fetcher hands aiokafka the consumer's own set of active partitions; the recovery empties that set
   while the fetch waits, aiokafka then returns the records of every partition (an empty set means "all"),
   and Faust drops those of partitions not active, again with the position past them.

Either way, a seek back to the committed offset would have fetched them again, but aiokafka's
seek_to_committed seeks only to a committed offset above 0, and a group killed before its first commit
(2.8 s) has none: those starts stalled (9 starts in 88 in the loop).

Here the fetch is handed a copy of the active partitions (an emptied set can no longer mean "all"), and, once
the tables are recovered and while the stream partitions are still paused, every stream partition
is explicitly sought to its committed offset (0 included); one the group never committed is sought to where
`consumer_auto_offset_reset` says and that position is committed at once (so that a worker killed before its
first commit does not restart, with "latest", past the messages it was handling). The buffers are then
emptied, and only then are the stream partitions resumed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata
from faust.tables import TableManager
from faust.tables.recovery import Recovery
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP


class SnapshotConsumer(aiokafka_driver.Consumer):
    """Faust's aiokafka consumer, handing each fetch a copy of the active partitions (2. above)."""

    async def _getmany(self, active_partitions: set[TP] | None, timeout: float) -> Any:
        if active_partitions is None:
            return await super()._getmany(None, timeout)
        wanted = set(active_partitions)
        return await super()._getmany(wanted, timeout) if wanted else {}


class OrderedApp(faust.App):
    """A faust App whose consumer is a SnapshotConsumer (pass TableManager=OrderedTableManager too)."""

    def _new_consumer(self) -> Any:
        self.transport.Consumer = SnapshotConsumer
        return super()._new_consumer()


class OrderedRecovery(Recovery):
    """Recovery whose completion seeks the streams explicitly, empties the buffers, then resumes the streams."""

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        """faust 0.15.3's method with the explicit seek and the stream partitions resumed last."""
        app: Any = self.app
        consumer: Any = app.consumer
        self.log.info("Restore complete!")
        await app.on_rebalance_complete.send()
        self._set_recovery_ended()
        callbacks = [asyncio.ensure_future(table.on_recovery_completed(self.actives_for_table[table],
                                                                       self.standbys_for_table[table]))
                     for table in self.tables.values()]
        if callbacks:
            await asyncio.wait(callbacks)
        assignment = consumer.assignment()
        if app.consumer_generation_id != generation_id:
            self.log.warning("Recovery rebalancing again app id %s param %s", app.consumer_generation_id, generation_id)
            return
        streams = {tp for tp in assignment if not self._is_changelog_tp(tp)}
        if streams:
            self.log.info("Seek stream partitions to committed offsets.")
            thread, starts = consumer._thread, {}

            async def seek() -> None:
                starts.update(await thread.call_thread(seek_streams, thread._ensure_consumer(), streams,
                                                       app.conf.consumer_auto_offset_reset))

            await self._wait(seek(), timeout=app.conf.broker_request_timeout)  # RebalanceAgain if one starts
            for tp, offset in starts.items():
                consumer._read_offset[tp] = offset
                consumer._committed_offset[tp] = offset or None
        self.completed.set()
        app.flow_control.resume()  # empties the streams' buffers: none of their records can be there yet
        consumer.resume_flow()
        consumer.resume_partitions(streams)
        await app._fetcher.maybe_start()
        self.tables.on_actives_ready()
        if not app.assignor.assigned_standbys():
            self.tables.on_standbys_ready()
        app.on_rebalance_end()
        ready = getattr(app, "worker_ready", None)
        if ready is not None:
            ready.set()
        self.log.info("Worker ready")


async def seek_streams(aio: Any, streams: set[TP], reset: str) -> dict[TP, int]:
    """In the consumer's thread: seek each stream partition to its committed offset, or, never committed, to
    the reset position, which is committed now; returns where each starts."""
    tps = [TopicPartition(tp.topic, tp.partition) for tp in sorted(streams)]
    starts = {tp: await aio.committed(tp) for tp in tps}
    missing = [tp for tp, offset in starts.items() if offset is None]
    if missing:
        starts.update(await (aio.beginning_offsets if reset == "earliest" else aio.end_offsets)(missing))
        await aio.commit({tp: OffsetAndMetadata(starts[tp], "") for tp in missing})
    for tp, offset in starts.items():
        aio.seek(tp, offset)
    return {TP(tp.topic, tp.partition): offset for tp, offset in starts.items()}


class OrderedTableManager(TableManager):
    """The app's table manager, with OrderedRecovery (faust's `TableManager` setting)."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = OrderedRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery
