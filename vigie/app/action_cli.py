"""`vigie action list` and `vigie action cancel NAME|ID --reason ...`: people's side of the guarded actions.

Both read the actions topic and fold it with the same guard the service uses (pipelines/actions/guard.py),
so what they show is the service's state. A cancel is a `cancel_requested` record on that topic, keyed by the
action's name: the service reads it and records "cancelled" before the deadline (it acts on it only while
the countdown it names is running, and never after "running").
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from typing import Any

from vigie.app.control_cli import settings_for
from vigie.app.views import TopicMissing, format_table, records
from vigie.kafka_client import KafkaSettings, KafkaSink
from vigie.pipelines.actions.guard import ACTION_SCHEMA, Guard
from vigie.pipelines.actions.service import build_guards
from vigie.schemas.codec import dumps, rfc3339
from vigie.topics import ACTIONS

LIST_COLUMNS = [("action", 20), ("armed", 5), ("phase", 10), ("id", 34), ("deadline", 20), ("last step", 18),
                ("at", 20)]


def add_arguments(sub: Any, with_config: Any) -> None:
    """Register `vigie action list|cancel` on the main parser."""
    action = sub.add_parser("action", help="guarded automatic actions: their state, and cancelling a countdown")
    verbs = action.add_subparsers(dest="action_verb", required=True)
    lst = with_config(verbs.add_parser("list", help="each action's state and its last steps"))
    lst.add_argument("--steps", type=int, default=0, metavar="N", help="also print each action's last N steps")
    lst.add_argument("--bootstrap", help="bootstrap servers (default: from the config, else the local broker)")
    lst.set_defaults(func=cmd_list)
    cancel = with_config(verbs.add_parser("cancel", help="cancel a running countdown (nothing runs)"))
    cancel.add_argument("target", metavar="NAME|ID", help="the action's name or its countdown's id")
    cancel.add_argument("--reason", help="why (required; recorded on the actions topic)")
    cancel.add_argument("--author", help="who cancels (default: $VIGIE_AUTHOR or the login name)")
    cancel.add_argument("--bootstrap", help="bootstrap servers (default: from the config, else the local broker)")
    cancel.set_defaults(func=cmd_cancel)


def folded(args: argparse.Namespace, principal: str = "reader") -> tuple[KafkaSettings, dict[str, Guard]]:
    """The configured actions' guards with the actions topic folded into them (read as `principal`)."""
    from vigie.config import load

    settings = settings_for(args, principal)
    guards = build_guards(load(args.config))
    for _key, value in records(settings, ACTIONS):
        if isinstance(value, dict) and value.get("action") in guards:
            guards[value["action"]].apply(value)
    return settings, guards


def cmd_list(args: argparse.Namespace) -> int:
    try:
        _settings, guards = folded(args)
    except TopicMissing as exc:
        print(f"vigie action list: {exc}", file=sys.stderr)
        return 1
    rows = []
    for name, g in sorted(guards.items()):
        last = g.state.last[-1] if g.state.last else {}
        deadline = rfc3339(g.state.deadline) if g.state.phase == "countdown" and g.state.deadline else ""
        rows.append({"action": name, "armed": "yes" if g.spec.armed else "no", "phase": g.state.phase,
                     "id": g.state.id or "", "deadline": deadline[:19].replace("T", " "),
                     "last step": last.get("step", ""), "at": str(last.get("at", ""))[:19].replace("T", " ")})
    print(format_table(rows, LIST_COLUMNS))
    for name, g in sorted(guards.items()) if args.steps > 0 else ():
        print(f"\n{name}:")
        for rec in g.state.last[-args.steps:]:
            detail = rec.get("reason") or rec.get("author") or ""
            print(f"  {rec.get('at', '')[:19].replace('T', ' ')}  {rec.get('step', ''):<18} {detail}")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    if not args.reason:
        print("vigie action cancel: --reason is required (it is recorded with the cancel)", file=sys.stderr)
        return 2
    try:
        settings, guards = folded(args, "operator")
    except TopicMissing as exc:
        print(f"vigie action cancel: {exc}", file=sys.stderr)
        return 1
    guard = guards.get(args.target) or next((g for g in guards.values() if g.state.id == args.target), None)
    if guard is None:
        print(f"vigie action cancel: no action named {args.target!r} and no countdown with that id", file=sys.stderr)
        return 1
    st = guard.state
    if st.phase != "countdown":
        print(f"vigie action cancel: {guard.spec.name} has no countdown to cancel (it is {st.phase})", file=sys.stderr)
        return 1
    author = args.author or os.environ.get("VIGIE_AUTHOR") or getpass.getuser()
    value = {"schema": ACTION_SCHEMA, "action": guard.spec.name, "step": "cancel_requested", "at": rfc3339(time.time()),
             "id": st.id, "author": author, "reason": args.reason}
    sink = KafkaSink(settings, linger_ms=0)
    sink.produce(ACTIONS, dumps(value), key=guard.spec.name.encode())
    if sink.close(timeout=15):
        print("vigie action cancel: the broker did not acknowledge the cancel", file=sys.stderr)
        return 1
    print(f"cancel of {st.id} requested by {author}; `vigie action list` shows when it is recorded")
    return 0
