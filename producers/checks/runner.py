"""The active check runner: schedules and executes Nagios plugins the way Nagios does, writing results to raw.checks."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import os
import random
import shlex
import signal
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vigie.producers.checks.plugin_output import check_result
from vigie.schemas.codec import dumps
from vigie.sink import BufferFull, RecordSink
from vigie.topics import RAW_CHECKS

if TYPE_CHECKING:
    from vigie.stage_metrics import CheckMetrics

log = logging.getLogger(__name__)

PLUGIN_DIRS = ("/usr/lib/nagios/plugins", "/usr/lib/monitoring-plugins", "/usr/local/nagios/libexec")
MAX_OUTPUT = 64 * 1024  # bytes of plugin stdout kept (Nagios 4 keeps about as much)
OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3


@dataclass(frozen=True)
class ServiceDef:
    """One active check; intervals and timeout in seconds (the config layer converts Nagios' minutes)."""

    host: str
    command: str | tuple[str, ...] | list[str]
    service: str | None = None  # None: a host check
    address: str | None = None  # $HOSTADDRESS$; the host name when not given
    check_interval: float = 300.0
    retry_interval: float = 60.0
    max_check_attempts: int = 3
    timeout: float = 60.0
    macros: Mapping[str, str] = field(default_factory=dict)  # extra $NAME$ values, e.g. {"ARG1": "80"}

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("a check needs a host")
        if not self.command:
            raise ValueError(f"check {self.name}: command is empty")
        if self.check_interval <= 0 or self.retry_interval <= 0 or self.timeout <= 0:
            raise ValueError(f"check {self.name}: check_interval, retry_interval and timeout must be > 0")
        if self.max_check_attempts < 1:
            raise ValueError(f"check {self.name}: max_check_attempts must be >= 1")

    @property
    def name(self) -> str:
        return f"{self.host}/{self.service}" if self.service else self.host

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ServiceDef:
        """Build from a config table with the same keys; unknown keys are an error, so typos surface at start-up."""
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise ValueError(
                f"unknown check key(s): {', '.join(sorted(unknown))}; expected some of {sorted(known)}"
            )
        args = dict(d)
        if isinstance(args.get("command"), list):
            args["command"] = tuple(args["command"])
        return cls(**args)


# -- scheduling (pure) --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckState:
    """Where a check stands: last status, soft/hard, attempt number, and when it is next due (monotonic seconds)."""

    status: int = OK
    state_type: str = "hard"
    attempt: int = 1
    next_due: float = 0.0


def first_due(now: float, svc: ServiceDef, rng: random.Random) -> float:
    """Spread first checks randomly over one check interval so a restart does not fire every plugin at once."""
    return now + rng.uniform(0.0, svc.check_interval)


def is_up(status: int, svc: ServiceDef) -> bool:
    """OK; for a host check WARNING too: Nagios 4 takes a host plugin's WARNING as UP (without aggressive host
    checking), and normalize reads host results the same way."""
    return status == OK or (svc.service is None and status == WARNING)


def next_state(prev: CheckState, status: int, now: float, svc: ServiceDef) -> CheckState:
    """Nagios' retry logic: check_interval while OK (a host: UP) or hard; retry_interval while soft until
    max_check_attempts."""
    if is_up(status, svc):
        return CheckState(status, "hard", 1, now + svc.check_interval)
    if is_up(prev.status, svc):
        attempt = 1  # a new problem
    elif prev.state_type == "hard":
        return CheckState(status, "hard", svc.max_check_attempts, now + svc.check_interval)
    else:
        attempt = prev.attempt + 1
    if attempt >= svc.max_check_attempts:
        return CheckState(status, "hard", svc.max_check_attempts, now + svc.check_interval)
    return CheckState(status, "soft", attempt, now + svc.retry_interval)


# -- command lines ------------------------------------------------------------------------------------


def build_argv(svc: ServiceDef, plugin_dirs: Iterable[str] = PLUGIN_DIRS) -> list[str]:
    """The plugin's argv: split the command line first, then expand $MACROS$ per argument (no shell, no injection)."""
    argv = shlex.split(svc.command) if isinstance(svc.command, str) else [str(a) for a in svc.command]
    if not argv:
        raise ValueError(f"check {svc.name}: command is empty")
    dirs = list(plugin_dirs)
    macros = {
        "HOSTNAME": svc.host,
        "HOSTADDRESS": svc.address or svc.host,
        "SERVICEDESC": svc.service or "",
        "USER1": next((d for d in dirs if os.path.isdir(d)), dirs[0] if dirs else ""),
        **{k.strip("$"): str(v) for k, v in svc.macros.items()},
    }
    argv = [_expand(a, macros) for a in argv]
    if "/" not in argv[0]:
        for d in dirs:
            candidate = os.path.join(d, argv[0])
            if os.path.isfile(candidate):
                argv[0] = candidate
                break
    return argv


def _expand(arg: str, macros: Mapping[str, str]) -> str:
    """Replace $NAME$ by its value; unknown macros stay as written (Nagios leaves them empty, which hides typos)."""
    if "$" not in arg:
        return arg
    out, i = [], 0
    while i < len(arg):
        j = arg.find("$", i)
        if j < 0:
            out.append(arg[i:])
            break
        k = arg.find("$", j + 1)
        if k < 0:
            out.append(arg[i:])
            break
        name = arg[j + 1 : k]
        out.append(arg[i:j])
        if name == "":
            out.append("$")  # $$ is a literal dollar
        elif name in macros:
            out.append(macros[name])
        else:
            out.append(arg[j : k + 1])
        i = k + 1
    return "".join(out)


# -- execution ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Execution:
    """What one plugin run gave: the status Vigie reports, the plugin's output, and how long it took."""

    status: int
    output: str
    duration: float
    timed_out: bool = False  # killed at its timeout (counted apart: a slow plugin is not a failing service)


async def _read_capped(stream: asyncio.StreamReader | None, limit: int) -> bytes:
    """Read a pipe to EOF, keeping the first `limit` bytes (a chatty plugin must not exhaust memory)."""
    if stream is None:
        return b""
    kept = bytearray()
    while chunk := await stream.read(65536):
        if len(kept) < limit:
            kept += chunk[: limit - len(kept)]
    return bytes(kept)


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """Kill the plugin and everything it started (it leads its own process group), as Nagios does on timeout."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


async def execute(
    argv: list[str], timeout: float, kind: str = "Service", clock: Callable[[], float] = time.monotonic
) -> Execution:
    """Run one plugin with Nagios semantics: exit code 0..3 is the status; anything else, or a timeout, is UNKNOWN."""
    started = clock()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # own process group, so a timeout can kill the whole tree
        )
    except FileNotFoundError:
        return Execution(
            UNKNOWN, f"(Plugin not found: {argv[0]}) - install it or give its full path", clock() - started
        )
    except PermissionError:
        return Execution(
            UNKNOWN, f"(Plugin not executable: {argv[0]}) - check its permissions", clock() - started
        )
    except OSError as exc:
        return Execution(UNKNOWN, f"(Could not run {argv[0]}: {exc.strerror or exc})", clock() - started)
    reading = asyncio.gather(
        _read_capped(proc.stdout, MAX_OUTPUT), _read_capped(proc.stderr, 4096), proc.wait()
    )
    try:
        stdout, stderr, code = await asyncio.wait_for(reading, timeout)
    except (TimeoutError, asyncio.CancelledError) as exc:
        _kill_group(proc)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.wait(), 5)
        if isinstance(exc, asyncio.CancelledError):
            raise
        return Execution(UNKNOWN, f"({kind} check timed out after {timeout:.2f} seconds)", clock() - started,
                         timed_out=True)
    duration = clock() - started
    out = stdout.decode("utf-8", errors="replace")
    err = stderr.decode("utf-8", errors="replace").strip()
    if not out.strip():
        out = "(No output on stdout)" + (f" stderr: {err}" if err else "")
    if code < 0:
        return Execution(UNKNOWN, f"(Plugin killed by signal {-code})\n{out}", duration)
    if code > UNKNOWN:
        hint = " - plugin may be missing or not executable" if code in (126, 127) else ""
        return Execution(UNKNOWN, f"(Return code of {code} is out of bounds{hint})\n{out}", duration)
    return Execution(code, out, duration)


# -- the runner ---------------------------------------------------------------------------------------


class CheckRunner:
    """Runs a fixed set of active checks forever, at most `concurrency` plugins at a time."""

    def __init__(
        self,
        sink: RecordSink,
        services: Iterable[ServiceDef],
        *,
        concurrency: int = 16,
        plugin_dirs: Iterable[str] = PLUGIN_DIRS,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        full_retry: float = 1.0,
        metrics: CheckMetrics | None = None,
    ) -> None:
        self._sink = sink
        self._metrics = metrics
        self.services = list(services)
        self._plugin_dirs = tuple(plugin_dirs)
        self._clock = clock
        self._wall = wall
        self._rng = rng or random.Random()
        self._sem = asyncio.Semaphore(concurrency)
        self._full_retry = full_retry
        self.states: dict[int, CheckState] = {}
        self._stopping = asyncio.Event()
        self._wakeup = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._done: list[int] = []

    async def check_once(self, svc: ServiceDef) -> dict[str, Any]:
        """Run one check now and write its result to raw.checks; returns the topic value."""
        value, _ = await self._check(svc)
        return value

    async def _check(self, svc: ServiceDef) -> tuple[dict[str, Any], float]:
        """Run and write one check; also returns when it started (monotonic), from which the next run is planned."""
        async with self._sem:
            started = self._clock()
            check_time = self._wall()
            kind = "Service" if svc.service else "Host"
            try:
                argv = build_argv(svc, self._plugin_dirs)
            except ValueError as exc:  # e.g. unbalanced quotes in the command line
                result = Execution(UNKNOWN, f"(Bad command line: {exc})", 0.0)
            else:
                result = await execute(argv, svc.timeout, kind, self._clock)
        if self._metrics is not None:
            self._metrics.observe(result.status, result.timed_out)
        value = check_result(
            svc.host,
            svc.service,
            result.status,
            result.output,
            "active",
            check_time,
            round(result.duration, 6),
        )
        await self._produce(value)
        return value, started

    async def _produce(self, value: dict[str, Any]) -> None:
        """Write one result, waiting while the sink is full: a result is never dropped silently."""
        data, key = dumps(value), value["host"].encode("utf-8")
        warned = False
        while True:
            try:
                self._sink.produce(RAW_CHECKS, data, key=key)
                return
            except BufferFull:
                if not warned:
                    log.warning("sink full; holding the result of %s/%s", value["host"], value["service"])
                    warned = True
                await asyncio.sleep(self._full_retry)

    async def _run_one(self, idx: int) -> None:
        svc = self.services[idx]
        started = self._clock()
        try:
            value, started = await self._check(svc)
            status = value["status"]
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug must not stop the schedule of this check
            log.exception("check %s failed", svc.name)
            status = UNKNOWN
        # Planned from the start of the run, as Nagios does, so plugin run time does not make the schedule drift.
        self.states[idx] = next_state(self.states[idx], status, started, svc)
        self._done.append(idx)
        self._wakeup.set()

    async def run(self) -> None:
        """Schedule every check (first run jittered) until stop() or cancellation."""
        now = self._clock()
        heap: list[tuple[float, int]] = []
        for idx, svc in enumerate(self.services):
            self.states[idx] = CheckState(next_due=first_due(now, svc, self._rng))
            heap.append((self.states[idx].next_due, idx))
        heapq.heapify(heap)
        try:
            while not self._stopping.is_set():
                while self._done:  # checks that finished: back in the queue at their next due time
                    idx = self._done.pop()
                    heapq.heappush(heap, (self.states[idx].next_due, idx))
                now = self._clock()
                while heap and heap[0][0] <= now:
                    _, idx = heapq.heappop(heap)
                    task = asyncio.create_task(self._run_one(idx), name=f"check {self.services[idx].name}")
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                delay = heap[0][0] - now if heap else 3600.0
                self._wakeup.clear()
                if self._done:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), delay)
        finally:
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    def stop(self) -> None:
        """Ask run() to return; plugins still running are killed."""
        self._stopping.set()
        self._wakeup.set()
