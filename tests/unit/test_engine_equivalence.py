"""Normalize + correlate give byte-identical outputs to a golden run recorded before the hot paths were optimized.

The golden file (tests/unit/data/engine_golden.jsonl.gz) was produced by the original implementation from
the deterministic scenario below: syslog, traps and checks on a small topology (so incidents, hold-downs,
symptoms, merges and flapping interact), ticks, silences, maintenance windows, acks, topology updates and a
snapshot/restore midway. It holds a digest per step; `--dump FILE` writes the full outputs to diff two
implementations. Regenerate it only on a deliberate behaviour change:

    python tests/unit/test_engine_equivalence.py --regen
"""

from __future__ import annotations

import gzip
import hashlib
import random
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from tests import configured
from vigie.pipelines.correlate.engine import Engine, Output
from vigie.pipelines.correlate.grouping import root_of
from vigie.pipelines.correlate.incident_model import SYMPTOM, MemberCounters
from vigie.pipelines.normalize.normalize import LINK_DOWN, LINK_UP, Normalizer
from vigie.pipelines.normalize.rules import RuleSet
from vigie.schemas.codec import rfc3339

GOLDEN = Path(__file__).parent / "data" / "engine_golden.jsonl.gz"
T = 1_740_823_200.0  # 2025-03-01T10:00:00Z (a Saturday)
STEPS = 6000
SEED = 20250301

ROUTERS = [f"r{i}" for i in range(6)]
HOSTS = [f"h{i}" for i in range(30)]
INVENTORY: dict[str, Any] = {
    "default_site": "hq",
    "hosts": {
        "core": {"site": "hq", "address": "10.0.0.254"},
        **{
            r: {"site": "hq" if i < 3 else "lyon", "parents": ["core"], "address": f"10.0.0.{i}"}
            for i, r in enumerate(ROUTERS)
        },
        **{
            h: {
                "site": "hq" if i % 6 < 3 else "lyon",
                # a few hosts have two parents: unreachable only when both are impaired
                "parents": [ROUTERS[i % 6]] + ([ROUTERS[(i + 1) % 6]] if i % 7 == 0 else []),
                **({"max_check_attempts": 1} if i % 5 == 0 else {}),
                **({"services": {"HTTP": {"max_check_attempts": 2}}} if i % 4 == 0 else {}),
            }
            for i, h in enumerate(HOSTS)
        },
    },
}
ROUTES: list[dict[str, Any]] = [
    {
        "name": "critical",
        "match": {"severity": "critical"},
        "continue": True,
        "repeat_interval": "2m",
        "escalate_after": "5m",
        "escalate_to": "managers",
    },
    {"name": "lyon-day", "match": {"site": "lyon"}, "timeperiod": "day"},
    {"name": "managers", "match": {"kind": "none"}, "send_resolved": False},
    {"name": "oncall", "repeat_interval": "10m"},
]
PERIODS = {"day": {"timezone": "Europe/Paris", "monday..sunday": "10:30-11:30"}}
CONFIG = {"update_interval": "1s", "incident_window": "2m", "hold_down": "20s"}
RETENTION = 900.0



def engine() -> Engine:
    """The engine of the settings above, through the config's checks (retention is the engine's own argument)."""
    alert_config, incident_config = configured.correlation(CONFIG)
    return Engine(
        configured.inventory(INVENTORY),
        alert_config=alert_config,
        incident_config=incident_config,
        router=configured.router(ROUTES, PERIODS),
        retention=RETENTION,
    )


SYSLOG = [
    "%LINK-3-UPDOWN: Interface Gi0/{i}, changed state to {s}",
    "%LINEPROTO-5-UPDOWN: Line protocol on Interface Gi0/{i}, changed state to {s}",
    "e1000e: eth{i} NIC Link is {S}",
    "blk_update_request: I/O error, dev sd{c}, sector 12",
    "Accepted publickey for alice from 10.0.0.{i} port 5000 ssh2",
    "CRON[1234]: (root) CMD (run-parts /etc/cron.hourly)",
]


def _control(rnd: random.Random, n: int, now: float) -> tuple[dict[str, Any] | None, str | None]:
    """A random control command (or a tombstone) among silences, maintenances, acks and topology updates."""
    base = {"schema": "control/1", "author": "alice", "reason": "test"}
    pick = rnd.random()
    if pick < 0.25:
        host = rnd.choice(HOSTS + ROUTERS)
        return {
            **base,
            "id": f"sil-{n % 4}",
            "kind": "silence",
            "matchers": [f"host={host}"] if rnd.random() < 0.6 else ["severity=~warn.*"],
            "start": now - 5,
            "end": now + rnd.choice([30, 120, 600]),
        }, None
    if pick < 0.4:
        return None, f"sil-{rnd.randint(0, 3)}"
    if pick < 0.6:
        return {
            **base,
            "id": f"mnt-{n % 2}",
            "kind": "maintenance",
            "hosts": [rnd.choice(ROUTERS)],
            "include_children": rnd.random() < 0.7,
            "start": now,
            "end": now + rnd.choice([60, 300]),
        }, None
    if pick < 0.85:
        cmd: dict[str, Any] = {**base, "id": f"ack-{n}", "kind": "acknowledge"}
        if rnd.random() < 0.5:
            cmd["matchers"] = [f"host={rnd.choice(HOSTS + ROUTERS)}"]
        else:
            cmd["fingerprint"] = f"{rnd.choice(HOSTS)}|check|PING"
        return cmd, None
    host = rnd.choice(HOSTS)
    parents = rnd.sample(ROUTERS, rnd.choice([1, 1, 2]))
    return {**base, "id": f"topo-{n}", "kind": "topology", "hosts": {host: {"parents": parents}}}, None


def scenario(seed: int = SEED, steps: int = STEPS) -> Iterator[tuple[str, Any]]:
    """Deterministic inputs: ('event', (kind, raw, now)), ('tick', now), ('control', (value, key, now)), ('snapshot', now)."""
    rnd = random.Random(seed)
    now = T
    for n in range(steps):
        now += rnd.choice([0.0, 0.0, 0.05, 0.3, 1.0, 2.5, 7.0])
        r = rnd.random()
        if r < 0.02:
            yield "tick", now
            continue
        if r < 0.027:
            yield "control", (*_control(rnd, n, now), now)
            continue
        if n == steps // 2:
            yield "snapshot", now
        # a storm on a few routers now and then (their children become symptoms), else calm routers
        storm = n % 1000 < 300
        router = rnd.choice(ROUTERS[:2] if storm else ROUTERS)
        i = rnd.randint(0, 1)
        down = rnd.random() < (0.6 if storm else 0.2)
        if r < 0.35:
            text = rnd.choice(SYSLOG).format(
                i=i, s="down" if down else "up", S="Down" if down else "Up", c="ab"[i % 2]
            )
            host = router if rnd.random() < 0.7 else rnd.choice(HOSTS)
            raw = {"hostname": host, "msg": text, "app_name": "kernel", "cisco": None, "severity": 3}
            yield "event", ("syslog", raw, now)
        elif r < 0.45:
            raw = {
                "trap_oid": LINK_DOWN if down else LINK_UP,
                "agent_address": f"10.0.0.{rnd.randint(0, 5)}",
                "received_at": now,
                "varbinds": [
                    {"oid": f"1.3.6.1.2.1.2.2.1.1.{i}", "value": i},
                    {"oid": f"1.3.6.1.2.1.31.1.1.1.1.{i}", "value": f"Gi0/{i}"},
                ],
            }
            yield "event", ("trap", raw, now)
        else:
            if rnd.random() < 0.25:
                host, service = rnd.choice(ROUTERS + ["core"]), None
                status = 2 if down else 0
            else:
                host = rnd.choice(HOSTS)
                service = rnd.choice(["PING", "HTTP", "DISK", None])
                status = rnd.choice([0, 0, 0, 1, 2, 2, 3]) if service else rnd.choice([0, 0, 2])
            raw = {"host": host, "service": service, "status": status, "output": f"out {status}\nmore"}
            raw["check_time"] = now
            yield "event", ("check", raw, now)
    yield "tick", now + 1
    yield "tick", now + 3600


def _output(out: Output) -> dict[str, Any]:
    return {
        "alerts": out.alerts,
        "incidents": out.incidents,
        "notifications": out.notifications,
        "deleted_alerts": out.deleted_alerts,
        "reports": out.reports,
        "errors": out.errors,
    }


def run(
    seed: int = SEED, steps: int = STEPS, check: Callable[[Engine], None] | None = None
) -> Iterator[bytes]:
    """One JSON line per step (the normalized event and the engine's output), then the final snapshot.

    `check` is called with the engine after every step (invariant tests).
    """
    norm = Normalizer(configured.inventory(INVENTORY))
    eng = engine()
    fns = {"syslog": norm.syslog, "trap": norm.trap, "check": norm.check}
    opts = orjson.OPT_SORT_KEYS
    for what, arg in scenario(seed, steps):
        if what == "event":
            kind, raw, now = arg
            event = fns[kind](raw)
            line: dict[str, Any] = {"event": event}
            if event is not None:
                line["out"] = _output(eng.process(event, now))
        elif what == "tick":
            line = {"tick": _output(eng.tick(arg))}
        elif what == "control":
            value, key, now = arg
            line = {"control": _output(eng.control(value, now, key=key))}
        else:
            snap = orjson.loads(orjson.dumps(eng.to_dict()))  # what a changelog round trip keeps
            eng = engine()
            eng.load(snap)
            line = {"snapshot": snap}
        if check is not None:
            check(eng)
        yield orjson.dumps(line, option=opts)
    yield orjson.dumps({"final": eng.to_dict()}, option=opts)


def digest(line: bytes) -> bytes:
    """16 hex digits per step: the full outputs (incidents carry up to 500 explain entries) would weigh 40 MB."""
    return hashlib.blake2b(line, digest_size=8).hexdigest().encode()


def test_engine_matches_the_golden_run():
    with gzip.open(GOLDEN, "rb") as f:
        expected = f.read().split()
    got = [digest(line) for line in run()]
    assert len(got) == len(expected)
    steps = list(scenario())
    for n, (a, b) in enumerate(zip(got, expected, strict=True)):
        what = steps[n][0] if n < len(steps) else "final snapshot"
        assert a == b, f"step {n} ({what}) differs from the golden run"


def _check_counters(eng: Engine) -> None:
    """Every open incident's counters and cached lists/root equal a rescan of its members."""
    for inc in eng.correlation.incidents.values():
        agg = inc._counters
        if agg is None:
            continue
        fresh = MemberCounters(inc.members)
        for name in (
            "n",
            "n_open",
            "n_sym",
            "sev_cause",
            "sev_firing",
            "sev_all",
            "hosts",
            "cause_hosts",
            "sym_hosts",
        ):
            assert getattr(agg, name) == getattr(fresh, name), (inc.id, name)
        assert list(agg.causes) == list(fresh.causes), inc.id
        if agg.lists_ver == agg.ver:
            symptoms = [fp for fp, m in inc.members.items() if m["role"] == SYMPTOM]
            hosts = sorted({m["host"] for m in inc.members.values()})
            assert agg.lists == (list(inc.members), symptoms, hosts), inc.id
        if agg.core_key[0] == agg.cause_ver and agg.causes:
            causes = [(fp, inc.members[fp]) for fp in agg.causes]
            assert agg.core == root_of(causes, agg.core_key[1]), inc.id


def test_incident_counters_match_a_rescan():
    for _ in run(seed=7, steps=2500, check=_check_counters):
        pass


def test_scenario_exercises_the_interesting_paths():
    """Guard against a scenario that silently stopped covering incidents, symptoms and notifications."""
    text = b"".join(run(steps=3000))
    for needle in (
        b'"decision":"symptom"',
        b'"decision":"merge"',
        b'"decision":"release"',
        b'"decision":"join"',
        b'"decision":"refire"',
        b'"decision":"truncated"',
        b"hold-down",
        b'"reason":"escalated"',
        b'"reason":"flapping_start"',
        b'"reason":"flapping_stop"',
        b'"reason":"updated"',
        b'"reason":"repeat"',
        b'"reason":"resolved"',
        b"maintenance_end",
        b'"kind":"silence"',
        b'deleted_alerts":["',
    ):
        assert needle in text, needle


if __name__ == "__main__":
    if sys.argv[1:2] == ["--regen"]:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        with gzip.GzipFile(GOLDEN, "wb", mtime=0) as f:
            for line in run():
                f.write(digest(line) + b"\n")
        print(f"wrote {GOLDEN} ({GOLDEN.stat().st_size} bytes)")
    elif sys.argv[1:2] == ["--dump"]:  # the full outputs, to diff two implementations step by step
        with gzip.GzipFile(sys.argv[2], "wb", mtime=0) as f:
            for line in run():
                f.write(line + b"\n")


def test_rfc3339_fast_path_matches_strftime_including_rounding_edges():
    """codec.rfc3339 formats epoch seconds without strftime: the same text as datetime's, cached or not."""
    rnd = random.Random(3)
    values = [T + rnd.random() * 1e6 for _ in range(20000)]
    values += [T + k + 0.9999995 + d for k in range(200) for d in (-1e-9, 0.0, 1e-9)]
    values += [float(int(T)) + j * 1e-6 + 5e-7 for j in range(2000)]
    values += [0.0, 1.5, 5e-7, 1.5e-6, T, int(T)]
    for v in values:
        expected = datetime.fromtimestamp(v, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert rfc3339(v) == expected, v
        assert rfc3339(v) == expected, v  # the remembered value


def test_rule_guard_fast_path_matches_the_regex_guard():
    fast = RuleSet.default()
    slow = RuleSet.default()
    slow._literals = None  # the regex alternation only
    messages = [
        "NIC Link is Down",
        "eth0: NIC LINK IS down",
        "Power Supply 2 failed",
        "POWER-SUPPLY ok",
        "FAN tray 1 failure",
        "fan 3 ok",
        "ﬀan ok",  # non-ASCII: the regex decides
        "Faɴ failure",
        "İ/O error on sda",
        "blk_update_request: I/O error, dev sda, sector 12",
        "Accepted publickey for alice",
        "Out of memory: Killed process 42",
        "",
    ]
    for msg in messages:
        a, b = fast.match(msg, "kernel"), slow.match(msg, "kernel")
        assert (a and (a.rule.name, a.component, a.clear)) == (b and (b.rule.name, b.component, b.clear)), msg
