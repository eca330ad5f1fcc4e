"""`vigie user add|passwd|role|disable|enable|list`: the console's local accounts (vigie/console/accounts.py).

A password is read from the terminal (twice), from standard input with --password-stdin (scripts),
never from the command line, where `ps` and the shell history would keep it.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any


def add_arguments(sub: Any, with_config: Any) -> None:
    from vigie.console.accounts import ROLES

    user = sub.add_parser("user", help="the console's accounts (stored under the state folder, 0600)")
    verbs = user.add_subparsers(dest="user_verb", required=True)
    add = with_config(verbs.add_parser("add", help="create an account"))
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES,
                     help="viewer: sees; operator: acks, silences, maintenance; auditor: the archive; admin: accounts")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    passwd = with_config(verbs.add_parser("passwd", help="set a new password (ends the user's sessions)"))
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    role = with_config(verbs.add_parser("role", help="change an account's role (ends the user's sessions)"))
    role.add_argument("name")
    role.add_argument("role", choices=ROLES)
    for verb, what in (("disable", "refuse the account's logins and end its sessions"), ("enable", "allow it again")):
        p = with_config(verbs.add_parser(verb, help=what))
        p.add_argument("name")
    with_config(verbs.add_parser("list", help="the accounts, their role and state"))
    user.set_defaults(func=run)


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ValueError("no terminal to ask the password on: use --password-stdin")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def run(args: argparse.Namespace) -> int:
    from vigie.config import load
    from vigie.console.accounts import AccountError, AccountStore

    cfg = load(args.config)
    store = AccountStore.under(cfg.state_dir)
    try:
        if args.user_verb == "list":
            for a in store.accounts():
                print(f"{a.name}\t{a.role}\t{'disabled' if a.disabled else 'enabled'}")
            return 0
        if args.user_verb == "add":
            account = store.add(args.name, args.role, _password(args))
            print(f"vigie user: {account.name} added ({account.role}) in {store.path}")
        elif args.user_verb == "passwd":
            if store.get(args.name) is None:
                raise AccountError(f"no user {args.name}")
            store.passwd(args.name, _password(args))
            print(f"vigie user: password of {args.name} changed")
        elif args.user_verb == "role":
            store.set_role(args.name, args.role)
            print(f"vigie user: {args.name} is now {args.role}")
        elif args.user_verb == "disable":
            store.disable(args.name)
            print(f"vigie user: {args.name} disabled")
        else:
            store.enable(args.name)
            print(f"vigie user: {args.name} enabled")
    except (AccountError, ValueError, OSError) as exc:
        print(f"vigie user: {exc}", file=sys.stderr)
        return 2
    return 0
