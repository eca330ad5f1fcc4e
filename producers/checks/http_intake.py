"""The HTTP check-result intake: an NRDP-compatible endpoint and Vigie's JSON API, writing to raw.checks."""

from __future__ import annotations

import hmac
import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from vigie.producers.checks.auth_limit import (
    DEFAULT_MAX_ADDRESSES,
    DEFAULT_MAX_FAILURES,
    DEFAULT_WINDOW,
    FailedAuthLimiter,
)
from vigie.producers.checks.passive import (
    Batch,
    PayloadError,
    parse_api_checks,
    parse_external_commands,
    parse_nrdp_json,
    parse_nrdp_xml,
)
from vigie.schemas.codec import dumps, rfc3339
from vigie.sink import BufferFull, RecordSink, dead_letter
from vigie.topics import RAW_CHECKS

log = logging.getLogger(__name__)

DEFAULT_PORT = 5668
DEFAULT_MAX_BODY = 1024 * 1024
NRDP_PRODUCT, NRDP_VERSION = "nrdp", "2.0.3"  # what `cmd=hello` answers, so NRDP clients recognise the server


@dataclass(frozen=True)
class IntakeMetrics:
    """The intake's Prometheus counters; one set per registry so several listeners can share it."""

    received: Counter
    produced: Counter
    deadlettered: Counter
    rejected: Counter


# Keyed by the registry itself, weakly: keyed by id(), a registry collected after a test could hand
# its counters to a new registry allocated at the same address (seen as a flaky metrics assertion).
_METRICS: weakref.WeakKeyDictionary[CollectorRegistry, IntakeMetrics] = weakref.WeakKeyDictionary()


def intake_metrics(registry: CollectorRegistry) -> IntakeMetrics:
    """The counters registered in `registry`, created on first use (prometheus_client refuses duplicates)."""
    metrics = _METRICS.get(registry)
    if metrics is None:
        metrics = _METRICS[registry] = IntakeMetrics(
            Counter(
                "vigie_checks_received",
                "Check results received (valid or not)",
                ["listener"],
                registry=registry,
            ),
            Counter(
                "vigie_checks_produced",
                "Check results written to raw.checks",
                ["listener"],
                registry=registry,
            ),
            Counter(
                "vigie_checks_deadlettered",
                "Undecodable submissions and invalid entries written to the dead-letter topic",
                ["listener"],
                registry=registry,
            ),
            Counter(
                "vigie_checks_rejected",
                "HTTP requests refused as a whole (auth, auth_rate, size, backpressure, bad_request, method)",
                ["listener", "reason"],
                registry=registry,
            ),
        )
    return metrics


class _Busy(Exception):
    """The sink ran out of room after `accepted` results of the request were written."""

    def __init__(self, accepted: int) -> None:
        super().__init__(accepted)
        self.accepted = accepted


def _nrdp_response(
    result: dict[str, Any], as_json: bool, status: int = 200, headers: dict | None = None
) -> web.Response:
    """Answer in NRDP's own shape ({"result": {status, message, meta}}), in XML unless the client spoke JSON."""
    if as_json:
        return web.Response(
            status=status, body=dumps(result), content_type="application/json", headers=headers
        )
    return web.Response(
        status=status,
        text='<?xml version="1.0" encoding="utf-8"?>\n' + _xml(result, 0),
        content_type="text/xml",
        headers=headers,
    )


def _xml(value: Any, depth: int) -> str:
    """NRDP's generate_xml_from_arr: nested dicts as indented elements, lists as repeated elements."""
    if not isinstance(value, dict):
        return escape(str(value), {'"': "&quot;", "'": "&apos;"})
    pad = "    " * depth
    out = []
    for key, item in value.items():
        for one in item if isinstance(item, list) else [item]:
            if isinstance(one, dict):
                out.append(f"{pad}<{key}>\n{_xml(one, depth + 1)}{pad}</{key}>\n")
            else:
                out.append(f"{pad}<{key}>{_xml(one, depth + 1)}</{key}>\n")
    return "".join(out)


def _nrdp_error(message: str, info: Any = None) -> dict[str, Any]:
    result: dict[str, Any] = {"status": -1, "message": message}
    if info:
        result["information"] = info
    return {"result": result}


def _parse_safely(parse: Callable[[Any], Batch], raw: Any) -> Batch:
    """Run a parser; an exception it did not foresee refuses the submission (400, dead-lettered), never a 500."""
    try:
        return parse(raw)
    except PayloadError:
        raise
    except Exception as exc:
        log.warning("check intake: submission refused by an unexpected %s: %s", type(exc).__name__, exc)
        raise PayloadError(f"BAD DATA: unusable submission ({type(exc).__name__}: {exc})") from None


class CheckIntake:
    """Accepts check results over HTTP; only authenticated requests reach the sink, and a full sink answers 503.

    An address with `auth_max_failures` failed token attempts within `auth_window` seconds is answered 429
    (with Retry-After) for `auth_window` seconds without its token being looked at; at most
    `auth_max_addresses` addresses are remembered. `auth_max_failures=0` turns this off (behind a proxy).
    """

    def __init__(
        self,
        sink: RecordSink,
        token: str,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        registry: CollectorRegistry | None = None,
        *,
        listener: str = "checks-http",
        max_body: int = DEFAULT_MAX_BODY,
        retry_after: int = 5,
        auth_max_failures: int = DEFAULT_MAX_FAILURES,
        auth_window: float = DEFAULT_WINDOW,
        auth_max_addresses: int = DEFAULT_MAX_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(token, str) or not token.strip():
            raise ValueError("[checks] token is required: the check intake refuses to start without one")
        self._sink = sink
        self._token = token.strip().encode("utf-8")
        self.host = host
        self.port = port
        self.listener = listener
        self.max_body = max_body
        self.retry_after = retry_after
        self.auth_limiter = FailedAuthLimiter(auth_max_failures, auth_window, auth_max_addresses, clock)
        self.metrics = intake_metrics(registry if registry is not None else CollectorRegistry())
        self._runner: web.AppRunner | None = None
        self.app = web.Application(client_max_size=max_body)
        self.app.router.add_route("*", "/nrdp", self._nrdp)
        self.app.router.add_route("*", "/nrdp/", self._nrdp)
        self.app.router.add_post("/api/v1/checks", self._api_checks)
        self.app.router.add_post("/api/v1/commands", self._api_commands)

    # -- life cycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and serve; with port 0 the chosen port is then in `self.port`."""
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        addresses = runner.addresses
        if addresses:
            self.port = addresses[0][1]
        log.info("check intake %s listening on http://%s:%d/", self.listener, self.host, self.port)

    async def stop(self) -> None:
        """Stop accepting and finish requests in flight; flushing the sink is its owner's job."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # -- shared plumbing ----------------------------------------------------------------------------

    def _reject(self, reason: str) -> None:
        self.metrics.rejected.labels(self.listener, reason).inc()

    def _authorized(self, given: str | None) -> bool:
        """Constant-time token comparison."""
        return given is not None and hmac.compare_digest(
            given.strip().encode("utf-8", "surrogatepass"), self._token
        )

    def _authenticate(self, given: str | None, peer: str) -> bool:
        """Check the token and tell the limiter; a failure is counted as an `auth` rejection."""
        if self._authorized(given):
            self.auth_limiter.succeeded(peer)
            return True
        self._reject("auth")
        self.auth_limiter.failed(peer)
        return False

    def _auth_blocked(self, peer: str) -> int | None:
        """Seconds the peer must wait after too many failed tokens (counted as `auth_rate`), or None."""
        wait = self.auth_limiter.retry_after(peer)
        if wait is not None:
            self._reject("auth_rate")
        return wait

    def _too_large(self, request: web.Request) -> bool:
        return request.content_length is not None and request.content_length > self.max_body

    def _ingest(self, batch: Batch, peer: str, stage: str, path: str) -> int:
        """Write accepted results to raw.checks and bad entries to the dead-letter topic; raises _Busy when full."""
        received = len(batch.results) + len(batch.errors)
        self.metrics.received.labels(self.listener).inc(received)
        origin = {"listener": self.listener, "peer": peer, "path": path}
        headers = [
            ("received_at", rfc3339().encode()),
            ("peer", peer.encode()),
            ("listener", self.listener.encode()),
        ]
        accepted = 0
        try:
            for value in batch.results:
                self._sink.produce(
                    RAW_CHECKS, dumps(value), key=value["host"].encode("utf-8"), headers=headers
                )
                accepted += 1
                self.metrics.produced.labels(self.listener).inc()
            for err in batch.errors:
                dead_letter(self._sink, peer, stage, err.error, err.raw, origin)
                self.metrics.deadlettered.labels(self.listener).inc()
        except BufferFull:
            raise _Busy(accepted) from None
        return accepted

    def _dead_letter_payload(self, peer: str, stage: str, error: str, raw: bytes, path: str) -> None:
        """An undecodable submission (after authentication, so strangers cannot fill the topic)."""
        try:
            dead_letter(
                self._sink, peer, stage, error, raw, {"listener": self.listener, "peer": peer, "path": path}
            )
        except BufferFull:
            raise _Busy(0) from None
        self.metrics.deadlettered.labels(self.listener).inc()

    def _busy_headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}

    # -- NRDP ---------------------------------------------------------------------------------------

    async def _nrdp(self, request: web.Request) -> web.Response:
        """NRDP's index.php: cmd=hello, cmd=submitcheck (XMLDATA/JSONDATA), cmd=submitcmd (check results only)."""
        as_json = request.query.get("output_type", "").upper() in ("TYPE_JSON", "JSON")
        if request.method not in ("POST", "GET"):
            self._reject("method")
            return _nrdp_response(_nrdp_error("METHOD NOT ALLOWED"), as_json, 405, {"Allow": "POST"})
        if self._too_large(request):
            self._reject("size")
            return _nrdp_response(_nrdp_error("TOO LARGE", f"limit is {self.max_body} bytes"), as_json, 413)
        peer = request.remote or "unknown"
        wait = self._auth_blocked(peer)
        if wait is not None:
            info = f"too many failed token attempts; retry in {wait} s"
            return _nrdp_response(
                _nrdp_error("TOO MANY REQUESTS", info), as_json, 429, {"Retry-After": str(wait)}
            )
        fields: dict[str, str] = dict(request.query)
        if request.method == "POST":
            try:
                form = await request.post()
            except web.HTTPRequestEntityTooLarge:
                self._reject("size")
                return _nrdp_response(
                    _nrdp_error("TOO LARGE", f"limit is {self.max_body} bytes"), as_json, 413
                )
            except Exception as exc:  # a broken form body: nothing trustworthy to dead-letter yet
                self._reject("bad_request")
                return _nrdp_response(_nrdp_error("BAD REQUEST", str(exc)), as_json, 400)
            for key in form:
                value = form[key]
                if isinstance(value, web.FileField):
                    value = value.file.read().decode("utf-8", errors="replace")
                fields[key] = value
        xml_data = fields.get("xml") or fields.get("xmldata") or fields.get("XMLDATA") or ""
        json_data = fields.get("json") or fields.get("jsondata") or fields.get("JSONDATA") or ""
        output_type = fields.get("output_type", "").upper()
        as_json = output_type in ("TYPE_JSON", "JSON") or (
            not output_type and not xml_data and bool(json_data)
        )
        cmd = fields.get("cmd", "").strip().lower()
        if cmd == "hello":
            hello = {
                "response": {"status": 0, "message": "OK", "product": NRDP_PRODUCT, "version": NRDP_VERSION}
            }
            return _nrdp_response(hello, as_json)
        token = fields.get("token")
        if not self._authenticate(token or None, peer):
            return _nrdp_response(_nrdp_error("BAD TOKEN" if token else "NO TOKEN"), as_json, 401)
        if request.method != "POST":
            self._reject("method")
            return _nrdp_response(_nrdp_error("USE POST"), as_json, 405, {"Allow": "POST"})
        if not self._sink.has_room():
            self._reject("backpressure")
            return _nrdp_response(_nrdp_error("BUSY", "retry later"), as_json, 503, self._busy_headers())
        if cmd == "submitcheck":
            if xml_data:
                raw, parse, stage = xml_data, parse_nrdp_xml, "checks.nrdp.xml"
            elif json_data:
                raw, parse, stage = json_data, parse_nrdp_json, "checks.nrdp.json"
            else:
                self._reject("bad_request")
                return _nrdp_response(_nrdp_error("NO DATA"), as_json, 400)
        elif cmd == "submitcmd":
            raw, stage = fields.get("command", ""), "checks.nrdp.command"
            if not raw.strip():
                self._reject("bad_request")
                return _nrdp_response(_nrdp_error("NO DATA"), as_json, 400)

            def parse(text: str) -> Batch:
                return parse_external_commands(text, source="nrdp")

        else:
            self._reject("bad_request")
            return _nrdp_response(_nrdp_error("NO COMMAND" if not cmd else "BAD COMMAND"), as_json, 400)
        # Only the data field is dead-lettered: the form body also holds the token.
        try:
            try:
                batch = _parse_safely(parse, raw)
            except PayloadError as exc:
                raw_bytes = raw.encode("utf-8", "surrogatepass")
                self._dead_letter_payload(peer, stage, str(exc), raw_bytes, request.path)
                self._reject("bad_request")
                message = str(exc).split(":", 1)[0] if str(exc).startswith("BAD ") else "BAD DATA"
                return _nrdp_response(_nrdp_error(message, str(exc)), as_json, 400)
            accepted = self._ingest(batch, peer, stage, request.path)
        except _Busy as busy:
            self._reject("backpressure")
            info = f"{busy.accepted} checks were written before the buffer filled; resend the batch later"
            return _nrdp_response(_nrdp_error("BUSY", info), as_json, 503, self._busy_headers())
        errors = [e.error for e in batch.errors]
        if errors and not accepted:
            return _nrdp_response(_nrdp_error("BAD DATA", errors), as_json, 400)
        output = f"{accepted} checks processed"
        if errors:
            output += f", {len(errors)} rejected: " + "; ".join(errors[:20])
        return _nrdp_response({"result": {"status": 0, "message": "OK", "meta": {"output": output}}}, as_json)

    # -- Vigie's JSON API ---------------------------------------------------------------------------

    def _api_token(self, request: web.Request) -> str | None:
        auth = request.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return request.headers.get("X-Vigie-Token")

    async def _api(self, request: web.Request, parse: Any, stage: str) -> web.Response:
        """Common path of /api/v1/checks and /api/v1/commands: auth, size, back-pressure, parse, write."""
        if self._too_large(request):
            self._reject("size")
            return web.json_response({"error": f"body larger than {self.max_body} bytes"}, status=413)
        peer = request.remote or "unknown"
        wait = self._auth_blocked(peer)
        if wait is not None:
            return web.json_response(
                {"error": f"too many failed token attempts; retry in {wait} s"},
                status=429,
                headers={"Retry-After": str(wait)},
            )
        if not self._authenticate(self._api_token(request), peer):
            return web.json_response(
                {"error": "missing or wrong token (Authorization: Bearer <token>)"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="vigie"'},
            )
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            self._reject("size")
            return web.json_response({"error": f"body larger than {self.max_body} bytes"}, status=413)
        if not self._sink.has_room():
            self._reject("backpressure")
            return web.json_response(
                {"error": "buffer full, retry later"}, status=503, headers=self._busy_headers()
            )
        try:
            try:
                batch = _parse_safely(parse, body)
            except PayloadError as exc:
                self._dead_letter_payload(peer, stage, str(exc), body, request.path)
                self._reject("bad_request")
                return web.json_response({"error": str(exc)}, status=400)
            accepted = self._ingest(batch, peer, stage, request.path)
        except _Busy as busy:
            self._reject("backpressure")
            return web.json_response(
                {
                    "error": "buffer full, resend the whole request later",
                    "written_before_full": busy.accepted,
                },
                status=503,
                headers=self._busy_headers(),
            )
        errors = [e.as_dict() for e in batch.errors]
        status = 400 if errors and not accepted else 202
        return web.json_response(
            {"accepted": accepted, "rejected": len(errors), "errors": errors}, status=status
        )

    async def _api_checks(self, request: web.Request) -> web.Response:
        """POST /api/v1/checks: one JSON result or a list of them."""
        return await self._api(request, parse_api_checks, "checks.api")

    async def _api_commands(self, request: web.Request) -> web.Response:
        """POST /api/v1/commands: Nagios external command lines, one per line."""
        return await self._api(request, parse_external_commands, "checks.commands")
