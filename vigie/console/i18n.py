"""French and English: the language from the browser's Accept-Language, messages from gettext catalogues.

The catalogues are the .po files of locale/ read with Babel at start-up (no compile step to forget at
install). English is the source language: a message missing from a catalogue shows in English. Dates
and times are formatted by Babel in the locale's own format and the console's time zone.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime, format_timedelta
from babel.messages.pofile import read_po

LANGUAGES = ("en", "fr")
DEFAULT_LANGUAGE = "en"
_LOCALE_DIR = Path(__file__).parent / "locale"


def negotiate(accept_language: str | None) -> str:
    """The best of LANGUAGES for an Accept-Language header (RFC 9110 12.5.4: q-values, ranges like fr-CA)."""
    best, best_q = DEFAULT_LANGUAGE, -1.0
    for part in (accept_language or "").split(","):
        m = re.fullmatch(r"\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*", part)
        if not m:
            continue
        try:
            q = float(m.group(2)) if m.group(2) is not None else 1.0
        except ValueError:
            continue
        primary = m.group(1).split("-")[0].lower()
        if q <= 0 or primary not in LANGUAGES:
            continue
        if q > best_q:  # equal q: the earlier range wins, as browsers list by preference
            best, best_q = primary, q
    return best


@cache
def catalogue(language: str) -> dict[str, str]:
    """msgid -> msgstr of one language (empty for English, the source)."""
    path = _LOCALE_DIR / language / "LC_MESSAGES" / "console.po"
    if language == DEFAULT_LANGUAGE or not path.exists():
        return {}
    with path.open("rb") as f:
        po = read_po(f, locale=language)
    return {m.id: m.string for m in po if m.id and m.string and not m.fuzzy and isinstance(m.id, str)}


class Translator:
    """What a page needs for one request: gettext, and dates in the local format and zone."""

    def __init__(self, language: str, timezone: ZoneInfo) -> None:
        self.language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        self.locale = Locale.parse(self.language)
        self.timezone = timezone
        self._messages = catalogue(self.language)

    def gettext(self, message: str, **values: object) -> str:
        text = self._messages.get(message, message)
        return text % values if values else text

    def datetime(self, epoch_or_iso: float | str | None, fmt: str = "short") -> str:
        """A time as people of this language write it, in the console's zone ("" when unknown)."""
        dt = to_datetime(epoch_or_iso)
        if dt is None:
            return ""
        return format_datetime(dt, format=fmt, tzinfo=self.timezone, locale=self.locale)

    def iso(self, epoch_or_iso: float | str | None) -> str:
        """The same time for machines (the title attribute, the `datetime` of <time>)."""
        dt = to_datetime(epoch_or_iso)
        return dt.astimezone(self.timezone).isoformat(timespec="seconds") if dt else ""

    def duration(self, seconds: float) -> str:
        return format_timedelta(seconds, threshold=1.1, locale=self.locale)


def to_datetime(value: float | str | None) -> datetime | None:
    from datetime import UTC

    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
