"""List pages: clamped sizes and opaque keyset tokens."""

import base64

import pytest

from meshkit import paging
from meshkit.errors import AppError, Kind


def test_no_page_size_means_the_default() -> None:
    assert paging.page_size(0) == paging.DEFAULT_PAGE_SIZE == 50


@pytest.mark.parametrize("requested", [1, 7, 99, 100])
def test_a_page_size_within_the_maximum_is_kept(requested: int) -> None:
    assert paging.page_size(requested) == requested


@pytest.mark.parametrize("requested", [101, 10_000])
def test_a_page_size_above_the_maximum_is_clamped_to_it(requested: int) -> None:
    assert paging.page_size(requested) == paging.MAX_PAGE_SIZE == 100


@pytest.mark.parametrize("requested", [-1, -50])
def test_a_negative_page_size_is_refused_naming_the_field(requested: int) -> None:
    with pytest.raises(AppError) as refused:
        paging.page_size(requested)
    assert refused.value.kind is Kind.INVALID_ARGUMENT
    assert [(v.field, v.description) for v in refused.value.violations] == [
        ("page_size", "must not be negative")
    ]


@pytest.mark.parametrize("key", [0, 1, 41, 2**62])
def test_a_token_brings_back_the_key_it_was_made_from(key: int) -> None:
    assert paging.decode(paging.encode(key)) == key


def test_tokens_are_url_safe_text() -> None:
    token = paging.encode(2**62)
    assert token.isascii() and not set(token) & set("+/ ")


def test_no_token_means_the_first_page() -> None:
    assert paging.decode("") is None


def _token(text: bytes) -> str:
    return base64.urlsafe_b64encode(text).decode()


@pytest.mark.parametrize(
    "token",
    [
        "not base64!",
        "A",
        _token(b"not json"),
        _token(b'{"before": 3}'),
        _token(b'{"after": "3"}'),
        _token(b'{"after": null}'),
        _token(b"[3]"),
        _token(b"3"),
    ],
)
def test_a_token_this_service_did_not_issue_is_refused(token: str) -> None:
    with pytest.raises(AppError) as refused:
        paging.decode(token)
    assert refused.value.kind is Kind.INVALID_ARGUMENT
    assert [(v.field, v.description) for v in refused.value.violations] == [
        ("page_token", "is not a token this service issued")
    ]
    assert refused.value.__cause__ is None  # nothing of the parser's reaches the client


def test_a_full_page_with_one_row_more_links_to_the_next_page() -> None:
    page = paging.page_of([10, 20, 30, 40], 3, key=lambda row: row)
    assert list(page.items) == [10, 20, 30]
    assert paging.decode(page.next_token) == 30


def test_the_last_page_has_no_next_token() -> None:
    for rows in ([10, 20], [10], []):
        page = paging.page_of(rows, 2, key=lambda row: row)
        assert list(page.items) == rows
        assert page.next_token == ""
