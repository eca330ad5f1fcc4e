"""Entry point of one pipeline worker process: `python -m vigie.pipelines.worker --config FILE [--bootstrap HOST:PORT]`.

`vigie up` runs it as a supervised subprocess (pipelines/service.py); tests run it the same way and
SIGKILL it. SIGTERM or SIGINT stops it cleanly (final snapshot, offsets committed, group left).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from typing import Any

from vigie.config import ConfigError, kafka_settings, load
from vigie.pipelines.app import WorkerOptions, build_worker


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="vigie.pipelines.worker", description="One Vigie pipeline worker.")
    p.add_argument("--config", help="the TOML configuration (default: built-in defaults)")
    p.add_argument("--config-json", help="an already validated config as JSON (written by `vigie up`)")
    p.add_argument("--bootstrap", help="Kafka bootstrap servers (overrides [kafka] bootstrap_servers)")
    p.add_argument("--stages", default="normalize,correlate", help="comma-separated: normalize, correlate")
    p.add_argument("--batch", type=int, default=2000)
    p.add_argument("--tick", type=float, default=1.0, help="seconds between correlate ticks")
    p.add_argument("--snapshot-interval", type=float, default=2.0)
    p.add_argument("--log-level", default="INFO")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.config_json:
            with open(args.config_json) as fh:
                cfg = json.load(fh)
        else:
            cfg = load(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    bootstrap = args.bootstrap or cfg["kafka"]["bootstrap_servers"]
    if not bootstrap:
        print("vigie.pipelines.worker: no Kafka bootstrap servers (--bootstrap or [kafka] bootstrap_servers)",
              file=sys.stderr)
        return 2
    stages = {s.strip() for s in args.stages.split(",") if s.strip()}
    opts = WorkerOptions(batch=args.batch, tick_interval=args.tick, snapshot_interval=args.snapshot_interval,
                         normalize="normalize" in stages, correlate="correlate" in stages)
    worker = build_worker(cfg, kafka_settings(cfg, bootstrap), opts)

    def stop(signum: int, _frame: Any) -> None:
        logging.getLogger("vigie.pipelines").info("signal %d: stopping", signum)
        worker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return worker.run()


if __name__ == "__main__":
    sys.exit(main())
