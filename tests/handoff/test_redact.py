"""Personal data is removed from customer text; order numbers and prices are not."""

from __future__ import annotations

import pytest
from parley_shared.redact import CARD, EMAIL, IBAN, PHONE, iban_valid, luhn_valid, redact


@pytest.mark.parametrize(
    "card",
    [
        "4111111111111111",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "5500 0000 0000 0004",
        "3782 822463 10005",  # Amex, 15 digits
    ],
)
def test_card_numbers_with_a_valid_check_digit_are_removed(card: str) -> None:
    out = redact(f"my card {card} was charged twice")
    assert out == f"my card {CARD} was charged twice"


def test_numbers_that_fail_luhn_are_kept() -> None:
    # An order number of card length whose check digit is wrong.
    assert not luhn_valid("4111111111111112")
    text = "order 4111111111111112 and tracking 1Z999AA10123456784"
    assert redact(text, phones=False) == text


@pytest.mark.parametrize(
    "iban", ["DE89 3704 0044 0532 0130 00", "DE89370400440532013000", "GB82WEST12345698765432"]
)
def test_ibans_with_a_valid_checksum_are_removed(iban: str) -> None:
    assert redact(f"refund to {iban} please") == f"refund to {IBAN} please"


def test_iban_shaped_text_with_a_wrong_checksum_is_kept() -> None:
    assert not iban_valid("DE00370400440532013000")
    assert "DE00370400440532013000" in redact("ref DE00370400440532013000", phones=False)


def test_emails_and_phones_are_removed_unless_switched_off() -> None:
    text = "write to ana.lopez+shop@example.co.uk or call +44 20 7946 0958 / (030) 1234 5678"
    assert redact(text) == f"write to {EMAIL} or call {PHONE} / {PHONE}"
    assert redact(text, emails=False, phones=False) == text


def test_everyday_numbers_are_not_personal_data() -> None:
    text = "Order #10234 of 2026-11-03 cost €49.95; 3–6 business days, 30 days to return"
    assert redact(text) == text


@pytest.mark.parametrize(
    "written",
    [
        "4111.1111.1111.1111",
        "4111/1111/1111/1111",
        "4111\u00a01111\u00a01111\u00a01111",
        "4\u200b1\u200b1\u200b1\u200b1\u200b1\u200b1\u200b1\u200b1\u200b1\u200b1\u200b1\u200b1\u200b1\u200b1\u200b1",
        "4111\u202f1111\u20091111\u20071111",
    ],
)
def test_disguised_card_numbers_are_removed(written: str) -> None:
    assert redact(f"card: {written}!", phones=False) == f"card: {CARD}!"


@pytest.mark.parametrize(
    "written",
    [
        "DE89-3704-0044-0532-0130-00",
        "DE89\u00a03704\u00a00044\u00a00532\u00a00130\u00a000",
        "de89 3704 0044 0532 0130 00",
        "GB82\u200bWEST12345698765432",
    ],
)
def test_disguised_ibans_are_removed(written: str) -> None:
    assert redact(f"iban {written} thanks", phones=False) == f"iban {IBAN} thanks"


def test_timestamps_and_decimals_are_not_card_numbers() -> None:
    # Slack message timestamps pass the Luhn check now and then; they are one long run of
    # digits, a dot and six more, not groups as people write card numbers.
    text = "thread 1700000001.000000 at 1700000042.000100, total 4111111.1111111"
    assert redact(text, phones=False) == text
