"""The grounding check on its own: what counts as the same fact, and what does not."""

from __future__ import annotations

import pytest

from knowledge.grounding import check, codes, money, numbers

PASSAGES = [
    "Standard delivery to the UK takes 3–6 business days and costs £7.50. Express takes "
    "two days. Orders over €1,000 ship free. Call +31 10 555 0142, 09:00–17:00. Use code "
    "WELCOME10 at checkout. Details: https://help.example/shipping",
    "Australian orders cost A$24 and include GST (10%).",
]


@pytest.mark.parametrize(
    "answer",
    [
        "Standard delivery takes 3–6 business days and costs £7.50 [1].",
        "Der Versand dauert 3–6 Werktage und kostet 7,50 £ [1].",  # German number format
        "Orders over €1.000 ship free [1].",  # the separators differ, the digits do not
        "Express takes 2 days [1].",  # "two" in the passage
        "Ring +31 10 555 0142 between 09:00 and 17:00 [1].",
        "Enter WELCOME10 [1]; see https://help.example/shipping.",
        "Australia: A$24 including 10% GST [2].",
        "英国への標準配送は3〜6営業日、送料は£7.50です[1]。",
        "It ships free [1] and includes GST [2].",  # no figures at all: nothing to find
    ],
)
def test_grounded_answers_pass(answer: str) -> None:
    result = check(answer, PASSAGES)
    assert result.passed, result.problems


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("Standard delivery takes 4–8 business days [1].", "number 8"),
        ("Standard delivery costs $7.50 [1].", "another currency"),
        ("Australian orders cost $24 [2].", "another currency"),
        ("Use code SAVE20 [1].", "'save20'"),
        ("See https://evil.example/offer [1].", "link https://evil.example/offer"),
        ("Write to refunds@evil.example [1].", "address refunds@evil.example"),
        ("It takes 3–6 business days [3].", "cites [3]"),
        ("It takes 3–6 business days.", "cites no passage"),
        # The fact is in a passage, but not in the one the answer cites.
        ("Australian orders cost A$24 [1].", "number 24"),
    ],
)
def test_ungrounded_answers_fail_and_say_why(answer: str, problem: str) -> None:
    result = check(answer, PASSAGES)
    assert not result.passed and result.verdict == "failed"
    assert any(problem in p for p in result.problems), result.problems


def test_the_articles_own_page_may_be_linked() -> None:
    answer = "Returns are free [1]: https://help.example/returns"
    assert not check(answer, ["Returns are free."]).passed
    assert check(answer, ["Returns are free."], own_links=["https://help.example/returns"]).passed


def test_what_is_read_as_a_number_a_code_and_an_amount() -> None:
    assert set(numbers("3–6 days, €1,299.00, 15GB [2]")) == {"3", "6", "129900", "15"}
    assert codes("WELCOME10, TW-482913, 5G, 15GB, USB-C, 送料は500円") == {"welcome10", "tw-482913"}
    assert set(money("A$24, $24, 24 €, EUR 12, 500円, CHF 9.90")) == {
        ("AUD", "24"),
        ("USD", "24"),
        ("EUR", "24"),
        ("EUR", "12"),
        ("JPY", "500"),
        ("CHF", "990"),
    }
