"""The patient catalogs (shared/locale/*/LC_MESSAGES/patient.po): every text in every
language with the source's placeholders, within the SMS limits the senders rely on; a
translator's typo is caught here, not in a patient's message at 7 a.m."""

from __future__ import annotations

import shutil
from pathlib import Path

from services.feedback.replies import unknown_sender_text
from services.feedback.surveys.definitions import BUILT_IN, validate
from shared import sms
from shared.channels.message_fields import KINDS
from shared.i18n import (
    LANGUAGES,
    LOCALE_DIR,
    SOURCE_LANGUAGE,
    po_path,
    problems,
    read_messages,
    texts,
)


def _keys(prefix: str) -> list[str]:
    return sorted(key for key in read_messages(SOURCE_LANGUAGE) if key.startswith(prefix))


def test_every_text_is_in_every_language_with_the_sources_placeholders() -> None:
    assert len(read_messages(SOURCE_LANGUAGE)) > 10
    assert problems() == []


def test_a_typo_a_missing_text_and_a_stray_key_are_problems(tmp_path: Path) -> None:
    shutil.copytree(LOCALE_DIR, tmp_path, dirs_exist_ok=True)
    english = po_path("en", folder=tmp_path)
    po = english.read_text(encoding="utf-8")
    po = po.replace('msgstr "{name}, a reminder about your visit today."', 'msgstr "{nmae}, hi."')
    po = po.replace('msgstr "Reminder"', 'msgstr ""')
    po += '\nmsgid "reminder.typo"\nmsgstr "{name}"\n'
    english.write_text(po, encoding="utf-8")
    assert problems(folder=tmp_path) == [
        "en: title.dose is not translated",
        "en: reminder.typo is not in zh-CN",
        "en: reminder.dose.discreet has ['nmae'], not ['name']",
    ]


def test_a_language_without_a_catalog_reads_the_source_language() -> None:
    assert texts("fr") is texts(SOURCE_LANGUAGE)
    assert texts("en") is texts("en")  # read once per process
    assert texts("en")["title.dose"] == "Reminder"


def test_reminders_fit_one_sms_segment_before_the_name() -> None:
    reminders = _keys("reminder.")
    assert len(reminders) == 12  # six kinds (take-home notices, assessments), two wordings
    for language in LANGUAGES:
        for key in reminders:
            assert sms.segments(texts(language)[key].format(name="")) == 1, (language, key)


def test_every_kind_has_a_title_of_at_most_five_chinese_characters() -> None:
    for kind in KINDS:
        assert len(texts("zh-CN")[f"title.{kind}"]) <= 5
        assert texts("en")[f"title.{kind}"]


def test_answers_to_patients_fit_one_sms_segment_with_a_long_phone_number() -> None:
    answers = _keys("reply.")
    assert len(answers) == 10
    for language in LANGUAGES:
        for key in answers:
            answer = texts(language)[key].format(phone="+86 10 1234 5678")
            assert sms.segments(answer) == 1, (language, key)
    assert sms.segments(unknown_sender_text()) <= 2  # both languages in one answer


def test_the_built_in_surveys_pass_the_rules_of_a_clinics_survey() -> None:
    for survey in BUILT_IN.values():
        validate(survey)  # every question within two SMS segments, no stigmatising word
        assert set(survey.title) == set(LANGUAGES)


def test_the_record_pages_weekdays_are_seven_characters_monday_first() -> None:
    for language in LANGUAGES:
        assert len(texts(language)["record_page.weekdays"]) == 7, language
