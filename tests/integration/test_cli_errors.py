"""No verb of `vigie` prints a traceback: bad arguments, bad values and a broker that is down each end a verb with
one line on stderr and a non-zero exit, within 10 s. The verbs are enumerated from the parser, so a new verb
fails here until it is given a line in VALID below."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from vigie.app.cli import build_parser
from vigie.local_broker import free_port

pytestmark = pytest.mark.integration
STATE_FILE = Path(__file__).resolve().parents[1] / "data" / "state" / "vigie-state-1.json"

# Arguments that make each verb go as far as it can: up to Kafka for those that use it.
VALID: dict[tuple[str, ...], list[str]] = {
    ("up",): [],
    ("config", "check"): ["{conf}"],
    ("broker",): ["status"],
    ("topics",): ["--bootstrap", "{down}"],
    ("parse", "syslog"): [],
    ("parse", "check"): [],
    ("parse", "connlog"): [],
    ("alerts",): ["--bootstrap", "{down}"],
    ("incidents",): ["--bootstrap", "{down}"],
    ("notify",): ["--route", "ops", "--webhook", "http://127.0.0.1:9/", "--bootstrap", "{down}"],
    ("service",): ["pipelines", "--bootstrap", "{down}"],
    ("silence",): ["--match", "host=rtr1", "--duration", "1h", "--reason", "test", "--bootstrap", "{down}"],
    ("ack",): ["--host", "rtr1", "--reason", "test", "--bootstrap", "{down}"],
    ("maintenance",): ["--host", "rtr1", "--duration", "1h", "--reason", "test", "--bootstrap", "{down}"],
    ("archive", "query"): ["--from", "2026-01-01", "--to", "2026-01-02", "--no-progress"],
    ("archive", "verify"): [],
    ("archive", "purge"): ["--retention-days", "365"],
    ("archive", "audit"): [],
    ("archive", "export"): ["--ip", "10.0.0.1", "--from", "2026-01-01", "--to", "2026-01-02", "--out", "{conf}.export"],
    ("replay",): ["--file", "{conf}.jsonl", "--config", "{conf}"],
    ("import", "nagios"): ["{conf}", "--out", "{conf}.out"],
    ("import", "nagios-state"): ["{conf}", "--bootstrap", "{down}"],
    ("inventory", "show"): ["--config", "{conf}"],
    ("user", "add"): ["alice", "--role", "viewer", "--password-stdin"],
    ("user", "passwd"): ["alice", "--password-stdin"],
    ("user", "role"): ["alice", "operator"],
    ("user", "disable"): ["alice"],
    ("user", "enable"): ["alice"],
    ("user", "list"): [],
    ("install-units",): ["--prefix", "{conf}.units", "--config", "{conf}"],
    ("state", "export"): ["--out", "{conf}.state.json", "--bootstrap", "{down}"],
    ("state", "import"): ["{state_file}", "--bootstrap", "{down}"],
    ("action", "list"): ["--bootstrap", "{down}"],
    ("action", "cancel"): ["shutdown-room1", "--reason", "test", "--bootstrap", "{down}"],
}
# The verbs that talk to Kafka, run once more with the broker down (a closed port as bootstrap).
USES_KAFKA = {("up",), ("topics",), ("alerts",), ("incidents",), ("notify",), ("service",), ("silence",), ("ack",),
              ("maintenance",), ("import", "nagios-state"), ("state", "export"), ("state", "import"),
              ("action", "list"), ("action", "cancel")}
# Values of the right shape but wrong content, for verbs whose parser cannot refuse them itself.
BAD_VALUES: dict[tuple[str, ...], list[str]] = {
    ("config", "check"): ["{bad_conf}"],
    ("up",): ["--config", "{bad_conf}"],
    ("archive", "query"): ["--from", "yesterday-ish", "--to", "2026-01-02", "--no-progress"],
    ("archive", "purge"): ["--retention-days", "-3"],
    ("silence",): ["--match", "host=rtr1", "--duration", "soon", "--reason", "test", "--bootstrap", "{down}"],
    ("parse", "check"): ["--status", "9"],
    ("service",): ["archive", "--config", "{bad_conf}"],
    ("user", "add"): ["alice", "--role", "viewer", "--password-stdin"],
    ("user", "passwd"): ["nobody", "--password-stdin"],
    ("install-units",): ["--user", "Bad User", "--prefix", "{conf}.units", "--config", "{conf}"],
    ("state", "import"): ["{conf}", "--bootstrap", "{down}"],
}


def leaf_verbs(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path
        return
    for name, sub in subs[0].choices.items():
        yield from leaf_verbs(sub, (*path, name))


def run(argv: list[str], tmp: Path) -> tuple[int, list[str], float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
    env.update(VIGIE_STATE_DIR=str(tmp / "state"), VIGIE_ARCHIVE_ROOT=str(tmp / "archive"))
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "vigie.app.cli", *argv], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env=env, timeout=60)
    return proc.returncode, [line for line in proc.stderr.splitlines() if line.strip()], time.monotonic() - t0


@pytest.fixture()
def fill(tmp_path: Path):
    down = f"127.0.0.1:{free_port()}"
    conf = tmp_path / "vigie.toml"
    conf.write_text(f'state_dir = "{tmp_path / "state"}"\n[kafka]\nbootstrap_servers = "{down}"\n'
                    '[metrics]\nenabled = false\n')
    bad = tmp_path / "bad.toml"
    bad.write_text('[syslog]\nenabled = "yes please"\n')

    def fill_in(args: list[str]) -> list[str]:
        return [a.format(down=down, conf=conf, bad_conf=bad, state_file=STATE_FILE) for a in args]

    return fill_in, conf


def check_all(runs: dict[str, list[str]], tmp: Path) -> None:
    with ThreadPoolExecutor(2) as pool:
        results = dict(zip(runs, pool.map(lambda argv: run(argv, tmp), runs.values()), strict=True))
    problems = []
    for name, (code, lines, elapsed) in results.items():
        if code == 0 or len(lines) != 1 or elapsed > 10 or any("Traceback" in line for line in lines):
            problems.append(f"{name}: exit {code} after {elapsed:.1f} s, stderr:\n  " + "\n  ".join(lines[:12]))
    assert not problems, "\n".join(problems)


def test_every_verb_is_listed_here() -> None:
    assert set(leaf_verbs(build_parser(full=True))) == set(VALID)
    assert USES_KAFKA <= set(VALID) and set(BAD_VALUES) <= set(VALID)


def test_bad_arguments_give_one_line_and_a_non_zero_exit(tmp_path: Path, fill) -> None:
    fill_in, _ = fill
    runs = {}
    for verb, args in VALID.items():
        runs[f"{' '.join(verb)} --no-such-option"] = [*verb, *fill_in(args), "--no-such-option"]
        runs[f"{' '.join(verb)} with a stray word"] = [*verb, *fill_in(args), "stray-word"]
    for verb, args in BAD_VALUES.items():
        runs[f"{' '.join(verb)} {' '.join(args)}"] = [*verb, *fill_in(args)]
    check_all(runs, tmp_path)


def test_with_the_broker_down_every_kafka_verb_gives_one_line_within_10_s(tmp_path: Path, fill) -> None:
    fill_in, conf = fill
    runs = {" ".join(verb): [*verb, *fill_in(VALID[verb]), "--config", str(conf)] for verb in sorted(USES_KAFKA)}
    check_all(runs, tmp_path)


def test_config_check_validates_a_file_without_starting_anything(tmp_path: Path, fill) -> None:
    fill_in, conf = fill
    code, lines, _ = run(["config", "check", str(conf)], tmp_path)
    proc = subprocess.run([sys.executable, "-m", "vigie.app.cli", "config", "check", str(conf)],
                          capture_output=True, text=True, timeout=30)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"ok: {conf}\n", "")
    code, lines, _ = run(fill_in(["config", "check", "{bad_conf}"]), tmp_path)
    assert code == 2 and len(lines) == 1 and "syslog.enabled" in lines[0]
    assert not (tmp_path / "state").exists()
