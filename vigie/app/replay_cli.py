"""`vigie replay`: what normalize + correlate would produce from recorded raw records, with this config.

    vigie replay --file raw.jsonl [--config new.toml] [--settle 1h] [--only notifications] [--diff before.jsonl]
    vigie replay --from 2025-03-01T10:00Z --to 2025-03-01T12:00Z [--bootstrap HOST:PORT] [--diff live | before.jsonl]

Runs on a simulated clock (pipelines/replay.py), as fast as the machine allows, writes nothing to Kafka and
prints one JSON object per line: {"kind": "alert" | "incident" | "notification", "value": ...}. With --diff,
it prints instead what changed against a previous run's output ("+" new, "-" gone): how an administrator
tries a new rule, inventory or route on last week's records before deploying it.

With --from/--to the records are the raw topics' (and control's) received in that range, read from Kafka by a
consumer that neither joins a group nor commits (pipelines/replay_kafka.py). `--diff live` then compares with
what the live worker put on alerts, incidents and notifications in [from, to + settle): the last value of each
alert and incident, every notification, times of processing and incident ids' time hashes left out; exit 1
when something differs, 0 when nothing does.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import orjson

KINDS = ("alert", "incident", "notification")


def add_arguments(sub: argparse._SubParsersAction, with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser]) -> None:
    p = with_config(sub.add_parser("replay", help="re-run normalize + correlate over recorded raw records (nothing is written to Kafka)"))
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--file", type=Path, metavar="RAW.jsonl",
                     help="recorded raw records, one JSON object per line: {topic, received_at, value[, key]}")
    src.add_argument("--from", dest="start", metavar="TIME", help="replay the raw topics' records received from TIME (RFC 3339; UTC without a zone)")
    p.add_argument("--to", dest="end", metavar="TIME", help="... up to TIME, excluded (with --from; default: now)")
    p.add_argument("--bootstrap", help="Kafka bootstrap servers (with --from; default: the config's, else the local broker)")
    p.add_argument("--settle", default="0s", metavar="DURATION", help="simulated time to let pass after the last record (timers due later)")
    p.add_argument("--only", choices=KINDS, action="append", help="print only these kinds (repeatable)")
    p.add_argument("--diff", metavar="BEFORE.jsonl|live",
                   help="a previous run's output, or with --from/--to `live` (what the live worker produced): print what changed")
    p.set_defaults(func=cmd_replay)


def output_lines(result, kinds: tuple[str, ...] = KINDS) -> list[bytes]:  # noqa: ANN001 - pipelines.replay.Result
    lines = []
    for kind, values in (("alert", result.alerts), ("incident", result.incidents), ("notification", result.notifications)):
        if kind in kinds:
            lines += [orjson.dumps({"kind": kind, "value": v}, option=orjson.OPT_SORT_KEYS) for v in values]
    return lines


def diff_lines(before: list[bytes], after: list[bytes]) -> list[bytes]:
    """Lines gone ("-") and new ("+"), each kept in its run's order; a line repeated counts as often as it occurs."""
    from collections import Counter

    left, right = Counter(before), Counter(after)
    gone = [b"- " + line for line in before if _take(left, right, line)]
    left, right = Counter(before), Counter(after)
    new = [b"+ " + line for line in after if _take(right, left, line)]
    return gone + new


def _take(mine, other, line: bytes) -> bool:  # noqa: ANN001 - Counters
    """True when this occurrence of `line` has no counterpart left in `other`."""
    if other[line] > 0:
        other[line] -= 1
        return False
    return True


def parse_time(text: str, flag: str) -> float:
    """--from/--to: RFC 3339, or an ISO date-time without zone taken as UTC; a bad one is one clear line."""
    from datetime import UTC, datetime

    from vigie.config import ConfigError

    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f'replay: {flag}: expected a time such as "2025-03-01T10:00:00Z", got "{text}"') from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def cmd_replay(args: argparse.Namespace) -> int:
    import time

    from vigie.config import ConfigError, load, parse_duration
    from vigie.pipelines.replay import Replay, ReplayError, live_diff, read_jsonl, result_outputs

    config = load(args.config)
    try:
        settle = parse_duration(args.settle)
    except ValueError:
        raise ConfigError(f'replay: --settle: expected a duration such as "10m", got "{args.settle}"') from None
    live = args.diff == "live"
    if args.file is not None:
        if args.end is not None or live:
            print("vigie: replay: --to and --diff live go with --from, not --file", file=sys.stderr)
            return 2
        if not args.file.is_file():
            print(f"vigie: replay: {args.file}: no such file", file=sys.stderr)
            return 2
    else:
        start = parse_time(args.start, "--from")
        end = parse_time(args.end, "--to") if args.end is not None else time.time()
        if end <= start:
            print(f"vigie: replay: --to ({args.end}) is not after --from ({args.start})", file=sys.stderr)
            return 2
    before_file = None if args.diff is None or live else Path(args.diff)
    if before_file is not None and not before_file.is_file():
        print(f"vigie: replay: --diff {before_file}: no such file", file=sys.stderr)
        return 2
    kinds = tuple(args.only or KINDS)
    out = sys.stdout.buffer

    def emit(kind: str, value: dict) -> None:  # without --diff, each output is printed as it comes
        if kind in kinds:
            out.write(orjson.dumps({"kind": kind, "value": value}, option=orjson.OPT_SORT_KEYS) + b"\n")

    engine = Replay(config, emit=None if args.diff else emit)
    try:
        if args.file is not None:
            with args.file.open("rb") as f:
                result = engine.run(read_jsonl(f, str(args.file)), settle=settle)
        else:
            from vigie.app.archive_cli import _kafka
            from vigie.pipelines import replay_kafka

            settings, _cfg = _kafka(args)
            result = engine.run(replay_kafka.raw_records(settings, start, end), settle=settle)
    except ReplayError as exc:
        print(f"vigie: replay: {exc}", file=sys.stderr)
        return 2
    differs = False
    if live:
        produced = replay_kafka.live_outputs(settings, start, end + settle)
        replayed = result_outputs(result)
        lines = live_diff({k: v for k, v in produced.items() if k in kinds}, {k: v for k, v in replayed.items() if k in kinds})
        differs = bool(lines)
        for line in lines:
            out.write(line + b"\n")
    elif before_file is not None:
        before = [line.strip() for line in before_file.read_bytes().splitlines() if line.strip()]
        for line in diff_lines(before, output_lines(result, kinds)):
            out.write(line + b"\n")
    out.flush()
    counts = result.counts
    print(f"replay: {result.records} records, {result.events} events, {counts['alert']} alert updates, "
          f"{counts['incident']} incident updates, {counts['notification']} notifications, "
          f"{len(result.refused)} refused", file=sys.stderr)
    for refusal in result.refused[:20]:
        print(f"replay: refused {refusal}", file=sys.stderr)
    return 1 if differs else 0
