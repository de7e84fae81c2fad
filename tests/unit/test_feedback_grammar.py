"""The reply grammar: every keyword in both languages, full-width forms, urgency, categories."""

from __future__ import annotations

import pytest

from services.feedback.grammar import Category, Grammar, Kind, normalise, split_words

GRAMMAR = Grammar()


@pytest.mark.parametrize(
    ("text", "rating"),
    [
        ("1", 1),
        ("2", 2),
        ("3", 3),
        ("4", 4),
        ("5", 5),
        ("１", 1),
        ("５", 5),
        (" 3 ", 3),
        ("4。", 4),
    ],
)
def test_digits_one_to_five_are_ratings(text: str, rating: int) -> None:
    assert GRAMMAR.parse(text).kind is Kind.RATING
    assert GRAMMAR.parse(text).rating == rating


@pytest.mark.parametrize(("text", "number"), [("0", 0), ("6", 6), ("10", 10), ("３ ４", 34)])
def test_other_numbers_are_numbers_not_ratings_or_needs(text: str, number: int) -> None:
    reply = GRAMMAR.parse(text)
    assert (reply.kind, reply.rating) == (Kind.NUMBER, number)


@pytest.mark.parametrize("text", ["1234", "4.5", "-1"])
def test_long_or_odd_numbers_are_needs(text: str) -> None:
    assert GRAMMAR.parse(text).kind is Kind.NEED


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("STOP", Kind.OPT_OUT),
        ("stop", Kind.OPT_OUT),
        (" S t o p ", Kind.OPT_OUT),
        ("ＳＴＯＰ", Kind.OPT_OUT),
        ("退订", Kind.OPT_OUT),
        (" 退 订 ", Kind.OPT_OUT),
        ("TD", Kind.OPT_OUT),
        ("td", Kind.OPT_OUT),
        ("T", Kind.OPT_OUT),
        ("ｔ", Kind.OPT_OUT),
        ("Stop!", Kind.OPT_OUT),
        ("START", Kind.OPT_IN),
        ("start", Kind.OPT_IN),
        ("订阅", Kind.OPT_IN),
        ("HELP", Kind.HELP),
        ("Help?", Kind.HELP),
        ("帮助", Kind.HELP),
        ("帮助？", Kind.HELP),
        ("RECORD", Kind.RECORD),
        ("record", Kind.RECORD),
        ("记录", Kind.RECORD),
        ("查询", Kind.RECORD),
    ],
)
def test_keywords_in_both_languages(text: str, kind: Kind) -> None:
    assert GRAMMAR.parse(text).kind is kind


@pytest.mark.parametrize(
    "text", ["please stop sending", "stopped", "I need help with rent", "取消退订吧", "Tom"]
)
def test_a_keyword_inside_a_sentence_is_a_need(text: str) -> None:
    assert GRAMMAR.parse(text).kind is Kind.NEED


@pytest.mark.parametrize(
    "text",
    [
        "I think I overdosed",
        "OVERDOSE",
        "thinking about suicide",
        "I want to kill myself",
        "i want to  kill   myself",
        "I just want to die",
        "我想死",
        "想 死",
        "我不想活了",
        "吃多了，过量了",
        "救命",
        "有自杀的念头",
        "ＯＶＥＲＤＯＳＥ",
    ],
)
def test_urgent_words_make_a_need_urgent(text: str) -> None:
    reply = GRAMMAR.parse(text)
    assert reply.kind is Kind.NEED
    assert reply.urgent


@pytest.mark.parametrize("text", ["I am on a diet", "studies", "我想去医院看看", "Can we talk?"])
def test_ordinary_needs_are_not_urgent(text: str) -> None:
    assert not GRAMMAR.parse(text).urgent


def test_extra_urgent_words_are_configurable() -> None:
    grammar = Grammar(split_words("跳河， jump off ,hopeless"))
    assert grammar.parse("想去跳河").urgent
    assert grammar.parse("I will jump  off the bridge").urgent
    assert grammar.parse("feeling HOPELESS").urgent
    assert not GRAMMAR.parse("feeling hopeless").urgent
    assert grammar.parse("overdose").urgent  # the built-in list stays


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("My dose is too low, withdrawal is bad", Category.MEDICAL),
        ("我最近很难受，想看医生", Category.MEDICAL),
        ("I keep having cravings", Category.COUNSELLING),
        ("心情不好，想找人聊聊", Category.COUNSELLING),
        ("The police stopped me", Category.LEGAL),
        ("派出所让我去一趟", Category.LEGAL),
        ("I lost my job and cannot pay rent", Category.HOUSING_INCOME),
        ("没有钱交房租", Category.HOUSING_INCOME),
        ("My wife wants to leave", Category.FAMILY),
        ("孩子上学的事", Category.FAMILY),
        ("what time do you open on sunday", Category.OTHER),
        ("你好", Category.OTHER),
    ],
)
def test_needs_are_sorted_into_categories(text: str, category: Category) -> None:
    reply = GRAMMAR.parse(text)
    assert reply.kind is Kind.NEED
    assert reply.category is category


def test_normalise_folds_width_case_and_spaces() -> None:
    assert normalise("  ＨＥＬＬＯ　Ｗｏｒｌｄ\t１２ ") == "hello world 12"
    assert split_words("a，b、c, ,d") == ["a", "b", "c", "d"]
