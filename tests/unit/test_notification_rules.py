"""The rules for a notification's text (no transport, no database)."""

import pytest

from notifications.domain.notification import (
    DERIVED_SUBJECT,
    is_single_line,
    is_storable,
    subject_for,
)


def test_a_message_without_a_subject_is_titled_by_its_first_line() -> None:
    assert subject_for("Order 7 confirmed\nThank you!") == "Order 7 confirmed"


def test_blank_leading_lines_are_skipped_and_spaces_collapsed() -> None:
    message = "\n   \n  Your   parcel\tis on its way  \nmore"
    assert subject_for(message) == "Your parcel is on its way"


def test_an_empty_message_gives_an_empty_subject() -> None:
    assert subject_for("") == ""
    assert subject_for(" \n \n") == ""


def test_a_first_line_of_exactly_78_characters_is_kept_whole() -> None:
    line = "x" * DERIVED_SUBJECT
    assert DERIVED_SUBJECT == 78
    assert subject_for(line) == line


def test_a_longer_first_line_is_cut_at_a_word_boundary_with_an_ellipsis() -> None:
    words = "word " * 30  # 150 characters
    subject = subject_for(words)
    assert subject == ("word " * 15).rstrip() + "…"
    assert len(subject) <= DERIVED_SUBJECT


def test_the_cut_never_leaves_trailing_punctuation_before_the_ellipsis() -> None:
    line = "a" * 70 + ", bbbbbbbbbbbbbbb"
    assert subject_for(line) == "a" * 70 + "…"


def test_the_cut_keeps_every_letter_of_the_last_word() -> None:
    line = "a" * 60 + " BOX " + "b" * 30
    assert subject_for(line) == "a" * 60 + " BOX…"


def test_a_single_word_too_long_is_cut_mid_word_to_the_limit() -> None:
    subject = subject_for("y" * 200)
    assert subject == "y" * (DERIVED_SUBJECT - 1) + "…"
    assert len(subject) == DERIVED_SUBJECT


@pytest.mark.parametrize("text", ["Order 7 shipped", "", "naïve, ça va"])
def test_text_without_line_breaks_is_a_single_line(text: str) -> None:
    assert is_single_line(text)


@pytest.mark.parametrize("text", ["one\ntwo", "one\rtwo", "one\r\ntwo", "end\n", "a\u2028b"])
def test_any_line_break_makes_a_subject_unusable_as_a_header(text: str) -> None:
    assert not is_single_line(text)


def test_text_with_a_nul_character_cannot_be_stored() -> None:
    assert is_storable("fine text")
    assert not is_storable("bad\x00text")
