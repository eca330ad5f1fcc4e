"""Real servers for the notification channels' tests: an aiohttp HTTP(S) server that checks each request
against what the service documents, and an aiosmtpd SMTP server with STARTTLS or implicit TLS and AUTH."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from vigie.local_broker import free_port


def self_signed(directory: Path, name: str = "server") -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1 (its own CA), and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


Check = Callable[[Request], str | None]
"""Returns what is wrong with a request (the server answers 400 with it), None when it is as documented."""


@dataclass
class HttpServer:
    """An aiohttp server in its own thread: records every request, answers `statuses` in turn (then 200),
    and 400 when `check` finds the request not as the service documents it."""

    check: Check | None = None
    statuses: list[int] = field(default_factory=list)
    tls: ssl.SSLContext | None = None
    delay: float = 0.0
    on_request: Callable[[Request], bool] | None = None
    """Called as a request arrives; False: the request does not count as accepted (its sender was killed)."""
    requests: list[Request] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        threading.Thread(target=self._serve, args=(started,), daemon=True).start()
        started.wait(10)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def accepted(self) -> list[Request]:
        """Requests answered 2xx after passing the check."""
        return [r for r in self.requests if getattr(r, "status", 200) < 300]

    async def _handle(self, request: web.Request) -> web.Response:
        rec = Request(request.method, request.path, dict(request.query), dict(request.headers), await request.read())
        if self.on_request is not None and not self.on_request(rec):
            rec.status = 599  # type: ignore[attr-defined]  # answered to nobody
            self.requests.append(rec)
            return web.Response(status=200)
        if self.delay:
            await asyncio.sleep(self.delay)
        problem = self.check(rec) if self.check else None
        status = 400 if problem else (self.statuses.pop(0) if self.statuses else 200)
        if problem:
            self.problems.append(problem)
        rec.status = status  # type: ignore[attr-defined]
        self.requests.append(rec)
        return web.Response(status=status, text=problem or "ok")

    def _serve(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        self.loop.run_until_complete(runner.setup())
        self.loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port, ssl_context=self.tls).start())
        started.set()
        self.loop.run_forever()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


class _Mailbox:
    def __init__(self) -> None:
        self.mails: list[tuple[str, list[str], bytes, bool]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content,
                           bool(session.authenticated)))
        return "250 OK"


class SmtpServer:
    """aiosmtpd on a free loopback port: STARTTLS (required) or implicit TLS with a self-signed certificate,
    AUTH PLAIN/LOGIN required with user/password; mails kept as (from, to, bytes, authenticated)."""

    def __init__(self, cert: Path, key: Path, mode: str = "starttls", user: str = "vigie",
                 password: str = "s3cret") -> None:
        self.box = _Mailbox()
        self.port = free_port()

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
            ok = getattr(auth_data, "login", None) == user.encode() and auth_data.password == password.encode()
            return AuthResult(success=ok, handled=False)

        ctx = server_context(cert, key)
        kwargs: dict[str, Any] = {"authenticator": authenticator, "auth_required": True}
        if mode == "starttls":
            kwargs.update(tls_context=ctx, require_starttls=True, auth_require_tls=True)
            self.controller = Controller(self.box, hostname="127.0.0.1", port=self.port, **kwargs)
        else:
            kwargs.update(auth_require_tls=False)  # the whole connection is TLS already
            self.controller = Controller(self.box, hostname="127.0.0.1", port=self.port, ssl_context=ctx, **kwargs)
        self.controller.start()

    @property
    def mails(self) -> list[tuple[str, list[str], bytes, bool]]:
        return self.box.mails

    def close(self) -> None:
        self.controller.stop()
