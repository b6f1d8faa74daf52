from handoff.slack_text import escape, to_customer_text
from handoff.summary import extractive_summary


def test_escape_neutralises_pings_and_fake_links() -> None:
    hostile = "<!channel> hi <@U123ABC> see <https://evil.example|your bank> & <!here>"
    out = escape(hostile)
    assert "<" not in out and ">" not in out
    assert "&lt;!channel&gt;" in out
    assert "&lt;@U123ABC&gt;" in out
    assert "&lt;https://evil.example|your bank&gt;" in out
    assert "&amp;" in out


def test_escape_is_not_double_unsafe() -> None:
    assert escape("a &lt; b") == "a &amp;lt; b"


def test_agent_mrkdwn_becomes_customer_text() -> None:
    text = "*Hi* <@U1>, see <https://help.example/returns|our returns page> &amp; ~old~ <!here>"
    out = to_customer_text(text, users={"U1": "Maria"})
    assert out == (
        "**Hi** @Maria, see [our returns page](https://help.example/returns) & ~~old~~ @here"
    )


def test_plain_link_and_mailto() -> None:
    assert to_customer_text("<https://x.example> or <mailto:a@b.example|a@b.example>") == (
        "https://x.example or a@b.example"
    )


def test_extractive_summary_picks_the_request() -> None:
    msgs = [
        "hello",
        "My order 1234 to Germany has not arrived. The tracking for order 1234 stopped.",
        "I want a human",
    ]
    summary = extractive_summary(msgs, max_sentences=2)
    assert "order 1234" in summary
    assert summary.index("Germany") < summary.index("tracking")


def test_extractive_summary_empty() -> None:
    assert extractive_summary([]) == ""
