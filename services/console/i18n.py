"""The console's languages: gettext catalogs (`shared/locale/<lang>/LC_MESSAGES/console.po`,
beside the patients' `patient.po`: one folder holds every human-facing sentence).

The `.po` files are what translators edit; they are compiled in memory when the app starts
(Babel reads and writes a few dozen messages in milliseconds), so no compiled `.mo` file is
committed or can fall out of step with its source. Message ids are English; zh-CN is the
default language. The language of the request being rendered is a context variable, which
the Jinja2 `i18n` extension's `_()`/`{% trans %}` read.
"""

from __future__ import annotations

import gettext
import io
from contextvars import ContextVar
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from jinja2 import Environment

from shared.i18n import LOCALE_DIR as SHARED_LOCALE_DIR

LOCALE_DIR = SHARED_LOCALE_DIR  # shared/locale: the console's domain beside the patients'
DOMAIN = "console"
LANGUAGES: dict[str, str] = {"zh-CN": "中文", "en": "English"}  # code -> its own name
DEFAULT_LANGUAGE = "zh-CN"
_FOLDER = {"zh-CN": "zh_CN", "en": "en"}

current_language: ContextVar[str] = ContextVar("console_language", default=DEFAULT_LANGUAGE)


def compile_catalog(po_path: Path) -> gettext.GNUTranslations:
    with po_path.open("rb") as source:
        catalog = read_po(source, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def load_catalogs(folder: Path = LOCALE_DIR) -> dict[str, gettext.NullTranslations]:
    catalogs: dict[str, gettext.NullTranslations] = {}
    for code, name in _FOLDER.items():
        po_path = folder / name / "LC_MESSAGES" / f"{DOMAIN}.po"
        catalogs[code] = (
            compile_catalog(po_path) if po_path.exists() else gettext.NullTranslations()
        )
    return catalogs


def chosen_language(cookie: str | None) -> str:
    return cookie if cookie in LANGUAGES else DEFAULT_LANGUAGE


def install(env: Environment, catalogs: dict[str, gettext.NullTranslations]) -> None:
    """`_`, `gettext` and `ngettext` in templates, in the request's language."""

    def _gettext(message: str) -> str:
        return catalogs[current_language.get()].gettext(message)

    def _ngettext(singular: str, plural: str, n: int) -> str:
        return catalogs[current_language.get()].ngettext(singular, plural, n)

    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
