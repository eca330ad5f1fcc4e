"""What every channel shares: the Channel interface, the two kinds of failure, HTTP and TLS plumbing.

A channel turns one notification (the notifications topic's value) into one request to its service
and returns when the service accepted it. It raises Permanent when the service refused it for good
(retrying cannot help: a 4xx other than 408/429, a rejected recipient) and OSError for anything worth
retrying (network, 5xx, 429, a temporary SMTP error). Retries, give-up and state are the runner's.
"""

from __future__ import annotations

import base64
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from vigie.config import secret

if TYPE_CHECKING:
    from vigie.config import ReceiverConfig


class Permanent(Exception):
    """The receiver refused the notification for good (4xx other than 408/429, SMTP 5xx)."""


class Channel(Protocol):
    """One configured receiver: `receiver` is its name, `kind` its type (a metrics label)."""

    receiver: str
    kind: str

    def send(self, notification: dict[str, Any]) -> None:
        """Deliver once; raises Permanent (refused for good) or OSError (worth retrying)."""


def tls_context(ca_file: str | None, insecure_skip_verify: bool) -> ssl.SSLContext:
    """A client TLS context: the system's CAs, or ca_file's; no checking at all only when asked."""
    ctx = ssl.create_default_context(cafile=ca_file)
    if insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


@dataclass(frozen=True)
class HttpTarget:
    """Where an HTTP channel sends, with its headers (credentials resolved from the environment once)."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 10.0
    context: ssl.SSLContext | None = None

    @classmethod
    def from_config(cls, name: str, rc: ReceiverConfig) -> HttpTarget:
        headers = dict(rc.headers)
        token = secret(rc.bearer_token_env, f"receivers.{name}.bearer_token_env")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if rc.basic_username is not None:
            password = secret(rc.basic_password_env, f"receivers.{name}.basic_password_env") or ""
            pair = base64.b64encode(f"{rc.basic_username}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {pair}"
        return cls(rc.url or "", headers, rc.timeout, tls_context(rc.ca_file, rc.insecure_skip_verify))

    def send(self, body: bytes | None, content_type: str | None, *, method: str = "POST", url: str | None = None,
             headers: dict[str, str] | None = None) -> int:
        """One request; the status on 2xx/3xx, Permanent on a final refusal, OSError on what may pass."""
        url = url or self.url
        all_headers = {"User-Agent": "vigie-notify", **self.headers, **(headers or {})}
        if content_type and body is not None:
            all_headers["Content-Type"] = content_type
        req = urllib.request.Request(url, data=body, headers=all_headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self.context) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            if 400 <= exc.code < 500 and exc.code not in (408, 429):
                raise Permanent(f"HTTP {exc.code} from {_where(url)}") from None
            raise OSError(f"HTTP {exc.code} from {_where(url)}") from None
        except urllib.error.URLError as exc:
            raise OSError(f"{_where(url)}: {exc.reason}") from None


def _where(url: str) -> str:
    """The URL without its query (an SMS gateway may carry a key there): what logs and dead letters show."""
    return url.split("?", 1)[0]

