"""The report as one self-contained HTML page: inline CSS, charts as SVG data: URIs, no
scripts and nothing fetched from anywhere (the page's Content-Security-Policy forbids it),
so it opens from disk. Every string from the database is HTML-escaped."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from handoff import report_charts as charts
from handoff.report import OUTCOMES_AND_OPEN

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
FEEDBACK_ARTICLES_SHOWN = 20
NO_DATA = "no data"
SCORES_HEADER = "Scores 1 · 2 · 3 · 4 · 5"
ANSWER_TYPE_LABELS = {
    "kb": "Answer from an article (kb)",
    "suggest": "Suggested articles (suggest)",
}

STYLE = """
:root { color-scheme: light; --ink: #222; --muted: #5f6368; --line: #e0e0e0; --bg: #f6f7f9; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 48px; }
header h1 { margin: 0 0 4px; font-size: 26px; }
header p { margin: 0; color: var(--muted); }
h2 { font-size: 19px; margin: 0 0 10px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.demo { margin: 18px 0 0; padding: 12px 16px; border-radius: 8px; border: 2px solid #e65100;
  background: #fff3e0; color: #5d2a00; font-weight: 600; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr));
  gap: 14px; margin: 20px 0; }
.card, section { background: #fff; border: 1px solid var(--line); border-radius: 10px; }
.card { padding: 14px 16px; }
.card .value { font-size: 30px; font-weight: 700; line-height: 1.1; }
.card .name { font-weight: 600; margin-top: 2px; }
.card .sub { color: var(--muted); font-size: 13px; }
section { padding: 18px 20px; margin: 0 0 18px; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 18px; }
img.chart { display: block; width: 100%; max-width: 760px; height: auto; margin: 4px 0 8px; }
table { border-collapse: collapse; min-width: 60%; max-width: 100%; margin: 6px 0 4px;
  font-size: 14px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: 13px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.text { overflow-wrap: anywhere; }
p.def { color: var(--muted); font-size: 13px; margin: 6px 0 0; max-width: 860px; }
#period-definition { margin: 0 0 18px; }
.nodata { color: var(--muted); font-style: italic; margin: 6px 0; }
footer { color: var(--muted); font-size: 13px; margin-top: 24px; }
code { font-size: 13px; }
"""


def e(value: object) -> str:
    """HTML-escape anything shown on the page (database text may hold markup)."""
    return html.escape(str(value), quote=True)


def fmt_int(n: int | None) -> str:
    return NO_DATA if n is None else f"{n:,}"


def fmt_share(value: float | None) -> str:
    return NO_DATA if value is None else f"{value * 100:.1f}%"


def fmt_mean(value: float | None) -> str:
    return NO_DATA if value is None else f"{value:.2f}"


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return NO_DATA
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min {int(seconds % 60):02d} s"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h {minutes % 60:02d} min"
    return f"{hours // 24} d {hours % 24} h"


def _when(iso: str) -> str:
    return datetime.fromisoformat(iso.removesuffix("Z")).strftime("%d %b %Y %H:%M")


def _definition(report: dict[str, Any], *keys: str) -> str:
    return "".join(f'<p class="def">{e(report["definitions"][key])}</p>' for key in keys)


def _chart(uri: str | None, alt: str) -> str:
    if uri is None:
        return f'<p class="nodata">No data in this period for: {e(alt.lower())}.</p>'
    return f'<img class="chart" src="{uri}" alt="{e(alt)}">'


def _table(headers: list[str], rows: list[list[str]], numeric_from: int = 1) -> str:
    """`rows` hold already escaped/formatted cells; columns from `numeric_from` on are numbers."""
    head = "".join(
        f"<th{' class=num' if i >= numeric_from else ''}>{e(h)}</th>" for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"num" if i >= numeric_from else "text"}">{cell}</td>'
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _card(fig_id: str, value: str, name: str, sub: str, definition: str) -> str:
    return (
        f'<div class="card" id="card-{fig_id}"><div class="value">{e(value)}</div>'
        f'<div class="name">{e(name)}</div><div class="sub">{e(sub)}</div>'
        f'<p class="def">{e(definition)}</p></div>'
    )


def _cards(report: dict[str, Any]) -> str:
    f, d = report["figures"], report["definitions"]
    conv, cont, rate, csat = f["conversations"], f["containment"], f["handoff_rate"], f["csat"]
    bot, person = f["bot_first_response"], f["person_first_response"]
    return (
        '<div class="cards">'
        + _card(
            "conversations",
            fmt_int(conv["total"]),
            "Conversations",
            f"{conv['finished']:,} finished, {conv['open']:,} open",
            d["conversations"],
        )
        + _card(
            "containment",
            fmt_share(cont["share"]),
            "Containment (resolved by bot)",
            f"{cont['resolved_by_bot']:,} of {cont['finished']:,} finished",
            d["containment"],
        )
        + _card(
            "handoff-rate",
            fmt_share(rate["share"]),
            "Handoff rate",
            f"{rate['conversations_with_handoff']:,} conversations, {rate['handoffs']:,} handoffs",
            d["handoff_rate"],
        )
        + _card(
            "csat",
            fmt_mean(csat["mean"]),
            "CSAT (mean of 1–5)",
            f"{csat['responses']:,} responses, {fmt_share(csat['response_rate'])} response rate",
            d["csat"],
        )
        + _card(
            "bot-first-response",
            fmt_seconds(bot["median_s"]),
            "Bot first response (median)",
            f"p90 {fmt_seconds(bot['p90_s'])}, {bot['n']:,} conversations",
            d["bot_first_response"],
        )
        + _card(
            "person-first-response",
            fmt_seconds(person["median_s"]),
            "Person first response (median)",
            f"p90 {fmt_seconds(person['p90_s'])}, {person['n']:,} handoffs",
            d["person_first_response"],
        )
        + "</div>"
    )


def _outcomes(report: dict[str, Any]) -> str:
    o = report["figures"]["outcomes"]
    rows = [
        [e(charts.OUTCOME_LABELS[name]), fmt_int(o["counts"][name]), fmt_share(o["shares"][name])]
        for name in OUTCOMES_AND_OPEN
        if name != "open"
    ]
    rows.append(
        ["Open (not finished; share of all)", fmt_int(o["open"]), fmt_share(o["open_share"])]
    )
    return (
        '<section id="outcomes"><h2>Outcomes and containment</h2>'
        + _chart(charts.outcomes_chart(o), "Outcome shares of finished conversations")
        + _table(["Outcome", "Conversations", "Share"], rows)
        + _definition(report, "outcomes", "containment")
        + "</section>"
    )


def _handoffs(report: dict[str, Any]) -> str:
    f = report["figures"]
    rate, triggers = f["handoff_rate"], f["handoffs_by_trigger"]
    chart = charts.counts_chart(
        [t["trigger"] for t in triggers], [t["handoffs"] for t in triggers], "handoffs"
    )
    rows = [[e(t["trigger"]), fmt_int(t["handoffs"]), fmt_share(t["share"])] for t in triggers]
    return (
        '<section id="handoffs"><h2>Handoffs</h2>'
        f"<p>Handoff rate <strong>{fmt_share(rate['share'])}</strong>: "
        f"{rate['conversations_with_handoff']:,} of {rate['conversations']:,} conversations, "
        f"{rate['handoffs']:,} handoffs in all.</p>"
        + _definition(report, "handoff_rate")
        + "<h3>By trigger</h3>"
        + _chart(chart, "Handoffs by trigger")
        + (_table(["Trigger", "Handoffs", "Share"], rows) if rows else "")
        + _definition(report, "handoffs_by_trigger")
        + "</section>"
    )


def _times(report: dict[str, Any]) -> str:
    f = report["figures"]
    measures = [
        ("Bot first response", f["bot_first_response"], "bot_first_response", "conversations"),
        ("Person first response", f["person_first_response"], "person_first_response", "handoffs"),
        ("Time to claim", f["time_to_claim"], "time_to_claim", "handoffs"),
        ("Resolution time by a person", f["resolution_time"]["by_person"], "", "conversations"),
        ("Resolution time by the bot", f["resolution_time"]["by_bot"], "", "conversations"),
    ]
    rows = [
        [e(name), fmt_seconds(s["median_s"]), fmt_seconds(s["p90_s"]), f"{s['n']:,} {unit}"]
        for name, s, _key, unit in measures
    ]
    return (
        '<section id="times"><h2>Response and resolution times</h2>'
        + _table(["Measure", "Median", "p90", "Measured over"], rows)
        + _definition(
            report,
            "bot_first_response",
            "person_first_response",
            "time_to_claim",
            "resolution_time",
            "percentiles",
        )
        + "</section>"
    )


def _scores(distribution: dict[str, int]) -> str:
    """How many gave 1, 2, 3, 4 and 5, compactly."""
    return " · ".join(f"{distribution[str(s)]:,}" for s in range(1, 6))


def _csat(report: dict[str, Any]) -> str:
    f = report["figures"]
    csat = f["csat"]
    outcome_rows = [
        [
            e(charts.OUTCOME_LABELS[g["outcome"]]),
            fmt_mean(g["mean"]),
            _scores(g["distribution"]),
            fmt_int(g["responses"]),
            fmt_int(g["conversations"]),
            fmt_share(g["response_rate"]),
        ]
        for g in f["csat_by_outcome"]
    ]
    agent_rows = [
        [
            e(g["agent"]),
            fmt_mean(g["mean"]),
            _scores(g["distribution"]),
            fmt_int(g["responses"]),
            fmt_int(g["conversations"]),
            fmt_share(g["response_rate"]),
            fmt_int(g["resolved_by_human"]),
        ]
        for g in f["csat_by_agent"]
    ]
    return (
        '<section id="csat"><h2>Customer satisfaction (CSAT)</h2>'
        f"<p>Mean <strong>{fmt_mean(csat['mean'])}</strong> from {csat['responses']:,} "
        f"responses; response rate {fmt_share(csat['response_rate'])} of "
        f"{csat['conversations']:,} conversations.</p>"
        + _chart(charts.csat_chart(csat["distribution"]), "CSAT score distribution")
        + _definition(report, "csat")
        + "<h3>By outcome</h3>"
        + _table(
            ["Outcome", "Mean", SCORES_HEADER, "Responses", "Conversations", "Response rate"],
            outcome_rows,
        )
        + _definition(report, "csat_by_outcome")
        + "<h3>By agent</h3>"
        + (
            _table(
                [
                    "Agent",
                    "Mean",
                    SCORES_HEADER,
                    "Responses",
                    "Conversations",
                    "Response rate",
                    "Resolved by human",
                ],
                agent_rows,
            )
            if agent_rows
            else '<p class="nodata">No agent took a conversation in this period.</p>'
        )
        + _definition(report, "csat_by_agent")
        + "</section>"
    )


def _knowledge(report: dict[str, Any]) -> str:
    f = report["figures"]
    k, fb, unanswered = f["knowledge_answers"], f["answer_feedback"], f["unanswered_questions"]
    type_rows = [
        [e(name.capitalize()), fmt_int(k[name]), fmt_share(k["shares"][name])]
        for name in ("answered", "suggested", "abstained")
    ]
    verdict_rows = [
        [
            e(ANSWER_TYPE_LABELS.get(t["answer_type"], t["answer_type"])),
            fmt_int(t["yes"]),
            fmt_int(t["no"]),
            fmt_share(t["helpful_share"]),
        ]
        for t in fb["by_answer_type"]
    ]
    shown = fb["by_article"][:FEEDBACK_ARTICLES_SHOWN]
    article_rows = [
        [
            e(a["article_title"] or a["article_path"] or "(no article)")
            + (
                f"<br><code>{e(a['article_path'])}</code>"
                if a["article_title"] and a["article_path"]
                else ""
            ),
            fmt_int(a["yes"]),
            fmt_int(a["no"]),
            fmt_share(a["helpful_share"]),
        ]
        for a in shown
    ]
    more = len(fb["by_article"]) - len(shown)
    question_rows = [
        [e(q["question"]), fmt_int(q["times"]), fmt_int(q["customers"])] for q in unanswered["top"]
    ]
    deciders = k.get("decided_by") or {}
    decider_rows = [
        [e(label), fmt_int(deciders[name]["questions"]), fmt_share(deciders[name]["share"])]
        for name, label in (
            ("model", "The language model"),
            ("offline", "The offline answerer"),
            ("not recorded", "Not recorded"),
        )
        if name in deciders and (name != "not recorded" or deciders[name]["questions"])
    ]
    g = k.get("grounding") or {}
    grounding = (
        f"<p>Grounding check of the model's answers: {g['passed']:,} passed, "
        f"{g['failed']:,} failed ({fmt_share(g['failed_share'])} of {g['checked']:,} "
        "checked; failed ones went back to the offline answerer).</p>"
        if g.get("checked")
        else ""
    )
    return (
        '<section id="knowledge"><h2>Knowledge answers</h2>'
        + _table(["What the answerer did", "Questions", "Share"], type_rows)
        + _definition(report, "knowledge_answers")
        + _table(["Who decided", "Questions", "Share"], decider_rows)
        + grounding
        + _definition(report, "knowledge_decisions")
        + '<h3 id="feedback">Answer feedback</h3>'
        + (
            f"<p>{fb['yes']:,} helpful, {fb['no']:,} not helpful: "
            f"<strong>{fmt_share(fb['helpful_share'])}</strong> helpful.</p>"
            + _table(["Answer type", "Yes", "No", "Helpful"], verdict_rows)
            + _chart(charts.feedback_chart(shown[:10]), "Answer feedback by article")
            + _table(["Article", "Yes", "No", "Helpful"], article_rows)
            + (f"<p>…and {more:,} more articles (all in --json).</p>" if more > 0 else "")
            if fb["total"]
            else '<p class="nodata">No answer feedback in this period.</p>'
        )
        + _definition(report, "answer_feedback")
        + '<h3 id="unanswered">Questions the bot could not answer</h3>'
        + (
            f"<p>{unanswered['abstentions']:,} abstentions, "
            f"{unanswered['distinct_questions']:,} distinct questions; most asked:</p>"
            + _table(["Question", "Times asked", "Customers"], question_rows)
            if question_rows
            else '<p class="nodata">The bot answered every question in this period.</p>'
        )
        + _definition(report, "unanswered_questions")
        + "</section>"
    )


def _trends(report: dict[str, Any]) -> str:
    days = report["figures"]["trends"]["days"]
    return (
        '<section id="trends"><h2>Per day</h2>'
        "<h3>Conversations by outcome</h3>"
        + _chart(charts.trend_outcomes_chart(days), "Conversations per day by outcome")
        + '<div class="grid2"><div><h3>Handoff rate</h3>'
        + _chart(
            charts.trend_line_chart(days, "handoff_rate", "handoff rate", percent=True, half=True),
            "Handoff rate per day",
        )
        + "</div><div><h3>CSAT mean</h3>"
        + _chart(
            charts.trend_line_chart(days, "csat_mean", "CSAT mean", half=True), "CSAT mean per day"
        )
        + "</div></div>"
        + _definition(report, "trends")
        + "</section>"
    )


def render_html(report: dict[str, Any]) -> str:
    """The whole page for a report made by `handoff.report.build_report`."""
    period = report["period"]
    demo = report["demo"]
    banner = (
        f'<div class="demo" id="demo-banner" role="note">{e(demo["notice"])}</div>' if demo else ""
    )
    title = f"{report['title']} · {period['label']}"
    with charts.DRAWING:
        body = "\n".join(
            [
                _cards(report),
                f'<p class="def" id="period-definition">{e(report["definitions"]["period"])}</p>',
                _outcomes(report),
                _handoffs(report),
                _times(report),
                _csat(report),
                _knowledge(report),
                _trends(report),
            ]
        )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{e(CSP)}">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>{e(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<header>
<h1>{e(report["title"])}</h1>
<p id="period">Conversations started {e(_when(period["from"]))} to {e(_when(period["to"]))}
UTC ({e(period["label"])}). Generated {e(_when(report["generated_at"]))} UTC.</p>
{banner}
</header>
{body}
<footer>The same figures, with these definitions, are given by
<code>python -m handoff report --json</code>. {e(report["definitions"]["demo"])}</footer>
</main>
</body>
</html>
"""
