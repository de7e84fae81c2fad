"""The patients' sentences, in gettext catalogs: `shared/locale/<folder>/LC_MESSAGES/patient.po`.

Everything patients receive and open is there (reminders, answers to their texts, survey
questions, their record and lesson pages); the staff console's domain, `console.po`, sits
beside it in the same folders (read by services/console/i18n.py), the same format.
The `.po` files are what translators edit; they are read when first needed (Babel parses a
hundred messages in milliseconds), so no compiled file is committed or can fall out of step
with its source.

Patient message ids are stable keys (`reminder.dose.discreet`), not sentences: the Chinese
wording can change without touching code, and one sentence in two wordings (discreet,
explicit) or in two places stays two messages. zh-CN is the source language and a catalog
like any other: a text missing from another catalog falls back to it, and so does a language
that has no catalog. Texts are `str.format` templates; `problems()` lists every text missing
from a language and every translation whose placeholders differ from the source's, so a
translator's typo fails a test (tests/unit/test_patient_catalogs.py), not a reminder.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from string import Formatter

LOCALE_DIR = Path(__file__).parent / "locale"
PATIENT = "patient"
SOURCE_LANGUAGE = "zh-CN"
LANGUAGES = ("zh-CN", "en")
FOLDERS = {"zh-CN": "zh_CN", "en": "en"}  # gettext's folder name of each language code


def po_path(language: str, domain: str = PATIENT, folder: Path = LOCALE_DIR) -> Path:
    return folder / FOLDERS[language] / "LC_MESSAGES" / f"{domain}.po"


def read_messages(
    language: str, domain: str = PATIENT, folder: Path = LOCALE_DIR
) -> dict[str, str]:
    """The translated messages of one catalog by id; fuzzy ones count as untranslated, as
    gettext's compiler counts them."""
    # Imported here: Babel takes a tenth of a second to import, and only a first read needs it.
    from babel.messages.pofile import read_po

    with po_path(language, domain, folder).open("rb") as source:
        catalog = read_po(source, domain=domain)
    return {
        str(message.id): str(message.string)
        for message in catalog
        if message.id and message.string and not message.fuzzy
    }


_loaded: dict[str, dict[str, str]] = {}  # language -> key -> text, read once per process


def _read_patient_texts() -> dict[str, dict[str, str]]:
    source = read_messages(SOURCE_LANGUAGE)
    read = {}
    for language in LANGUAGES:
        messages = read_messages(language)
        read[language] = {key: messages.get(key) or text for key, text in source.items()}
    _loaded.update(read)  # every language at once: a thread never sees only some
    return _loaded


def texts(language: str) -> Mapping[str, str]:
    """The patient texts in `language` (in the source language for any other), by key; read
    once per process, so a lookup on the dispatcher's hot path is two dict accesses."""
    found = _loaded.get(language)
    if found is None:
        found = (_loaded or _read_patient_texts()).get(language) or _loaded[SOURCE_LANGUAGE]
    return found


def by_language(key: str) -> dict[str, str]:
    """One text in every language, e.g. a built-in survey's question."""
    return {language: texts(language)[key] for language in LANGUAGES}


def placeholders(text: str) -> set[str]:
    """The `str.format` fields of a text; ValueError when its braces are malformed."""
    return {field for _, field, _, _ in Formatter().parse(text) if field is not None}


def problems(domain: str = PATIENT, folder: Path = LOCALE_DIR) -> list[str]:
    """What stops a catalog from being used, by language and key: a text missing (or empty,
    or fuzzy), a key the source does not have, or placeholders unlike the source's."""
    source = read_messages(SOURCE_LANGUAGE, domain, folder)
    found: list[str] = []
    for language in LANGUAGES:
        messages = (
            source if language == SOURCE_LANGUAGE else read_messages(language, domain, folder)
        )
        found += [
            f"{language}: {key} is not translated"
            for key in sorted(source.keys() - messages.keys())
        ]
        found += [
            f"{language}: {key} is not in {SOURCE_LANGUAGE}"
            for key in sorted(messages.keys() - source.keys())
        ]
        for key in sorted(source.keys() & messages.keys()):
            try:
                fields, expected = placeholders(messages[key]), placeholders(source[key])
            except ValueError as malformed:
                found.append(f"{language}: {key}: {malformed}")
                continue
            if fields != expected:
                found.append(f"{language}: {key} has {sorted(fields)}, not {sorted(expected)}")
    return found
