"""Keep the translation catalogs in step with the templates.

``python -m reportgen.render.catalog`` extracts every ``_()``/``{% trans %}`` string from
``templates/`` and merges it into each catalog, keeping existing translations; new
strings arrive with an empty translation, which the test suite rejects until a
translator fills them in.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from reportgen.render.i18n import CATALOG_LOCALE, DOMAIN, catalog_path
from reportgen.render.resources import resource_dir

HEADER_COMMENT = (
    "# Interface strings of reportgen's site templates.\n"
    "# Refresh with `python -m reportgen.render.catalog`, then translate the empty entries."
)

_METHOD_MAP = [("**.html", "jinja2.ext:babel_extract")]
_OPTIONS = {
    "**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "true", "lstrip_blocks": "true"}
}


def template_messages() -> Catalog:
    """Every translatable string in the templates, with where it appears."""
    catalog = Catalog(domain=DOMAIN, project="reportgen")
    templates = resource_dir("templates")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(templates), _METHOD_MAP, _OPTIONS
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def read_catalog(lang: str) -> Catalog:
    with open(catalog_path(lang), "rb") as fh:
        return read_po(fh, locale=CATALOG_LOCALE[lang], domain=DOMAIN)


def update_catalogs() -> list[Path]:
    template = template_messages()
    written = []
    for lang, locale in CATALOG_LOCALE.items():
        path = Path(catalog_path(lang))
        if path.exists():
            catalog = read_catalog(lang)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalog = Catalog(locale=locale, domain=DOMAIN, project="reportgen")
        catalog.update(template, no_fuzzy_matching=True, update_creation_date=False)
        catalog.obsolete.clear()
        catalog.fuzzy = False
        catalog.header_comment = HEADER_COMMENT
        with path.open("wb") as fh:
            write_po(
                fh, catalog, width=100, omit_header=False, sort_output=False, include_previous=False
            )
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in update_catalogs():
        print(f"updated {written_path}", file=sys.stderr)
