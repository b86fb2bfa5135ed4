"""Every sentence through gettext catalogs (``locales/<locale>/LC_MESSAGES/messages.po``).

The templates' interface strings and the sentences derive states
(:class:`reportgen.model.Msg`) share one catalog per language. English is the source
language. The Chinese catalog is read from its ``.po`` file and compiled in memory at
build time, so there is no separate compile step and no ``.mo`` file to forget.
"""

from __future__ import annotations

import gettext
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from io import BytesIO

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from reportgen.resources import resource_dir
from reportgen.units import fmt_bytes, fmt_int

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


@dataclass(frozen=True)
class ByteCount:
    """An exact byte count inside a sentence: ``100,352 B``, or ``?`` when unknown."""

    value: int | None


@dataclass(frozen=True)
class ByteSize:
    """A byte count inside a sentence, in the unit that reads best: ``98 KiB``."""

    value: int


@dataclass(frozen=True)
class Names:
    """Names enumerated inside a sentence, in parentheses or after a colon, with no
    conjunction: ``a, b, c`` / ``a、b、c``. Beyond ``limit`` names, an ellipsis stands for
    the rest. (A list that a sentence reads as ``a, b and c`` is a plain tuple.)"""

    items: tuple[str, ...]
    limit: int | None = None
    total: int | None = None
    """How many names the list stands for, when only the first ``items`` are known."""


def format_value(value: object, lang: str) -> str:
    """A value put into a sentence of language ``lang``: numbers with the grouping both our
    languages read (``3,212,288``), byte counts with their unit, lists as the language
    writes them (:func:`fmt_list`, :class:`Names`), a sentence (anything with
    ``get(lang)``) in ``lang``."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return fmt_int(value)
    if isinstance(value, float):
        return f"{value:,.6g}"
    if isinstance(value, ByteCount):
        return "?" if value.value is None else f"{fmt_int(value.value)} B"
    if isinstance(value, ByteSize):
        return fmt_bytes(value.value)
    if isinstance(value, Names):
        return fmt_names(value.items, lang, value.limit, value.total)
    if isinstance(value, tuple):
        return fmt_list([format_value(item, lang) for item in value], lang)
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


def fmt_names(
    items: Iterable[str], lang: str, limit: int | None = None, total: int | None = None
) -> str:
    """``a, b, c, …`` / ``a、b、c、…``: an enumeration of names (see :class:`Names`)."""
    names = list(items)
    shown = names if limit is None else names[:limit]
    if len(shown) < max(len(names), total or 0):
        shown.append("…")
    return ("、" if lang == "zh" else ", ").join(shown)


def join_sentences(sentences: Iterable[str], lang: str) -> str:
    """Sentences one after another: a space between them in English, none in Chinese."""
    return ("" if lang == "zh" else " ").join(s for s in sentences if s)


_FIELD = re.compile(r"%%|%\((\w+)\)s")


def _is_cjk(char: str) -> bool:
    """A Chinese character or full-width punctuation (``，`` ``（``), not Latin text."""
    return bool(char) and (
        "\u2e80" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff" or "\uff00" <= char <= "\uffef"
    )


def fill(template: str, values: Mapping[str, str], lang: str) -> str:
    """``template % values``, spaced as ``lang`` is written.

    Chinese puts a space between Chinese and Latin text (``取自 Keras 的 count_params()``)
    and none between Chinese characters. A translation cannot know which a field's value
    begins or ends with, so it writes the space, and this drops the space wherever a
    Chinese value meets Chinese text (``取自该作用域中变量的总大小``).
    """
    if lang != "zh":
        return template % values
    pieces: list[str] = []
    drop_next_space = False
    pos = 0
    for match in _FIELD.finditer(template):
        literal = template[pos : match.start()]
        pos = match.end()
        if match.group(0) == "%%":
            pieces.append(_trim_start(literal, drop_next_space) + "%")
            drop_next_space = False
            continue
        literal = _trim_start(literal, drop_next_space)
        value = values[match.group(1)]
        if literal.endswith(" ") and _is_cjk(literal[-2:-1]) and _is_cjk(value[:1]):
            literal = literal[:-1]
        pieces += [literal, value]
        drop_next_space = _is_cjk(value[-1:])
    pieces.append(_trim_start(template[pos:], drop_next_space))
    return "".join(pieces)


def _trim_start(literal: str, after_cjk: bool) -> str:
    """``literal`` without its leading space when Chinese text comes on both sides of it."""
    if after_cjk and literal.startswith(" ") and _is_cjk(literal[1:2]):
        return literal[1:]
    return literal
