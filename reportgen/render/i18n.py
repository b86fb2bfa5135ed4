"""Interface strings through gettext catalogs (``locales/<locale>/LC_MESSAGES/messages.po``).

English is the source language. The Chinese catalog is read from its ``.po`` file and
compiled in memory at build time, so there is no separate compile step and no ``.mo``
file to forget.
"""

from __future__ import annotations

import gettext
from functools import cache
from io import BytesIO

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from reportgen.render.resources import resource_dir

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
