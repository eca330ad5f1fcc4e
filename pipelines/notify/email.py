"""E-mail channel: one mail per notification (the incident summary and its member alerts), plain text
and HTML, French or English, over SMTP with STARTTLS, implicit TLS or neither, and AUTH.

The Message-ID is derived from the notification's id, so that a mail re-sent after a crash between
the server's acceptance and the delivery record is recognisable as the same message.
"""

from __future__ import annotations

import hashlib
import html
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from vigie.pipelines.notify.base import Permanent
from vigie.pipelines.notify.render import Text, render


def html_body(text: Text) -> str:
    esc = html.escape
    sep = " : " if text.language == "fr" else ": "
    facts = "".join(f"<tr><th align=\"left\">{esc(k)}{esc(sep)}</th><td>{esc(v)}</td></tr>" for k, v in text.facts)
    alerts = "".join(f"<li>{esc(line)}</li>" for line in text.alert_lines)
    link = ""
    if text.link:
        label = "Ouvrir dans la console" if text.language == "fr" else "Open in the console"
        link = f'<p><a href="{esc(text.link, quote=True)}">{esc(label)}</a></p>'
    return (f'<!DOCTYPE html><html lang="{text.language}"><head><meta charset="utf-8"><title>{esc(text.title)}</title>'
            f"</head><body><h2>{esc(text.title)}</h2><table>{facts}</table><ul>{alerts}</ul>{link}</body></html>")


def build_mail(notification: dict[str, Any], sender: str, to: list[str], language: str = "fr",
               external_url: str = "", with_html: bool = True, message_id: str = "") -> EmailMessage:
    text = render(notification, language, external_url)
    mail = EmailMessage()
    mail["Subject"] = text.title
    mail["From"] = sender
    mail["To"] = ", ".join(to)
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    if message_id:
        domain = sender.rsplit("@", 1)[-1] if "@" in sender else "vigie"
        mail["Message-ID"] = f"<{hashlib.sha256(message_id.encode()).hexdigest()[:32]}@{domain}>"
    mail["Content-Language"] = text.language
    mail.set_content(text.plain())
    if with_html:
        mail.add_alternative(html_body(text), subtype="html")
    return mail


class EmailChannel:
    kind = "email"

    def __init__(self, receiver: str, host: str, port: int, sender: str, to: list[str], *, tls: str = "starttls",
                 username: str | None = None, password: str | None = None, context: ssl.SSLContext | None = None,
                 timeout: float = 10.0, language: str = "fr", external_url: str = "", with_html: bool = True) -> None:
        self.receiver, self.host, self.port, self.sender, self.to = receiver, host, port, sender, list(to)
        self.tls, self.username, self.password = tls, username, password
        self.context = context or ssl.create_default_context()
        self.timeout, self.language, self.external_url, self.with_html = timeout, language, external_url, with_html

    def send(self, notification: dict[str, Any]) -> None:
        mail = build_mail(notification, self.sender, self.to, self.language, self.external_url, self.with_html,
                          str(notification.get("id") or notification.get("_message_id") or ""))
        try:
            if self.tls == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self.context)
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                if self.tls == "starttls":
                    smtp.starttls(context=self.context)
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(mail)
        except smtplib.SMTPAuthenticationError as exc:
            raise Permanent(f"SMTP {self.host}: authentication refused ({exc.smtp_code})") from None
        except smtplib.SMTPNotSupportedError as exc:  # e.g. no AUTH offered without TLS: a configuration error
            raise Permanent(f"SMTP {self.host}: {exc}") from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = {code for code, _ in exc.recipients.values()}
            if all(code >= 500 for code in codes):
                raise Permanent(f"SMTP {self.host}: recipients refused {sorted(codes)}") from None
            raise OSError(f"SMTP {self.host}: recipients deferred {sorted(codes)}") from None
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= 500:
                raise Permanent(f"SMTP {self.host}: {exc.smtp_code} {exc.smtp_error!r}") from None
            raise OSError(f"SMTP {self.host}: {exc.smtp_code} {exc.smtp_error!r}") from None
        except OSError as exc:  # network, TLS, timeouts and the other SMTP errors: worth retrying
            raise OSError(f"SMTP {self.host}: {exc}") from None
