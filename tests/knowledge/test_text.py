"""Customer text hygiene: HTML goes, the visible words stay, and no input is slow to clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from knowledge.text import MAX_QUESTION_CHARS, clean_question, strip_html

ROOT = Path(__file__).resolve().parents[2]
ONE_MB = 1_000_000
# A hanging clean is stopped here (the quadratic version needed minutes for 1 MB).
CHILD_TIMEOUT_S = 30


def seconds_to_clean(function: str, unit: str, size: int = ONE_MB) -> float:
    """Time one call in a child process, so a quadratic regex fails the test instead of
    holding the test run for half an hour."""
    code = (
        "import time\n"
        f"from knowledge.text import {function}\n"
        f"text = ({unit!r} * ({size} // {len(unit)} + 1))[:{size}]\n"
        "start = time.perf_counter()\n"
        f"{function}(text)\n"
        "print(time.perf_counter() - start)\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_S,
            check=True,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{function} on 1 MB of {unit!r} did not finish in {CHILD_TIMEOUT_S} s")
    return float(done.stdout.strip())


@pytest.mark.parametrize(
    "unit", ["<!--", "<a", "<script", "<style ", "< ", "<a>", "<!-- -->", "<" + "x" * 1999]
)
@pytest.mark.parametrize("function", ["strip_html", "clean_question"])
def test_a_megabyte_of_markup_is_cleaned_well_under_a_second(function: str, unit: str) -> None:
    assert seconds_to_clean(function, unit) < 0.5


def test_tags_scripts_styles_and_comments_are_removed() -> None:
    text = (
        "<div><script>alert('x')</script><style>b{}</style><!-- note -->"
        "<b>Where</b> is my <i>parcel</i>?</div>"
    )
    assert " ".join(strip_html(text).split()) == "Where is my parcel ?"


def test_an_unfinished_comment_or_script_hides_the_rest_as_a_browser_would() -> None:
    assert strip_html("refund <!-- hidden <b>x</b>").strip() == "refund"
    assert strip_html("refund <script>alert(1) and more").strip() == "refund"


def test_escaped_tags_are_removed_and_stray_brackets_cannot_form_new_ones() -> None:
    out = strip_html("&lt;script&gt;alert(1)&lt;/script&gt; is 3 &lt; 4 &amp; 4 < 5?")
    assert "alert" not in out and "<" not in out and ">" not in out
    assert out.strip() == "is 3 ‹ 4 & 4 ‹ 5?"


def test_the_question_is_cut_to_the_limit_after_cleaning() -> None:
    question = "<p>" + "where is my parcel " * 200 + "</p>"
    out = clean_question(question)
    assert len(out) == MAX_QUESTION_CHARS and out.startswith("where is my parcel")


def test_markup_before_the_question_does_not_push_it_out() -> None:
    markup = '<span class="x">' * 100  # 1,600 characters of tags, then the words
    assert clean_question(markup + "how long does delivery take?") == (
        "how long does delivery take?"
    )
