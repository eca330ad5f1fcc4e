"""The notifier as a Faust app (`vigie service notify`): one agent over the notifications topic in one
consumer group (`<prefix>notify`), the delivery state in a changelog-backed Table.

Notifications are few and each is stateful (which receivers have it, since when it fails): what
Faust's agents and Tables are for. The Table `delivery` maps "<message id>|<receiver>" to the row
of state.py; its changelog topic is compacted and co-partitioned with the notifications topic, so a
restarted or moved worker recovers it before the agent resumes, and a message re-read after a crash
skips the receivers that have it. The sending itself (urllib, smtplib: blocking) runs in a thread per
message with the same deliver() as the thread notifier; each change of a row is handed back to the
event loop at once and written to the Table there, inside the stream's iteration (Faust's rule).
Faust's web server is off: nothing listens (web_enabled=False, which the programmatic Worker obeys).
The app is faust_recovery's OrderedApp with its OrderedTableManager: faust-streaming 0.15.3's own end of
recovery threw fetched records away, and a restarted worker then waited for them forever. Rows older than
[notify] state_retention are tombstoned by a timer, so that the Table does not grow without end.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import faust

from vigie.kafka_client import KafkaSettings, make_consumer, topic_partitions
from vigie.pipelines.notify.faust_recovery import OrderedApp, OrderedTableManager
from vigie.pipelines.notify.runner import (
    STATE_RETENTION,
    DeadLetters,
    Reporter,
    RouteSettings,
    deliver_message,
    expiry_interval,
    message_id,
    state_keys,
)
from vigie.pipelines.notify.state import PENDING, MemoryRows, Row, expired, row_of, stored_row
from vigie.schemas.codec import loads
from vigie.topics import NOTIFICATIONS

if TYPE_CHECKING:
    from vigie.stage_metrics import NotifyMetrics

log = logging.getLogger("vigie.notify")
TABLE = "delivery"


def table_key(key: tuple[str, str]) -> str:
    return f"{key[0]}|{key[1]}"


def _credentials(kafka: KafkaSettings) -> Any:
    """Faust's form of the [kafka] security settings (None: PLAINTEXT)."""
    if kafka.security_protocol == "PLAINTEXT":
        return None
    context = ssl.create_default_context(cafile=kafka.ssl_cafile) if "SSL" in kafka.security_protocol else None
    if kafka.security_protocol == "SSL":
        return faust.SSLCredentials(context)
    return faust.SASLCredentials(username=kafka.sasl_username, password=kafka.sasl_password,
                                 mechanism=kafka.sasl_mechanism or "PLAIN", ssl_context=context)


def partitions_of(kafka: KafkaSettings) -> int:
    """The notifications topic's partition count: the Table's changelog must have as many."""
    consumer = make_consumer(kafka, f"{kafka.topic_prefix}notify-metadata")
    try:
        return len(topic_partitions(consumer, kafka.topic(NOTIFICATIONS)))
    finally:
        consumer.close()


def make_app(kafka: KafkaSettings, routes: list[RouteSettings], datadir: str | Path, letters: DeadLetters, *,
             from_beginning: bool = False, metrics: NotifyMetrics | None = None,
             session_timeout: float = 10.0, ready: threading.Event | None = None) -> faust.App:
    """The notifier app; a route's first start reads from the topic's end unless from_beginning; `ready` is set
    each time the worker has its partitions and its Table recovered ("Worker ready")."""
    partitions = partitions_of(kafka)
    app = OrderedApp(
        f"{kafka.topic_prefix}notify",
        broker=f"kafka://{kafka.bootstrap_servers}",
        broker_credentials=_credentials(kafka),
        store="memory://",  # the changelog is the durable copy; recovery reads it back at start
        web_enabled=False,
        datadir=str(datadir),
        topic_partitions=partitions,
        topic_replication_factor=kafka.replication_factor,
        consumer_auto_offset_reset="earliest" if from_beginning else "latest",
        broker_session_timeout=session_timeout,
        broker_heartbeat_interval=max(0.5, session_timeout / 6),
        broker_rebalance_timeout=session_timeout,
        TableManager=OrderedTableManager,  # faust's own loses fetched records at the end of a recovery
    )
    app.worker_ready = ready  # set by OrderedRecovery
    source = app.topic(kafka.topic(NOTIFICATIONS), key_serializer="raw", value_serializer="raw")
    table = app.Table(TABLE, default=None, partitions=partitions, key_type=str)  # values: the rows as JSON objects
    by_route = {r.route: r for r in routes}
    if metrics is not None:
        for r in routes:
            metrics.prepare(r.route, [(c.receiver, c.kind) for c in r.channels])

    @app.agent(source)
    async def notify(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            raw = event.value or b""
            origin = {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset}
            try:
                value = loads(raw)
            except ValueError as exc:
                letters.writer("notify", raw, origin)(f"undecodable notification: {exc}")
                continue
            settings = by_route.get(value.get("route")) if isinstance(value, dict) else None
            if settings is None:
                continue
            mid = message_id(value, msg.topic, msg.partition, msg.offset)
            dead = letters.writer(settings.route, raw, origin)
            await _deliver(table, msg.partition, mid, value, settings, Reporter(settings.route, metrics, dead))

    retention = min((r.state_retention for r in routes), default=STATE_RETENTION)

    @app.timer(expiry_interval(retention))
    async def expire() -> None:
        """Tombstone the rows older than the retention in their changelog partition (outside the stream, hence
        by hand: a Table deletes only from inside an event) and drop them from the store."""
        if app.rebalancing:
            return
        gone = expired(list(table.data.items()), time.time() - retention)
        for key, partition in gone:
            table.send_changelog(partition, key, None, value_serializer="raw")
            table.data.pop(key, None)
        if gone:
            log.info("delivery state: %d rows older than %.0f s expired", len(gone), retention)

    return app


async def _deliver(table: Any, partition: int, mid: str, value: dict[str, Any], settings: RouteSettings,
                   reporter: Reporter) -> None:
    """deliver_message() in a thread; the rows it changes are written to the Table here, as they change.

    A row that says a receiver has the message (or was given up) holds the thread until its changelog
    record (in the partition of the message, where recovery looks for it) is acknowledged by the broker (measured: without it, a SIGKILL 20 ms after a receiver's
    answer lost the row and the restarted notifier sent the message to it again).
    """
    loop = asyncio.get_running_loop()
    changes: asyncio.Queue[tuple[tuple[str, str], Row, threading.Event | None]] = asyncio.Queue()
    rows = {}
    for key in state_keys(mid, settings):
        stored = table.get(table_key(key))
        if stored is not None:
            rows[key] = row_of(stored)
    stop = threading.Event()

    def on_write(key: tuple[str, str], row: Row) -> None:
        durable = threading.Event() if row.status != PENDING else None
        loop.call_soon_threadsafe(changes.put_nowait, (key, row, durable))
        while durable is not None and not durable.wait(0.5) and not stop.is_set():
            pass

    store = MemoryRows(rows, on_write=on_write)
    done: asyncio.Future[bool] = loop.create_future()

    def work() -> None:
        try:
            result = deliver_message(mid, value, settings, store, stop, reporter)
        except BaseException as exc:  # handed to the agent, which logs it and goes on (Faust's rule)
            loop.call_soon_threadsafe(done.set_exception, exc)
            return
        loop.call_soon_threadsafe(done.set_result, result)

    async def write(key: tuple[str, str], row: Row, durable: threading.Event | None) -> None:
        stored = stored_row(row, partition, time.time())
        table[table_key(key)] = stored
        if durable is not None:  # the same record once more, sent directly: its future is the broker's ack
            sent = await table.changelog_topic.send(key=table_key(key), value=stored, partition=partition)
            await sent
            durable.set()

    threading.Thread(target=work, name=f"notify-{settings.route}", daemon=True).start()
    try:
        while True:
            getter = asyncio.ensure_future(changes.get())
            await asyncio.wait({done, getter}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                break
            await write(*getter.result())
        while not changes.empty():
            await write(*changes.get_nowait())
        await done
    except asyncio.CancelledError:
        stop.set()  # the worker stops: the message is not acked, the next start reads it again
        raise


def run(kafka: KafkaSettings, routes: list[RouteSettings], datadir: str | Path, *, from_beginning: bool = False,
        metrics: NotifyMetrics | None = None, log_level: str = "warn", session_timeout: float = 10.0,
        ready: threading.Event | None = None) -> int:
    """Run the app as a Faust worker until SIGTERM/SIGINT; returns the exit code."""
    Path(datadir).mkdir(parents=True, exist_ok=True)
    letters = DeadLetters(kafka)
    app = make_app(kafka, routes, datadir, letters, from_beginning=from_beginning, metrics=metrics,
                   session_timeout=session_timeout, ready=ready)
    worker = faust.Worker(app, loglevel=log_level, quiet=True, override_logging=False)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        letters.close()
    return 0
