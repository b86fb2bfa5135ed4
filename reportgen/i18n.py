"""Every sentence through gettext catalogs (``locales/<locale>/LC_MESSAGES/messages.po``).

The templates' interface strings and the sentences derive states
(:class:`reportgen.model.Msg`) share one catalog per language. English is the source
language. The Chinese catalog is read from its ``.po`` file and compiled in memory at
build time, so there is no separate compile step and no ``.mo`` file to forget.
"""

from __future__ import annotations

import gettext
from functools import cache
from io import BytesIO

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from reportgen.resources import resource_dir
from reportgen.units import fmt_int

HTML_LANG = {"en": "en", "zh": "zh-Hans"}
"""Site language code → the BCP 47 tag for ``<html lang>`` and ``hreflang``."""

CATALOG_LOCALE = {"zh": "zh_Hans"}
"""Site language code → gettext catalog directory (none for the source language)."""

DOMAIN = "messages"


def catalog_path(lang: str) -> str:
    return str(resource_dir("locales") / CATALOG_LOCALE[lang] / "LC_MESSAGES" / f"{DOMAIN}.po")


@cache
def translations(lang: str) -> gettext.NullTranslations:
    if lang not in CATALOG_LOCALE:
        return gettext.NullTranslations()
    with open(catalog_path(lang), "rb") as fh:
        catalog = read_po(fh, locale=CATALOG_LOCALE[lang], domain=DOMAIN)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def translate(lang: str, message: str) -> str:
    """``message`` (English) in the site language ``lang``."""
    return translations(lang).gettext(message)


def format_value(value: object, lang: str) -> str:
    """A value put into a sentence of language ``lang``: numbers with the grouping both our
    languages read (``3,212,288``), a sentence (anything with ``get(lang)``) in ``lang``."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return fmt_int(value)
    if isinstance(value, float):
        return f"{value:,.6g}"
    get = getattr(value, "get", None)
    if callable(get):
        return str(get(lang))
    return str(value)


def fmt_list(items: list[str], lang: str) -> str:
    """``a, b and c`` / ``a、b 和 c``: a list inside a sentence, as each language writes it."""
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    if lang == "zh":
        return "、".join(items[:-1]) + " 和 " + items[-1]
    return ", ".join(items[:-1]) + " and " + items[-1]
