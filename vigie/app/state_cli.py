"""`vigie state export --out FILE` / `vigie state import FILE`: back up and restore what people gave Vigie.

The file is one JSON document, `vigie-state/1`:
- `control`: every live record of the compacted `control` topic (silences, maintenance windows, acknowledgements,
  comments, topology updates) as `{"key", "value"}`; import writes each back under the same key, so importing
  twice leaves the topic as importing once (compaction keeps the last value per key);
- `inventory`: the resolved inventory of the config (`vigie inventory show --format json`), as data: the config
  file stays its source, and import says how the running config differs from it;
- `console_accounts`: the console's accounts file (password hashes: the export is written 0600), restored 0600.

A file whose schema this Vigie does not read is refused with one line before anything is written.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from vigie import __version__

SCHEMA = "vigie-state/1"
READS = (SCHEMA,)  # every earlier schema a newer Vigie still reads goes here, with its test fixture


class StateFileError(ValueError):
    """A state file this Vigie cannot restore; the message is the one line to print."""


def _key_entry(key: bytes) -> dict[str, str]:
    try:
        return {"key": key.decode()}
    except UnicodeDecodeError:
        return {"key_b64": base64.b64encode(key).decode()}


def build_document(control: dict[bytes, Any], inventory: dict[str, Any], accounts: dict[str, Any] | None,
                   now: float) -> dict[str, Any]:
    """The export document; control records sorted by key so that two exports of the same state are equal."""
    records = [{**_key_entry(key), "value": value} for key, value in sorted(control.items())]
    return {"schema": SCHEMA, "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "vigie_version": __version__, "control": records, "inventory": inventory,
            "console_accounts": accounts}


def read_document(text: str, where: str) -> dict[str, Any]:
    """A state document checked whole (every control value by the worker's own parser), else StateFileError."""
    from vigie.console.accounts import AccountError, parse_document
    from vigie.pipelines.correlate.silences import ControlError, parse_command

    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise StateFileError(f"{where}: not JSON ({exc})") from None
    schema = doc.get("schema") if isinstance(doc, dict) else None
    if schema not in READS:
        raise StateFileError(f"{where}: schema {schema!r} is not one this Vigie reads ({', '.join(READS)})")
    if not isinstance(doc.get("control"), list) or not isinstance(doc.get("inventory"), dict):
        raise StateFileError(f"{where}: expected a control list and an inventory object")
    inventory = doc["inventory"]
    for kind, names in (("hosts", ("name",)), ("services", ("host", "name"))):
        items = inventory.get(kind)
        if not isinstance(items, list) or not all(isinstance(x, dict) and all(isinstance(x.get(n), str) for n in names)
                                                  for x in items):
            raise StateFileError(f"{where}: inventory.{kind}: expected a list of objects with {' and '.join(names)}")
    if doc.get("console_accounts") is not None:
        try:
            parse_document(doc["console_accounts"])
        except AccountError as exc:
            raise StateFileError(f"{where}: {exc}") from None
    for i, record in enumerate(doc["control"]):
        if not isinstance(record, dict) or not isinstance(record.get("key", record.get("key_b64")), str):
            raise StateFileError(f"{where}: control[{i}]: expected {{\"key\", \"value\"}}")
        if "key" not in record:
            try:
                base64.b64decode(record["key_b64"], validate=True)
            except ValueError:
                raise StateFileError(f"{where}: control[{i}].key_b64: not base64") from None
        try:
            parse_command(record.get("value"), key=record.get("key"), now=0.0)
        except ControlError as exc:
            raise StateFileError(f"{where}: control[{i}] ({record.get('key')}): {exc}") from None
    return doc


def control_records(doc: dict[str, Any]) -> list[tuple[bytes, dict[str, Any]]]:
    return [(r["key"].encode() if "key" in r else base64.b64decode(r["key_b64"]), r["value"]) for r in doc["control"]]


def inventory_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What the running config's inventory lacks, adds or changes against the saved one, one phrase per kind."""
    out = []
    for kind, name_of in (("hosts", lambda h: h["name"]), ("services", lambda s: f"{s['host']}/{s['name']}")):
        before = {name_of(x): x for x in saved.get(kind, [])}
        now = {name_of(x): x for x in current.get(kind, [])}
        for what, names in (("missing", before.keys() - now.keys()), ("added", now.keys() - before.keys()),
                            ("changed", {n for n in before.keys() & now.keys() if before[n] != now[n]})):
            if names:
                out.append(f"{kind} {what}: {', '.join(sorted(names))}")
    return out


def export_state(settings: Any, cfg: Any) -> dict[str, Any]:
    """Read the control topic and the accounts file; the document to write."""
    from vigie.app.inventory_cli import resolved
    from vigie.app.views import latest
    from vigie.console.accounts import AccountStore
    from vigie.topics import CONTROL

    control = latest(settings, CONTROL)
    return build_document(control, resolved(cfg), AccountStore.under(cfg.state_dir).document(), time.time())


def import_state(settings: Any, cfg: Any, doc: dict[str, Any]) -> list[str]:
    """Write the control records back and restore the accounts; the lines that say what was done."""
    from vigie.app.inventory_cli import resolved
    from vigie.console.accounts import AccountStore
    from vigie.kafka_client import KafkaSink
    from vigie.schemas.codec import dumps
    from vigie.topics import CONTROL

    records = control_records(doc)
    sink = KafkaSink(settings, linger_ms=0)
    for key, value in records:
        sink.produce(CONTROL, dumps(value), key=key)
    if sink.close(timeout=30):
        raise StateFileError("the broker did not acknowledge every control record; nothing else was restored")
    lines = [f"control: {len(records)} records written to {settings.topic(CONTROL)}"]
    if doc.get("console_accounts") is not None:
        store = AccountStore.under(cfg.state_dir)
        lines.append(f"console accounts: {store.restore(doc['console_accounts'])} restored to {store.path}")
    differences = inventory_differences(doc["inventory"], resolved(cfg))
    lines.append("inventory: the config's differs from the saved one: " + "; ".join(differences) if differences
                 else "inventory: the config's is the saved one")
    return lines


def write_private(path: Path, text: str) -> None:
    """Write through a temporary file and a rename, mode 0600 (the file holds password hashes)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def add_arguments(sub: argparse._SubParsersAction, with_config: Any) -> None:
    state = sub.add_parser("state", help="back up and restore control objects, inventory and console accounts")
    verbs = state.add_subparsers(dest="state_verb", required=True)
    export = with_config(verbs.add_parser("export", help="write silences, maintenance, acks, comments, the inventory "
                                                         "and the console accounts to one JSON file (0600)"))
    export.add_argument("--out", required=True, metavar="FILE")
    export.add_argument("--bootstrap", help="bootstrap servers (default: from the config, else the local broker)")
    restore = with_config(verbs.add_parser("import", help="write a state export's control records back (same keys) "
                                                          "and restore its console accounts"))
    restore.add_argument("file", metavar="FILE")
    restore.add_argument("--bootstrap", help="bootstrap servers (default: from the config, else the local broker)")
    state.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vigie import broker_auth
    from vigie.app.control_cli import settings_for
    from vigie.app.views import TopicMissing
    from vigie.config import load
    from vigie.console.accounts import AccountError

    where = f"vigie state {args.state_verb}"
    try:
        cfg = load(args.config)
        if args.state_verb == "export":
            doc = export_state(settings_for(args), cfg)
            write_private(Path(args.out), json.dumps(doc, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
            print(f"wrote {args.out}: {len(doc['control'])} control records, {len(doc['inventory']['hosts'])} hosts, "
                  f"{len((doc['console_accounts'] or {}).get('accounts', []))} console accounts")
            return 0
        doc = read_document(Path(args.file).read_text(), args.file)  # refused before any broker is asked
        # the control records are written back: as the operator (read and write control), as `vigie ack` does
        for line in import_state(settings_for(args, broker_auth.OPERATOR), cfg, doc):
            print(line)
        return 0
    except (StateFileError, AccountError, TopicMissing) as exc:
        print(f"{where}: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, StateFileError | AccountError) else 1
    except OSError as exc:
        print(f"{where}: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 1
