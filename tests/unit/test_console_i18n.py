"""The console's catalogs: every text of its templates and code is translated into
Chinese, and the English catalog has the same ids (English shows the id itself)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

import services.console
from services.console.i18n import LOCALE_DIR, load_catalogs

CONSOLE = Path(services.console.__file__).parent
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def _used() -> set[str]:
    found = extract_from_dir(str(CONSOLE), METHODS, options_map=OPTIONS)
    return {message if isinstance(message, str) else message[0] for _, _, message, _, _ in found}


def _catalog(folder: str) -> dict[str, str]:
    with (LOCALE_DIR / folder / "LC_MESSAGES" / "console.po").open("rb") as source:
        return {str(m.id): str(m.string) for m in read_po(source) if m.id}


def test_every_text_is_translated_into_chinese_and_listed_for_english() -> None:
    used = _used()
    assert len(used) > 40  # the extraction found the templates' texts
    chinese, english = _catalog("zh_CN"), _catalog("en")
    assert sorted(used - {k for k, v in chinese.items() if v}) == []
    assert sorted(used - set(english)) == []


def test_the_compiled_catalogs_answer_in_each_language() -> None:
    catalogs = load_catalogs()
    assert catalogs["zh-CN"].gettext("Today") == "今日"
    assert catalogs["en"].gettext("Today") == "Today"
