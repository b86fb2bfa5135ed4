"""Every interface string in the templates has a Chinese translation."""

from __future__ import annotations

from reportgen.render.catalog import read_catalog, template_messages
from reportgen.render.i18n import translations


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
        if message.id and "%(" in str(message.id):
            for name in ("%(n)s", "%(version)s", "%(date)s", "%(batch)s"):
                assert (name in str(message.id)) == (name in str(message.string)), message.id


def test_compiled_catalog_translates() -> None:
    assert translations("zh").gettext("Layer by layer") == "逐层明细"
    assert translations("en").gettext("Layer by layer") == "Layer by layer"
