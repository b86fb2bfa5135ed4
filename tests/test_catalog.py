"""Every interface string in the templates has a Chinese translation, and a safe one."""

from __future__ import annotations

import re

from reportgen.render.catalog import read_catalog, template_messages
from reportgen.render.i18n import translations

PLACEHOLDER = re.compile(r"%\(\w+\)s")


def test_every_template_string_is_translated() -> None:
    catalog = read_catalog("zh")
    missing = [
        m.id
        for m in template_messages()
        if m.id and not (catalog.get(m.id) and catalog.get(m.id).string)
    ]
    assert missing == [], "run `python -m reportgen.render.catalog` and translate these"


def test_no_stale_translations() -> None:
    wanted = {m.id for m in template_messages() if m.id}
    stale = [m.id for m in read_catalog("zh") if m.id and m.id not in wanted]
    assert stale == []


def test_placeholders_survive_translation() -> None:
    for message in read_catalog("zh"):
        if message.id:
            wanted = sorted(PLACEHOLDER.findall(str(message.id)))
            assert sorted(PLACEHOLDER.findall(str(message.string))) == wanted, message.id


def test_strings_hold_no_markup() -> None:
    """Translated strings are inserted as trusted HTML (only their %(…)s values are escaped):
    a literal ``<`` or ``&`` in one becomes markup. Pass such text in as a value instead."""
    for message in read_catalog("zh"):
        if not message.id:
            continue  # the catalog's header
        for text in (str(message.id), str(message.string)):
            assert "<" not in text and "&" not in text, message.id


def test_compiled_catalog_translates() -> None:
    assert translations("zh").gettext("Architecture") == "网络结构"
    assert translations("en").gettext("Architecture") == "Architecture"
