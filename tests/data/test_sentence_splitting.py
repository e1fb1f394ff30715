"""split_sentences: the documented rule for English-like and CJK text."""
import pytest

from cloze.data.sentences import split_sentences

TEXTS = [
    "One. Two! Three? Four… Five.",
    "He said \"Stop.\" Then he left.",
    "See e.g. the manual. Or i.e. not.",
    "日本語の文です。二つ目の文！三つ目？「引用。」最後",
    "中文句子。第二句。English follows. 然后中文。",
    "Line one\nstill sentence one. Next.\n\nnew paragraph without stop",
    "   leading spaces. Trailing   ",
    "",
    "no end mark at all",
]


@pytest.mark.parametrize("text", TEXTS)
def test_joining_the_sentences_gives_the_text_back(text):
    assert "".join(split_sentences(text)) == text


def test_english_splits_after_end_marks_followed_by_space():
    assert split_sentences("One. Two! Three? Four") == ["One. ", "Two! ", "Three? ", "Four"]


def test_closing_quotes_stay_with_their_sentence():
    assert split_sentences('He said "Stop." Then he left.') == ['He said "Stop." ',
                                                                "Then he left."]


def test_a_lower_case_continuation_does_not_start_a_sentence():
    assert split_sentences("See e.g. the manual. Next.") == ["See e.g. the manual. ", "Next."]


def test_decimal_points_and_urls_do_not_split():
    assert split_sentences("Pi is 3.14 and see python.org now.") == [
        "Pi is 3.14 and see python.org now."]


def test_cjk_splits_after_full_width_marks_without_spaces():
    assert split_sentences("今天很好。我们走吧！真的？「好。」最后") == [
        "今天很好。", "我们走吧！", "真的？", "「好。」", "最后"]


def test_a_blank_line_always_ends_a_sentence():
    assert split_sentences("title\n\nbody text") == ["title\n\n", "body text"]


def test_a_blank_line_ends_a_sentence_even_before_lower_case_after_an_end_mark():
    assert split_sentences("Done.\n \nnext part. More") == ["Done.\n \n", "next part. ", "More"]
