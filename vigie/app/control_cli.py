"""`vigie silence`, `vigie ack`, `vigie maintenance`: commands people give, written to the control topic.

Each command is built by command_value (pipelines/correlate/silences.py, shared with the console) and
validated by the same parser the correlation worker uses before it is written,
keyed by its id on the compacted control topic; `--expire ID` writes a tombstone that withdraws it.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from typing import Any

from vigie.config import parse_duration
from vigie.kafka_client import KafkaSettings, KafkaSink
from vigie.pipelines.correlate.silences import command_value
from vigie.schemas.codec import dumps, parse_rfc3339
from vigie.topics import CONTROL


def _when(text: str | None, default: float) -> float:
    if not text:
        return default
    if text.startswith("+"):
        return time.time() + parse_duration(text[1:])
    dt = parse_rfc3339(text)
    if dt.tzinfo is None:
        raise ValueError(f"{text!r}: add a time zone (Z or +01:00)")
    return dt.timestamp()


def build_command(args: argparse.Namespace, now: float | None = None) -> dict[str, Any]:
    """The control/1 value for one CLI invocation (validated by the worker's own parser)."""
    now = time.time() if now is None else now
    kind = args.control_kind
    fields: dict[str, Any] = {}
    if kind in ("silence", "maintenance"):
        start = _when(args.start, now)
        end = start + parse_duration(args.duration) if args.duration else _when(args.end, 0)
        if not end:
            raise ValueError("give --duration or --end")
        fields.update(start=start, end=end)
    if kind == "silence":
        fields["matchers"] = list(args.match)
    elif kind == "acknowledge":
        matchers = list(args.match)
        if args.host:
            matchers.append(f"host={args.host}")
        if args.service:
            matchers.append(f"service={args.service}")
        fields.update(fingerprint=args.fingerprint, matchers=matchers)
    elif kind == "maintenance":
        fields.update(hosts=list(args.host), include_children=not args.only_hosts)
        if args.recurrence:
            rec: dict[str, Any] = {"timezone": args.timezone}
            for day in args.recurrence_days.split(","):
                rec[day.strip()] = args.recurrence
            fields["recurrence"] = rec
    author = args.author or os.environ.get("VIGIE_AUTHOR") or getpass.getuser()
    return command_value(kind, author, args.reason, now, id=args.id, **fields)


def add_arguments(sub: argparse._SubParsersAction, with_config: Any) -> None:
    """Register the three verbs on the main parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--author", help="who gives the command (default: $VIGIE_AUTHOR or the login name)")
    common.add_argument("--reason", help="why; shown to whoever is on call")
    common.add_argument("--id", help="the command's id (default: generated)")
    common.add_argument("--expire", metavar="ID", help="withdraw the command with this id")
    common.add_argument("--bootstrap", help="bootstrap servers (default: from the config, else the local broker)")

    s = with_config(sub.add_parser("silence", parents=[common], help="mute notifications matching label matchers"))
    s.add_argument("--match", "-m", action="append", default=[], help="matcher: host=rtr1, site=~mairie.*, severity!=info")
    s.add_argument("--start", help="RFC 3339 time or +DURATION (default: now)")
    s.add_argument("--end", help="RFC 3339 time or +DURATION")
    s.add_argument("--duration", help="e.g. 2h (instead of --end)")
    s.set_defaults(func=run, control_kind="silence")

    a = with_config(sub.add_parser("ack", parents=[common], help="acknowledge a problem (sticky until it is OK)"))
    a.add_argument("--fingerprint", help="the alert's fingerprint (see vigie alerts --format json)")
    a.add_argument("--host")
    a.add_argument("--service")
    a.add_argument("--match", "-m", action="append", default=[])
    a.set_defaults(func=run, control_kind="acknowledge")

    m = with_config(sub.add_parser("maintenance", parents=[common],
                                   help="a maintenance window over hosts and what they parent"))
    m.add_argument("--host", action="append", default=[], help="a host in maintenance (repeat)")
    m.add_argument("--only-hosts", action="store_true", help="do not cover the hosts' children")
    m.add_argument("--start", help="RFC 3339 time or +DURATION (default: now)")
    m.add_argument("--end")
    m.add_argument("--duration")
    m.add_argument("--recurrence", metavar="HH:MM-HH:MM", help="recurring: this time range on --recurrence-days")
    m.add_argument("--recurrence-days", default="monday,tuesday,wednesday,thursday,friday,saturday,sunday")
    m.add_argument("--timezone", default="Europe/Paris")
    m.set_defaults(func=run, control_kind="maintenance")


def settings_for(args: argparse.Namespace, principal: str = "reader") -> KafkaSettings:
    """Kafka settings from the config, the --bootstrap flag or the local broker's address, once a broker
    there answers (else BrokerUnreachable: one line, not minutes of reconnect attempts); on the local
    broker with authentication, as `principal` (vigie/broker_auth.py)."""
    from vigie.config import kafka_settings, load
    from vigie.kafka_client import require_broker

    cfg = load(args.config)
    bootstrap = getattr(args, "bootstrap", None) or cfg.kafka.bootstrap_servers
    if not bootstrap:
        host, port = cfg.kafka.local_listen
        bootstrap = f"{host}:{port}"
    settings = kafka_settings(cfg, bootstrap, principal)
    require_broker(settings)
    return settings


def run(args: argparse.Namespace) -> int:
    settings = settings_for(args, "operator")  # the control topic's writer
    if args.expire:
        key, value = args.expire, None
    else:
        if not args.reason:
            print(f"vigie {args.verb}: --reason is required (it is shown to whoever is on call)", file=sys.stderr)
            return 2
        try:
            value = build_command(args)
        except ValueError as exc:
            print(f"vigie {args.verb}: {exc}", file=sys.stderr)
            return 2
        key = value["id"]
    sink = KafkaSink(settings, linger_ms=0)
    if value is None:
        sink.tombstone(CONTROL, key.encode())
    else:
        sink.produce(CONTROL, dumps(value), key=key.encode())
    if sink.close(timeout=15):
        print(f"vigie {args.verb}: the broker did not acknowledge the command", file=sys.stderr)
        return 1
    print(f"{'withdrew' if value is None else 'wrote'} {args.verb} {key}")
    return 0
