"""The dashboard in its reader's language: gettext catalogues read with Babel.

Every text of the dashboard is written in English in the code and the templates and marked for
translation: `{{ _("Save") }}` and `{{ ngettext("%(num)d step", "%(num)d steps", n) }}` in a
template, `_("Saved.")` in a route, `N_("Away")` where a text is defined before anyone reads it
(translated where it is shown), and the services' refusals (`bot.refusal.Refusal`) through
`say(error)`. `make messages` extracts them (scripts/dashboard_messages.py) into
`dashboard/locale/messages.pot`
and updates each language's `dashboard/locale/<code>/LC_MESSAGES/messages.po`; the catalogues
are read from those `.po` files when the dashboard starts (nothing to compile).

Which language: the account's choice (`/account`), else the browser's (Accept-Language) among
the ten, else English. It is decided once per request: `LocaleMiddleware` starts each request
with the browser's, and `use()` switches to the account's once the signed-in user is known.
The per-request state is a mutable holder in a context variable, so that FastAPI's
dependencies and routes, which run in worker threads on copies of the context, all see it.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations
from starlette.types import ASGIApp, Receive, Scope, Send

from bot import languages
from bot.refusal import N_, Number, Refusal, Words, recognise
from bot.settings import SUPPORTED_LANGUAGES

LOCALE_DIR = Path(__file__).parent / "locale"
SCRIPTS_DIR = Path(__file__).parent / "static"
DEFAULT = "en"
# A text of the pages' scripts: gettext("...") in dashboard/static/*.js (a double-quoted literal).
_SCRIPT_TEXT = re.compile(r'\bgettext\(\s*("(?:[^"\\\n]|\\.)*")')


@functools.cache
def translations(code: str) -> NullTranslations:
    """The catalogue of `code` (English, the code's own language, has none)."""
    po = LOCALE_DIR / code / "LC_MESSAGES" / "messages.po"
    if code == DEFAULT or not po.exists():
        return NullTranslations()
    with po.open("rb") as source:
        catalog = read_po(source, locale=code)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries are left out: English shows instead
    compiled.seek(0)
    return Translations(compiled)


def direction(code: str) -> str:
    """'rtl' for a right-to-left language (config/languages.yml), else "ltr"."""
    return "rtl" if code in SUPPORTED_LANGUAGES and languages.get(code).rtl else "ltr"


def negotiate(accept_language: str) -> str:
    """The best of the ten for a browser's Accept-Language header, else English."""
    wanted: list[tuple[float, str]] = []
    for position, part in enumerate(accept_language.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and quality > 0:  # q=0: "not this one"
            wanted.append((-quality + position * 1e-6, tag.strip().replace("_", "-")))
    for _, tag in sorted(wanted):
        code = tag.split("-")[0].lower()
        if code in SUPPORTED_LANGUAGES:
            return code
    return DEFAULT


@dataclass
class _Reader:
    code: str = DEFAULT


_reader: contextvars.ContextVar[_Reader] = contextvars.ContextVar("dashboard_reader")


def current() -> str:
    """The language of the page being made."""
    reader = _reader.get(None)
    return reader.code if reader else DEFAULT


def use(code: str | None) -> None:
    """Make this request's pages in `code` (an account's choice); None keeps the browser's."""
    reader = _reader.get(None)
    if reader is not None and code in SUPPORTED_LANGUAGES:
        reader.code = code


def gettext(text: str, /, **values: Any) -> str:
    """`text` in the reader's language, with `values` put into its `%(name)s` places."""
    translated = translations(current()).gettext(text)
    return translated % values if values else translated


def ngettext(singular: str, plural: str, num: int, /, **values: Any) -> str:
    """The singular or one of the plurals of the reader's language for `num` (`%(num)d`)."""
    translated = translations(current()).ngettext(singular, plural, num)
    return translated % {"num": num, **values}


_ = gettext
__all__ = ["N_", "_", "gettext", "ngettext", "say", "use", "when", "day", "number"]


def lookup(text: str) -> str:
    """The translation alone (Jinja's newstyle gettext fills the places itself)."""
    return translations(current()).gettext(text)


def lookup_plural(singular: str, plural: str, num: int) -> str:
    """The singular or plural translation alone (Jinja fills `num` and the other places)."""
    return translations(current()).ngettext(singular, plural, num)


@functools.cache
def _script_msgids() -> tuple[str, ...]:
    found: list[str] = []
    for script in sorted(SCRIPTS_DIR.glob("*.js")):
        found += [json.loads(literal) for literal in _SCRIPT_TEXT.findall(script.read_text())]
    return tuple(dict.fromkeys(found))


def script_texts() -> dict[str, str]:
    """The texts of the pages' scripts in the reader's language (base.html hands them over as
    JSON; dashboard/static/texts.js looks them up), only those that differ from the English."""
    catalogue = translations(current())
    texts = {text: catalogue.gettext(text) for text in _script_msgids()}
    return {text: translated for text, translated in texts.items() if translated != text}


def say(error: BaseException | Words) -> str:
    """An exception's text for the reader: a refusal (or `Words`) translated, anything else
    as it is."""
    if isinstance(error, Refusal | Words):
        values = {
            name: number(int(value)) if isinstance(value, Number) else value
            for name, value in error.values.items()
        }
        return gettext(error.text, **values)
    return str(error)


def known(text: str, texts: tuple[str, ...]) -> str:
    """A text kept in English (a job's stage) in the reader's language, if it was made from
    one of `texts`; otherwise as it is."""
    words = recognise(text, texts)
    return say(words) if words else text


def _locale() -> Locale:
    return _locale_of(current())


@functools.cache
def _locale_of(code: str) -> Locale:
    """Babel's data of a language, read once per process (every date and number asks)."""
    try:
        return Locale.parse(code)
    except (ValueError, UnknownLocaleError):
        return Locale.parse(DEFAULT)


def when(value: dt.datetime | None) -> str:
    """A moment, in UTC, written the reader's way (Babel): "3 dic 2026, 14:05"."""
    if value is None:
        return ""
    aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    locale = _locale()
    date = format_date(aware.astimezone(dt.UTC).date(), "medium", locale=locale)
    time = format_time(aware, "HH:mm", tzinfo=dt.UTC, locale=locale)
    return str(locale.datetime_formats["medium"]).replace("{1}", date).replace("{0}", time)


def day(value: dt.date | None) -> str:
    """A day written the reader's way: "3 dic 2026"."""
    return "" if value is None else format_date(value, "medium", locale=_locale())


def number(value: float | int) -> str:
    """A number written the reader's way: 1.234,5 in Italian, 1,234.5 in English."""
    return format_decimal(value, locale=_locale())


class LocaleMiddleware:
    """Start every request in the browser's language (Accept-Language), as a plain ASGI
    middleware so that everything the request runs sees the same holder."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = ""
        for name, value in scope.get("headers", []):
            if name == b"accept-language":
                header = value.decode("latin-1")[:500]
        token = _reader.set(_Reader(negotiate(header)))
        try:
            await self.app(scope, receive, send)
        finally:
            _reader.reset(token)
