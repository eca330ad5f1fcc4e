"""`vigie replay`: what normalize + correlate would produce from recorded raw records, with this config.

    vigie replay --file raw.jsonl [--config new.toml] [--settle 1h] [--only notifications] [--diff before.jsonl]

Runs on a simulated clock (pipelines/replay.py), as fast as the machine allows, writes nothing to Kafka and
prints one JSON object per line: {"kind": "alert" | "incident" | "notification", "value": ...}. With --diff,
it prints instead what changed against a previous run's output ("+" new, "-" gone): how an administrator
tries a new rule, inventory or route on last week's records before deploying it.
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
    p.add_argument("--file", required=True, type=Path, metavar="RAW.jsonl",
                   help="recorded raw records, one JSON object per line: {topic, received_at, value[, key]}")
    p.add_argument("--settle", default="0s", metavar="DURATION", help="simulated time to let pass after the last record (timers due later)")
    p.add_argument("--only", choices=KINDS, action="append", help="print only these kinds (repeatable)")
    p.add_argument("--diff", type=Path, metavar="BEFORE.jsonl", help="a previous run's output: print what changed")
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


def cmd_replay(args: argparse.Namespace) -> int:
    from vigie.config import ConfigError, load, parse_duration
    from vigie.pipelines.replay import Replay, ReplayError, read_jsonl

    config = load(args.config)
    try:
        settle = parse_duration(args.settle)
    except ValueError:
        raise ConfigError(f'replay: --settle: expected a duration such as "10m", got "{args.settle}"') from None
    if not args.file.is_file():
        print(f"vigie: replay: {args.file}: no such file", file=sys.stderr)
        return 2
    kinds = tuple(args.only or KINDS)
    out = sys.stdout.buffer

    def emit(kind: str, value: dict) -> None:  # without --diff, each output is printed as it comes
        if kind in kinds:
            out.write(orjson.dumps({"kind": kind, "value": value}, option=orjson.OPT_SORT_KEYS) + b"\n")

    with args.file.open("rb") as f:
        try:
            result = Replay(config, emit=None if args.diff else emit).run(read_jsonl(f, str(args.file)), settle=settle)
        except ReplayError as exc:
            print(f"vigie: replay: {exc}", file=sys.stderr)
            return 2
    if args.diff is not None:
        before = [line.strip() for line in args.diff.read_bytes().splitlines() if line.strip()]
        for line in diff_lines(before, output_lines(result, kinds)):
            out.write(line + b"\n")
    out.flush()
    counts = result.counts
    print(f"replay: {result.records} records, {result.events} events, {counts['alert']} alert updates, "
          f"{counts['incident']} incident updates, {counts['notification']} notifications, "
          f"{len(result.refused)} refused", file=sys.stderr)
    for refusal in result.refused[:20]:
        print(f"replay: refused {refusal}", file=sys.stderr)
    return 0
