"""The `vigie` command line: one console script whose verbs the architecture fixes."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import TYPE_CHECKING, NoReturn

from vigie import __version__
from vigie.app import archive_cli

if TYPE_CHECKING:  # vigie.config loads only for verbs that read a config (see main)
    from vigie.config import Config

# Verbs run with a parser that leaves out the control verbs (silence, ack, maintenance): registering
# those imports the Kafka client and the JSON Schema validator, which `vigie archive query` (an
# auditor waiting for an answer) does not need. Heavy modules are imported in each verb's function,
# not here (check with `python -X importtime -m vigie.app.cli archive query --help`).
_LIGHT_VERBS = ("archive",)


def _config(args: argparse.Namespace) -> Config:
    from vigie.config import load

    return load(args.config)


def cmd_up(args: argparse.Namespace) -> int:
    from vigie.app.up import AlreadyRunning, UpFailed, run_up

    cfg = _config(args)
    try:
        return run_up(cfg, config_path=args.config)
    except AlreadyRunning as exc:
        print(f"vigie: {exc}", file=sys.stderr)
        return 1
    except UpFailed as exc:
        print(f"vigie up: {exc}", file=sys.stderr)
        return 1


def _local_broker(args: argparse.Namespace):
    from vigie.local_broker import local_broker

    return local_broker(_config(args))


def cmd_broker(args: argparse.Namespace) -> int:
    from vigie.broker_auth import CredentialsMissing
    from vigie.local_broker import BrokerError, fetch

    try:
        if args.action == "fetch":
            print(fetch(quiet=False))
            return 0
        broker = _local_broker(args)
        if args.action == "start":
            broker.start()
            print(f"broker running on {broker.bootstrap} (pid {broker.pid()})")
        elif args.action == "stop":
            print("broker stopped" if broker.stop() else "broker was not running")
        else:
            status = broker.status()
            print(status)
            return 0 if status.startswith("running") and "NOT" not in status else 3
    except (BrokerError, CredentialsMissing) as exc:
        print(f"vigie broker: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    from vigie.acl_admin import ensure_acls
    from vigie.broker_auth import ADMIN, acl_specs
    from vigie.config import kafka_settings
    from vigie.kafka_client import require_broker
    from vigie.topic_admin import TopicDriftError, ensure_topics
    from vigie.topics import default_specs

    cfg = _config(args)
    settings = kafka_settings(cfg, args.bootstrap or None, ADMIN)
    if not settings.bootstrap_servers:
        host, port = cfg.kafka.local_listen
        settings = kafka_settings(cfg, f"{host}:{port}", ADMIN)
    require_broker(settings)
    specs = default_specs(cfg.kafka.partitions, max(1, int(cfg.kafka.raw_retention // 86400)))
    try:
        created = ensure_topics(settings, specs)
        if cfg.kafka.sasl_service_users or (not cfg.kafka.bootstrap_servers and cfg.kafka.local_sasl):  # and ACLs
            ensure_acls(settings, acl_specs(cfg.kafka.topic_prefix, tuple(cfg.archive.topics)))
    except TopicDriftError as exc:
        for drift in exc.drifts:
            print(f"vigie topics: {drift}", file=sys.stderr)
        return 1
    for name in created:
        print(f"created {name}")
    print(f"{len(specs)} topics match their declaration")
    return 0


def cmd_parse(args: argparse.Namespace) -> int:
    if args.kind == "syslog":
        from vigie.producers.syslog.parse_cli import run

        return run(sys.stdin.buffer, sys.stdout, framing=args.framing)
    if args.kind == "check":
        from vigie.producers.checks.parse_cli import run

        return run(sys.stdin, sys.stdout, status=args.status)
    from vigie.pipelines.archive.connlog_cli import run

    return run(sys.stdin.buffer, sys.stdout)


def cmd_view(args: argparse.Namespace) -> int:
    from vigie.app.control_cli import settings_for
    from vigie.app.views import TopicMissing, show

    def select(v: dict) -> bool:
        return (not args.site or v.get("site") == args.site) and (not args.host or v.get("host") == args.host)

    try:
        return show(settings_for(args), args.verb, fmt=args.format, follow=args.follow,
                    include_resolved=args.all, select=select)
    except TopicMissing as exc:
        print(f"vigie {args.verb}: {exc}", file=sys.stderr)
        return 1


def cmd_notify(args: argparse.Namespace) -> int:
    import signal
    import threading

    from vigie.app.control_cli import settings_for
    from vigie.config import ReceiverConfig
    from vigie.pipelines.notify.channels import make_channel, route_settings
    from vigie.pipelines.notify.runner import RouteSettings, run_notifier

    cfg = _config(args)
    route = next((r for r in route_settings(cfg) if r.route == args.route), None)
    if args.webhook:
        rc = ReceiverConfig(type="webhook", url=args.webhook, bearer_token_env=args.token_env)
        channel = make_channel(args.route, rc, cfg.notify.external_url)
        route = RouteSettings(args.route, [channel], state_path=route.state_path if route else None)
    if route is None:
        print(f"vigie notify: route {args.route!r} has no receiver; give --webhook URL", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    run_notifier(settings_for(args, "notify"), route, stop, from_beginning=args.from_beginning)
    return 0


def cmd_inventory(args: argparse.Namespace) -> int:
    from vigie.app.inventory_cli import run

    return run(_config(args), args)


def cmd_archive(args: argparse.Namespace) -> int:
    """`vigie archive …`: the archive root and retention come from the config unless given.

    The config is read when one is named (--config: a wrong one still stops the command) or when
    something must come from it; `--root DIR` (or $VIGIE_ARCHIVE_ROOT) without --config needs none.
    """
    has_root = getattr(args, "root", None) is not None or bool(os.environ.get("VIGIE_ARCHIVE_ROOT"))
    needs_retention = args.archive_verb == "purge" and args.retention_days is None
    if getattr(args, "config", None) is not None or not has_root or needs_retention:
        cfg = _config(args)
        if not has_root:
            args.root = cfg.archive.root
        if needs_retention:
            args.retention_days = cfg.archive.retention_days
    return args.archive_func(args)


def _verb_of(argv: list[str] | None) -> str | None:
    """The verb a command line names (its first word that is not an option), None when there is none."""
    for word in sys.argv[1:] if argv is None else argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word
    return None


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (argparse prints the whole usage first); subparsers inherit it."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def cmd_config(args: argparse.Namespace) -> int:
    """`vigie config check FILE`: validate a file without starting anything."""
    from vigie.config import ConfigError, load

    try:
        load(args.file)
    except ConfigError as exc:
        print(f"vigie config check: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"vigie config check: {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"ok: {args.file}")
    return 0


def build_parser(argv: list[str] | None = None, *, full: bool = True) -> argparse.ArgumentParser:
    """The whole parser; with full=False, verbs other than the one argv names may be left out when
    that one is in _LIGHT_VERBS (the parse, help and errors of that verb are the same)."""
    light = not full and _verb_of(argv) in _LIGHT_VERBS
    parser = _Parser(prog="vigie", description="Vigie: supervision pipeline for public bodies' IT")
    parser.add_argument("--version", action="version", version=f"vigie {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", "-c", metavar="FILE", help="TOML configuration file (default: all defaults)")
        return p

    up = with_config(sub.add_parser("up", help="run everything on this machine"))
    up.set_defaults(func=cmd_up)

    config = sub.add_parser("config", help="check a configuration file")
    config_sub = config.add_subparsers(dest="config_verb", required=True)
    check = config_sub.add_parser("check", help="validate FILE without starting anything: prints ok: FILE or the error")
    check.add_argument("file", metavar="FILE")
    config.set_defaults(func=cmd_config)

    broker = with_config(sub.add_parser("broker", help="the local single-node Kafka (KRaft)"))
    broker.add_argument("action", choices=["start", "stop", "status", "fetch"])
    broker.set_defaults(func=cmd_broker)

    topics = with_config(sub.add_parser("topics", help="create the topics and check their settings"))
    topics.add_argument("--bootstrap", help="bootstrap servers (default: from the config, else the local broker)")
    topics.set_defaults(func=cmd_topics)

    parse = sub.add_parser("parse", help="parse input on stdin, one JSON object per line on stdout")
    parse_sub = parse.add_subparsers(dest="kind", required=True)
    ps = parse_sub.add_parser("syslog", help="raw syslog -> parsed header and message")
    ps.add_argument("--framing", choices=["lines", "octet-counting", "non-transparent"], default="lines")
    pc = parse_sub.add_parser("check", help="Nagios plugin output -> JSON with perfdata")
    pc.add_argument("--status", type=int, choices=[0, 1, 2, 3], help="the plugin's exit code")
    parse_sub.add_parser("connlog", help="raw syslog lines -> the archive's connection columns")
    parse.set_defaults(func=cmd_parse)

    for verb, what in (("alerts", "current alerts"), ("incidents", "current incidents")):
        view = with_config(sub.add_parser(verb, help=f"{what}, from the compacted topic"))
        view.add_argument("--follow", "-f", action="store_true", help="then stream every change")
        view.add_argument("--format", choices=["table", "json"], default="table")
        view.add_argument("--all", action="store_true", help="include resolved ones")
        view.add_argument("--site")
        view.add_argument("--host")
        view.add_argument("--bootstrap", help="bootstrap servers (default: from the config, else the local broker)")
        view.set_defaults(func=cmd_view)

    notify = with_config(sub.add_parser("notify", help="deliver one route's notifications to a webhook (Alertmanager format)"))
    notify.add_argument("--route", required=True)
    notify.add_argument("--webhook", help="URL (default: the route's webhook in the config)")
    notify.add_argument("--token-env", help="environment variable holding a bearer token for the receiver")
    notify.add_argument("--from-beginning", action="store_true", help="first start: read the topic's history too")
    notify.add_argument("--bootstrap", help="bootstrap servers (default: from the config, else the local broker)")
    notify.set_defaults(func=cmd_notify)

    inventory = sub.add_parser("inventory", help="the resolved inventory (templates, host groups, services on groups)")
    inventory_sub = inventory.add_subparsers(dest="inventory_verb", required=True)
    show = with_config(inventory_sub.add_parser("show", help="print hosts and services as checks run them"))
    show.add_argument("--host", help="only this host and its services")
    show.add_argument("--format", choices=["table", "json"], default="table")
    show.set_defaults(func=cmd_inventory)

    from vigie.app import nagios_cli

    nagios_cli.add_arguments(sub, with_config)

    from vigie.app import service_cli

    service_cli.add_arguments(sub, with_config)

    from vigie.app import user_cli

    user_cli.add_arguments(sub, with_config)

    from vigie.app import units_cli

    units_cli.add_arguments(sub)

    if not light:
        from vigie.app import state_cli

        state_cli.add_arguments(sub, with_config)

    if not light:
        from vigie.app import action_cli, control_cli

        control_cli.add_arguments(sub, with_config)
        action_cli.add_arguments(sub, with_config)

    if not light:
        from vigie.app import replay_cli

        replay_cli.add_arguments(sub, with_config)

    archive = sub.add_parser("archive", help="auditors' access to the connection-log archive")
    archive_sub = archive.add_subparsers(dest="archive_verb", required=True)
    archive_cli.add_arguments(archive_sub)
    for verb_parser in archive_sub.choices.values():
        with_config(verb_parser)  # `vigie archive verify --config F` reads as people type it
    archive.set_defaults(func=cmd_archive)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(argv, full=False)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        config = sys.modules.get("vigie.config")  # only a verb that read a config can raise ConfigError
        if config is not None and isinstance(exc, config.ConfigError):
            print(f"vigie: {exc}", file=sys.stderr)
            return 2
        kafka = sys.modules.get("vigie.kafka_client")
        if kafka is not None and isinstance(exc, kafka.BrokerUnreachable):
            print(f"vigie {args.verb}: {exc}", file=sys.stderr)
            return 1
        if args.verbose:
            raise
        # Bad input or an unreachable broker ends a verb with one line; the traceback is for -v.
        print(f"vigie {args.verb}: {describe_error(exc)} (vigie -v {args.verb} … shows the traceback)", file=sys.stderr)
        return 1


def describe_error(exc: BaseException) -> str:
    """One line for an exception: a Kafka error's own text (not its repr), else Type: message."""
    detail = exc.args[0] if len(exc.args) == 1 else None
    if hasattr(detail, "str") and callable(detail.str):  # confluent_kafka.KafkaError
        return f"Kafka: {detail.str()}"
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text}"


if __name__ == "__main__":
    sys.exit(main())
