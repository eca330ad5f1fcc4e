"""`vigie service pipelines|archive|notify|console|actions`: one service in its own process, the one entry `vigie up`, tests and benches use.

`vigie up` starts each child as `python -m vigie.app.cli service NAME --config FILE --bootstrap ADDR
--instance N` (services.subprocess_service); the options after those tune a child for tests and benches.
SIGTERM or SIGINT stops a child cleanly (pipelines: final snapshot, offsets committed, group left;
archive: files flushed and committed).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vigie.config import Config
    from vigie.kafka_client import KafkaSettings

log = logging.getLogger("vigie.service")

READY_FD_ENV = "VIGIE_READY_FD"  # the write end of the pipe on which `vigie up` waits for "ready" (services.py)


def _announce_ready(joined: list[threading.Event], stop: threading.Event) -> None:
    """Write "ready" on $VIGIE_READY_FD once every consumer has joined its group; nothing when not run by `vigie up`."""
    fd_text = os.environ.pop(READY_FD_ENV, None)
    if not fd_text:
        return
    fd = int(fd_text)

    def wait() -> None:
        try:
            for event in joined:
                while not event.wait(0.5):
                    if stop.is_set():
                        return
            os.write(fd, b"ready\n")
            log.info("joined the consumer group: ready")
        finally:
            os.close(fd)

    threading.Thread(target=wait, name="ready-announcer", daemon=True).start()


def _stop_with_parent(stop: threading.Event, poll: float = 1.0) -> None:
    """A child of `vigie up` stops when `vigie up` is gone (SIGKILLed, or killed with its terminal): a worker
    left behind would keep consuming beside the next `vigie up`'s. The children run in their own session, so
    no signal reaches them; the parent's pid is polled (an orphan is re-parented)."""
    parent = os.getppid()

    def watch() -> None:
        while not stop.wait(poll):
            if os.getppid() != parent:
                log.warning("vigie up (pid %d) is gone: stopping", parent)
                stop.set()
                return

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def add_arguments(sub: Any, with_config: Any) -> None:
    """Register `vigie service` on the main parser."""
    service = with_config(sub.add_parser("service", help="(internal) one service in its own process, as vigie up runs it"))
    service.add_argument("name", choices=["archive", "pipelines", "notify", "console", "actions"])
    service.add_argument("--bootstrap", help="Kafka bootstrap servers (default: [kafka] bootstrap_servers)")
    service.add_argument("--instance", type=int, default=0, help="which of several instances (logs, ids)")
    service.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="default: INFO (-v: DEBUG)")
    pipelines = service.add_argument_group("pipelines")
    pipelines.add_argument("--stages", default="normalize,correlate", help="comma-separated: normalize, correlate")
    pipelines.add_argument("--batch", type=int, default=2000, help="records per batch")
    pipelines.add_argument("--tick", type=float, default=1.0, help="seconds between correlate ticks")
    pipelines.add_argument("--snapshot-interval", type=float, default=2.0, help="seconds between state snapshots")
    archive = service.add_argument_group("archive")
    archive.add_argument("--group", default="vigie-archive", help="the sink's consumer group")
    archive.add_argument("--dynamic-membership", action="store_true",
                         help="join without a static instance id (a stalled member's partitions move at once)")
    archive.add_argument("--batch-size", type=int, default=None, help="messages per consume() call")
    archive.add_argument("--session-timeout", type=float, default=None,
                         help="seconds without heartbeat before the group gives this member's partitions to another "
                              "(archive; notify --engine faust too, default 10)")
    notify = service.add_argument_group("notify")
    notify.add_argument("--engine", choices=["faust", "threads"],
                        help="faust: one agent and a changelog-backed Table; threads: one consumer per route, SQLite "
                             "delivery state (default: [notify] engine, itself faust by default; docs/notify.md)")
    notify.add_argument("--from-beginning", action="store_true",
                        help="a route's first start reads the topic's history too (default: from its end)")
    service.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vigie.broker_auth import SERVICE_PRINCIPALS
    from vigie.config import kafka_settings, load
    from vigie.kafka_client import require_broker

    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):  # first: a stop asked while starting is a clean stop too
        signal.signal(sig, on_signal)
    if READY_FD_ENV in os.environ:  # run by `vigie up`, which passes the ready pipe
        _stop_with_parent(stop)
    if args.log_level:
        logging.getLogger().setLevel(args.log_level)
    cfg = load(args.config)
    bootstrap = args.bootstrap or cfg.kafka.bootstrap_servers
    if not bootstrap:
        print("vigie service: no Kafka bootstrap servers (--bootstrap or [kafka] bootstrap_servers)", file=sys.stderr)
        return 2
    settings = kafka_settings(cfg, bootstrap, SERVICE_PRINCIPALS[args.name])  # run by `vigie up`: its user
    require_broker(settings)  # one line when it is down, not minutes of reconnect attempts
    if args.name == "pipelines":
        return _pipelines(args, cfg, settings, stop)
    if args.name == "notify":
        return _notify(cfg, settings, stop, args)
    if args.name == "console":
        return _console(cfg, settings, stop)
    if args.name == "actions":
        return _actions(cfg, settings, stop)
    return _archive(args, cfg, settings, stop)


def _pipelines(args: argparse.Namespace, cfg: Config, settings: KafkaSettings, stop: threading.Event) -> int:
    from vigie.pipelines.app import WorkerOptions, build_worker

    stages = {s.strip() for s in args.stages.split(",") if s.strip()}
    opts = WorkerOptions(batch=args.batch, tick_interval=args.tick, snapshot_interval=args.snapshot_interval,
                         normalize="normalize" in stages, correlate="correlate" in stages)
    worker = build_worker(cfg, settings, opts)
    _announce_ready([stage.joined for stage in worker.stages], stop)
    threading.Thread(target=lambda: (stop.wait(), worker.stop()), daemon=True).start()
    return worker.run()


def _notify(cfg: Config, settings: KafkaSettings, stop: threading.Event, args: argparse.Namespace) -> int:
    """Every route's notifier: a Faust worker (its own signal handling), or one thread per route."""
    from pathlib import Path

    from vigie.pipelines.notify.channels import route_settings
    from vigie.stage_metrics import NotifyMetrics, use_child_files

    use_child_files()
    routes, metrics = route_settings(cfg), NotifyMetrics(None)
    if (args.engine or cfg.notify.engine) == "faust":
        from vigie.pipelines.notify import faust_app

        level = {"DEBUG": "debug", "INFO": "info", "WARNING": "warn", "ERROR": "error"}.get(args.log_level or "", "warn")
        ready = threading.Event()
        _announce_ready([ready], stop)  # once the worker has its partitions and its Table recovered
        threading.Thread(target=_terminate_when, args=(stop,), name="faust-stop", daemon=True).start()
        return faust_app.run(settings, routes, Path(cfg.state_dir) / "notify" / "faust",
                             from_beginning=args.from_beginning, metrics=metrics, log_level=level,
                             session_timeout=args.session_timeout or 10.0, ready=ready)
    from vigie.pipelines.notify.runner import run_routes

    joined = [threading.Event() for _ in routes]
    _announce_ready(joined, stop)  # `vigie up` says ready only once every route's consumer has its partitions
    failed = run_routes(settings, routes, stop, metrics, args.from_beginning, joined)
    if failed:
        print(f"vigie service notify: {failed}", file=sys.stderr)
        return 1
    return 0


def _console(cfg: Config, settings: KafkaSettings, stop: threading.Event) -> int:
    """The operator console: ready once its listener is bound and the topics' history is read."""
    import asyncio

    from vigie.console.service import serve
    from vigie.pipelines.correlate.routing import Router

    joined = [threading.Event(), threading.Event()]
    _announce_ready(joined, stop)
    # the console may not import the pipelines: it is handed their Router (the Problems page's route filter)
    extras = {"router": Router.from_config(cfg.routes, cfg.timeperiods)}
    try:
        asyncio.run(serve(cfg, settings, stop, joined, extras))
    except OSError as exc:  # the address is taken or not ours: one line, not a traceback
        host, port = cfg.console.listen
        print(f"vigie service console: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0


def _terminate_when(stop: threading.Event, again: float = 5.0) -> None:
    """The Faust worker stops on SIGTERM only (its own handler): a stop asked another way (vigie up gone) is
    turned into one, sent again while the process lives (a first one may come before the worker's handler)."""
    stop.wait()
    while True:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(again)


def _actions(cfg: Config, settings: KafkaSettings, stop: threading.Event) -> int:
    """The guarded actions: ready once the alerts, control and actions topics' history is read."""
    from vigie.pipelines.actions.service import ActionService

    service = ActionService(cfg, settings)
    _announce_ready([service.joined], stop)
    return service.run(stop)


def _archive(args: argparse.Namespace, cfg: Config, settings: KafkaSettings, stop: threading.Event) -> int:
    from pathlib import Path

    from vigie.pipelines.archive.retention import RetentionJob
    from vigie.pipelines.archive.sink import ArchiveSink, SinkConfig
    from vigie.pipelines.zones import ZoneMap

    a = cfg.archive
    zones = ZoneMap.from_config(cfg)
    overrides: dict[str, Any] = {}
    if not args.dynamic_membership:  # a restart takes the partitions back at once
        overrides["group.instance.id"] = f"{args.group}-{args.instance}"
    if args.session_timeout:
        overrides["session.timeout.ms"] = int(args.session_timeout * 1000)
        overrides["heartbeat.interval.ms"] = max(100, int(args.session_timeout * 1000) // 6)
    sink_config = SinkConfig(root=Path(a.root), topics=tuple(a.topics), group_id=args.group,
                             max_rows=a.max_rows_per_file, idle_timeout=a.idle_flush, consumer_overrides=overrides,
                             publish_heads=a.publish_heads, heads_syslog_interval=a.heads_syslog_interval,
                             zones=zones if zones.active else None, max_clock_skew=a.max_clock_skew)
    if args.batch_size:
        sink_config.batch_size = args.batch_size
    sink = ArchiveSink(settings, sink_config)
    _announce_ready([sink.joined], stop)
    purger = None
    if args.instance == 0:  # one retention job per archive, whatever the number of sink processes
        job = RetentionJob(Path(a.root), a.retention_days)
        purger = threading.Thread(target=job.run, args=(stop,), name="archive-retention", daemon=True)
        purger.start()
    try:
        sink.run(stop)
    finally:
        sink.close()
        stop.set()
        if purger is not None:
            purger.join(5)
    log.info("archive sink stopped: %d files, %d rows; first message taken at %s, last file written at %s (epoch s)",
             sink.files_written, sink.rows_written, sink.first_consumed_at, sink.last_written_at)
    return 0
