"""SMS through an HTTP gateway: each operator's gateway differs, so URL, method, body template and
content type are configured, and the message is cut to fit one SMS.

One SMS holds 160 characters of the GSM 03.38 (GSM-7) alphabet, where ^{}\\[~]|€ count twice, or 70
UTF-16 code units (UCS-2) as soon as one character is outside it. French letters outside GSM-7
(ê, ç, â, î, ô, û, ë, ï) are written without their accent first, so that an ordinary French message
keeps 160 characters instead of falling to 70.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote_plus

from vigie.pipelines.notify.base import HttpTarget
from vigie.pipelines.notify.render import render

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")
GSM7_LIMIT, UCS2_LIMIT = 160, 70
PLAIN_LETTERS = str.maketrans({"ê": "e", "ë": "e", "ç": "c", "â": "a", "î": "i", "ï": "i", "ô": "o", "û": "u",
                               "ü": "u", "Ê": "E", "È": "E", "Â": "A", "Î": "I", "Ô": "O", "Û": "U", "À": "A",
                               "«": '"', "»": '"', "’": "'", "–": "-", "—": "-", "…": "...", "\u202f": " ",
                               "\u00a0": " "})


def gsm7_length(text: str) -> int | None:
    """Septets text takes in GSM-7, None when a character is outside the alphabet."""
    n = 0
    for ch in text:
        if ch in GSM7_BASIC:
            n += 1
        elif ch in GSM7_EXTENSION:
            n += 2
        else:
            return None
    return n


def ucs2_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def fit_sms(text: str) -> str:
    """text made to fit one SMS: accents outside GSM-7 dropped, then cut with an ellipsis if too long."""
    text = text.translate(PLAIN_LETTERS)
    if gsm7_length(text) is not None:
        if gsm7_length(text) <= GSM7_LIMIT:
            return text
        out, used = [], 0
        for ch in text:
            width = 2 if ch in GSM7_EXTENSION else 1
            if used + width > GSM7_LIMIT - 3:
                break
            out.append(ch)
            used += width
        return "".join(out) + "..."
    if ucs2_length(text) <= UCS2_LIMIT:
        return text
    out, used = [], 0
    for ch in text:
        width = 2 if ord(ch) > 0xFFFF else 1  # a surrogate pair is never split
        if used + width > UCS2_LIMIT - 1:
            break
        out.append(ch)
        used += width
    return "".join(out) + "…"


def sms_text(notification: dict[str, Any], language: str) -> str:
    """Title and site: what matters at night, in one SMS."""
    text = render(notification, language)
    site = next((v for k, v in text.facts if k == "Site" and v), "")
    return fit_sms(f"{text.title} ({site})" if site else text.title)


def escape_for(content_type: str, value: str) -> str:
    """A placeholder's value escaped for where it lands in the body."""
    if "json" in content_type:
        return json.dumps(value, ensure_ascii=False)[1:-1]
    if "x-www-form-urlencoded" in content_type:
        return quote_plus(value)
    return value


def fill(template: str, content_type: str, to: str, message: str) -> str:
    """The body template with {to} and {message} replaced (plain replace: JSON braces stay as they are)."""
    return template.replace("{to}", escape_for(content_type, to)).replace("{message}", escape_for(content_type, message))


class SmsChannel:
    """One gateway request per phone number (a retry sends to all of them again: give each on-call phone
    its own receiver where a duplicate SMS matters)."""

    kind = "sms"

    def __init__(self, receiver: str, target: HttpTarget, to: list[str], body: str, method: str = "POST",
                 content_type: str = "application/x-www-form-urlencoded", language: str = "fr") -> None:
        self.receiver, self.target, self.to, self.body = receiver, target, list(to), body
        self.method, self.content_type, self.language = method, content_type, language

    def send(self, notification: dict[str, Any]) -> None:
        message = sms_text(notification, self.language)
        for number in self.to:
            if self.method == "GET":
                query = fill(self.body, "application/x-www-form-urlencoded", number, message)
                sep = "&" if "?" in self.target.url else "?"
                self.target.send(None, None, method="GET", url=f"{self.target.url}{sep}{query}")
            else:
                payload = fill(self.body, self.content_type, number, message).encode()
                self.target.send(payload, self.content_type, method=self.method)
