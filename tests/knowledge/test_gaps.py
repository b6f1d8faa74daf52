"""The knowledge-gap loop (`python -m knowledge gaps`): grouping and ranking, the two draft
formats, personal data, the model path, the command's errors, and the proof that an editor
who adds the draft gets the same questions answered."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from handoff.db import Database
from handoff.gap_sources import ABSTAINED_KIND, RESOLVED_BY_PERSON, GapItem
from handoff.models import utcnow
from handoff.packet import collect_packet
from handoff.service import HandoffService
from knowledge.articles import parse_article
from knowledge.cli import main
from knowledge.embeddings import shared_encoder
from knowledge.gap_drafts import (
    WRITE_HERE,
    article_draft,
    extractive_body,
    model_body,
    section_patch,
    write_drafts,
)
from knowledge.gaps import (
    GapGroup,
    Placement,
    find_gaps,
    parse_since,
    place,
    prepare,
)
from knowledge.llm import make_chat_model
from knowledge.retriever import ArticleHit
from knowledge.service import KnowledgeService
from knowledge.settings import KnowledgeSettings
from tests.fake_openai import FakeOpenAI
from tests.knowledge.conftest import SAMPLE_ARTICLES, article

AT = datetime(2026, 11, 10, 12, 0)
TODAY = dt.date(2026, 11, 24)
WRAP_REPLY = (
    "Yes: gift wrapping costs €3.50 per item. Choose Gift wrap at checkout and add a message "
    "of up to 200 characters; gift-wrapped parcels carry no prices."
)


def item(
    sender: str,
    question: str,
    kind: str = ABSTAINED_KIND,
    replies: tuple[str, ...] = (),
    minutes: int = 0,
    **extra: str,
) -> GapItem:
    return GapItem(
        sender, question, kind, AT + timedelta(minutes=minutes), agent_replies=replies, **extra
    )


def fixed_encoder(table: dict[str, list[float]]) -> Callable[[list[str]], np.ndarray]:
    def encode(texts: list[str]) -> np.ndarray:
        rows = np.array([table[t] for t in texts], dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    return encode


def no_articles(question: str) -> list[ArticleHit]:
    return []


def hit(path: str, score: float) -> ArticleHit:
    return ArticleHit(path, path, "", "v1", score, score, score)


def one_group(items: list[GapItem]) -> GapGroup:
    table = {q.text: [1.0, 0.1 * i] for i, q in enumerate(prepare(items))}
    [group] = find_gaps(items, fixed_encoder(table)).groups
    return group


# -- grouping and ranking -------------------------------------------------------------------
def test_groups_are_ranked_by_customers_then_questions_with_the_central_question_first():
    table = {
        # wrapping: 3 customers, 3 questions
        "gift wrap?": [1, 0, 0, 0.0],
        "do you wrap presents": [1, 0, 0, 0.2],
        "wrapping paper": [1, 0, 0, -0.2],
        # showroom: 2 customers, 4 questions
        "showroom?": [0, 1, 0, 0.3],
        "can I visit a shop": [0, 1, 0, -0.3],
        "do you have a store": [0, 1, 0, 0.0],
        "store opening hours": [0, 1, 0, 0.1],
        # jobs: 3 customers, 4 questions ("are you hiring" is the most central)
        "jobs?": [0, 0, 1, 0.4],
        "are you hiring": [0, 0, 1, 0.0],
        "internships": [0, 0, 1, -0.4],
        "send my cv": [0, 0, 1, 0.3],
    }
    items = [
        item("a", "gift wrap?"),
        item("b", "do you wrap presents"),
        item("c", "wrapping paper"),
        item("d", "showroom?"),
        item("d", "can I visit a shop", minutes=1),
        item("d", "do you have a store", minutes=2),
        item("e", "store opening hours"),
        item("f", "jobs?"),
        item("g", "are you hiring"),
        item("h", "internships"),
        item("f", "send my cv", minutes=5),
    ]
    groups = find_gaps(items, fixed_encoder(table)).groups
    assert [(g.customers, g.count) for g in groups] == [(3, 4), (3, 3), (2, 4)]
    assert [g.central.text for g in groups] == [
        "are you hiring",
        "gift wrap?",
        "do you have a store",
    ]
    assert sorted(q.text for q in groups[1].questions) == sorted(
        ["gift wrap?", "do you wrap presents", "wrapping paper"]
    )


def test_the_shipped_encoder_groups_paraphrases_and_the_same_phrasing_counts_once():
    items = [
        item("a", "Do you offer gift wrapping?"),
        item("b", "can u gift wrap my order pls"),
        item("c", "Gift wrap??"),
        item("d", "gift wrap"),
        item("e", "Are you hiring?"),
        item("f", "how can i apply for a job at tidewell"),
    ]
    groups = find_gaps(items, shared_encoder("minilm").passages).groups
    by_size = sorted((sorted(q.sender_id for q in g.questions) for g in groups), key=len)
    assert by_size == [["e", "f"], ["a", "b", "c", "d"]]
    wrapping = next(g for g in groups if g.count == 4)
    assert len(wrapping.distinct_texts()) == 3  # "Gift wrap??" and "gift wrap" are one


def test_since_accepts_periods_dates_and_all():
    now = datetime(2026, 11, 24, 12, 0)
    assert parse_since("30d", now) == now - timedelta(days=30)
    assert parse_since("2w", now) == now - timedelta(weeks=2)
    assert parse_since("12h", now) == now - timedelta(hours=12)
    assert parse_since("2026-10-01", now) == datetime(2026, 10, 1)
    assert parse_since("all", now) is None
    with pytest.raises(ValueError, match="30d, 2w, 12h"):
        parse_since("last month", now)


def test_a_group_goes_into_the_article_most_of_its_questions_find_first():
    group = one_group([item(s, f"question {s}") for s in "abcd"])
    close = {
        "question a": [hit("payment-methods.md", 0.30)],
        "question b": [hit("payment-methods.md", 0.30)],
        "question c": [hit("payment-methods.md", 0.30)],
        "question d": [hit("gift-cards.md", 0.40), hit("payment-methods.md", 0.20)],
    }
    place(group, lambda q: close[q])
    assert group.placement == Placement("payment-methods.md", 0.75, pytest.approx(0.275))

    split = {**close, "question b": [hit("gift-cards.md", 0.5)]}
    place(group, lambda q: split[q])
    assert group.placement is None  # 2 of 4: not one article's topic
    assert group.nearest is not None and group.nearest.share == 0.5

    weak = {q: [hit("payment-methods.md", 0.1)] for q in close}
    place(group, lambda q: weak[q])
    assert group.placement is None and group.nearest == Placement("payment-methods.md", 1.0, 0.1)


# -- the drafts -----------------------------------------------------------------------------
def test_small_talk_and_chat_specific_lines_stay_out_of_the_body():
    group = one_group(
        [
            item(
                "a",
                "do you gift wrap",
                RESOLVED_BY_PERSON,
                (
                    "Hi Maria, Ben here from the support team.",
                    f"Sure! {WRAP_REPLY}",
                    "I've sent you an email with the details. Have a nice day!",
                ),
                customer_name="Maria",
                agent_name="Ben Okafor",
            ),
            item("b", "gift wrapping?"),
        ]
    )
    body = extractive_body(group)
    assert body.sections == [("do you gift wrap", WRAP_REPLY)]
    assert body.note.startswith("extractive")


def test_a_group_nobody_answered_asks_the_editor_to_write_the_answer():
    group = one_group([item("a", "can I rent a lamp"), item("b", "lamp rental?")])
    body = extractive_body(group)
    assert body.sections == [(group.central.text, WRITE_HERE)]
    assert "answer is yours to write" in body.note


def test_a_new_article_parses_is_flagged_by_check_and_is_not_served_until_reviewed(
    tmp_path: Path, make_service: Callable[..., KnowledgeService], capsys
):
    group = one_group(
        [
            item("a", "Do you have a physical store I can visit?", RESOLVED_BY_PERSON,
                 ("Our showroom is at Wijnhaven 12 in Rotterdam, open Thursday to Saturday.",)),
            item("b", "can I visit your showroom in Rotterdam?"),
        ]
    )  # fmt: skip
    text = article_draft(group, extractive_body(group), TODAY)
    art, problems = parse_article("showroom.md", text.encode())
    assert art is not None and art.draft
    assert art.title == "Do you have a physical store I can visit?"
    assert art.url.startswith("https://help.example.com/EDIT-THIS-ADDRESS/")
    assert art.updated == "2026-11-24" and art.language == "en"
    assert {"visit", "showroom", "rotterdam"} <= set(art.tags)
    assert "## Do you have a physical store I can visit?\n\nOur showroom is at Wijnhaven" in text
    assert any("draft: true" in p.message for p in problems)

    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "returns.md").write_text(article("Returning an item", "Return within 30 days."))
    (folder / "showroom.md").write_text(text)
    assert main(["check", "--dir", str(folder)]) == 0
    assert "showroom.md:7: marked 'draft: true'" in capsys.readouterr().out

    svc = make_service(folder)
    svc.sync()
    assert svc.answer("can I visit your showroom?").answer_type == "abstain"
    (folder / "showroom.md").write_text(text.replace("draft: true\n", ""))
    svc.sync()
    answer = svc.answer("can I visit your showroom?")
    assert answer.answer_type == "kb" and "Wijnhaven 12" in answer.text


@pytest.mark.parametrize("ending", ["\n", ""])
def test_a_new_section_is_a_patch_that_applies_from_the_project_folder(tmp_path: Path, ending):
    folder = tmp_path / "knowledge" / "articles"
    folder.mkdir(parents=True)
    original = article("Gift cards", "## Buying one\n\nFrom €10.", updated="2026-07-01")
    (folder / "gift-cards.md").write_text(original.rstrip("\n") + ending)
    group = one_group(
        [item("a", "do you gift wrap", RESOLVED_BY_PERSON, (WRAP_REPLY,)), item("b", "wrap?")]
    )
    patch = section_patch(
        group, extractive_body(group), folder / "gift-cards.md", "knowledge/articles/gift-cards.md",
        TODAY,
    )  # fmt: skip
    assert patch.startswith("--- a/knowledge/articles/gift-cards.md\n+++ b/knowledge/")
    (tmp_path / "draft.diff").write_text(patch)
    check = subprocess.run(["git", "apply", "--check", "draft.diff"], cwd=tmp_path)
    assert check.returncode == 0
    subprocess.run(["patch", "-p1", "-i", "draft.diff"], cwd=tmp_path, check=True)

    patched = (folder / "gift-cards.md").read_text()
    assert patched.startswith(original.split("updated:")[0] + "updated: 2026-11-24\n")
    assert "From €10.\n\n<!-- DRAFT written by" in patched
    assert patched.endswith(f"## Do you gift wrap\n\n{WRAP_REPLY}\n")
    art, problems = parse_article("gift-cards.md", patched.encode())
    assert art is not None and not art.draft
    assert any("a draft section" in p.message for p in problems)


def test_personal_data_and_html_never_reach_a_draft_or_the_index(tmp_path: Path):
    pii = ("4111 1111 1111 1111", "ana@example.com", "7946 0958", "DE89", "Maria", "Lopez", "Ben")
    items = [
        item(
            "a",
            "<script>alert(1)</script>Can I pay with card 4111 1111 1111 1111? | mail "
            "ana@example.com\n# second line",
            RESOLVED_BY_PERSON,
            (
                "Hi Maria, Ben here.",
                "Yes Maria Lopez: call +44 20 7946 0958, or pay to IBAN DE89 3704 0044 0532 "
                "0130 00 with 3 instalments.\n# not a heading\n<b>bold</b> -->",
            ),
            customer_name="Maria Lopez",
            agent_name="Ben Okafor",
        ),
        item("b", "pay by card in instalments? my email is ana@example.com"),
    ]
    group = one_group(items)
    folder = tmp_path / "knowledge" / "articles"
    folder.mkdir(parents=True)
    (folder / "payment-methods.md").write_text(article("Payment methods", "We accept cards."))
    outputs = []
    for search, out in (
        (no_articles, tmp_path / "as-article"),
        (lambda q: [hit("payment-methods.md", 0.5)], tmp_path / "as-section"),
    ):
        run = write_drafts([group], out, folder, search, "2 questions.", TODAY, apply_from=tmp_path)
        [draft] = run.drafts
        outputs.append((out / draft.file_name).read_text())
        outputs.append(run.index_file.read_text())
    for text in outputs:
        for secret in pii:
            assert secret not in text
        assert "<script" not in text and "<b>" not in text
        assert "[card number removed]" in text and "[email removed]" in text
        # The comment is closed once, at its end; no text opens a heading of its own.
        assert text.count("-->") == 1 or "index" not in text
        assert not re.search(r"^[+]?# (second line|not a heading)", text, re.M)
    new_article = outputs[0]
    assert parse_article("x.md", new_article.encode())[0] is not None
    row = next(line for line in outputs[1].splitlines() if line.startswith("| 1 |"))
    assert len(re.split(r"(?<!\\)\|", row)) == 10  # 8 cells: the customer's "|" is escaped


# -- the model path -------------------------------------------------------------------------
@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    yield fake
    fake.close()


def chat_for(fake: FakeOpenAI, timeout: float = 2.0):
    settings = KnowledgeSettings(
        openai_api_key="sk-test", openai_base_url=fake.url, openai_model="m", llm_timeout=timeout
    )
    return make_chat_model(settings)


@pytest.fixture
def wrap_group() -> GapGroup:
    return one_group(
        [
            item("a", "do you gift wrap? I'm ana@example.com", RESOLVED_BY_PERSON,
                 ("Hi Ana, Ben here.", WRAP_REPLY), customer_name="Ana", agent_name="Ben"),
            item("b", "gift wrapping?"),
        ]
    )  # fmt: skip


def test_the_model_writes_from_the_agents_replies_only(fake_openai, wrap_group):
    fake_openai.reply = "You can have any item gift wrapped for €3.50 at checkout."
    body = model_body(chat_for(fake_openai), wrap_group, "the model m")
    assert body.sections == [(wrap_group.central.text, fake_openai.reply)]
    assert body.note.startswith("written by the model m from the agents' replies only")
    [request] = fake_openai.requests
    system, user = request["body"]["messages"]
    assert "ONLY from the support agents' replies" in system["content"]
    assert WRAP_REPLY in user["content"] and "gift wrapping?" in user["content"]
    assert "ana@example.com" not in user["content"] and "Ana" not in user["content"]


@pytest.mark.parametrize(
    ("status", "delay", "reply", "reason"),
    [
        (500, 0.0, "", "could not be used ("),  # the error's type is named
        (200, 1.5, "", "TimeoutError)"),
        (200, 0.0, "Gift wrap costs €5 per item.", "figures no agent wrote (5)"),
        (200, 0.0, "NO_ANSWER", "found no answer in the agents' replies"),
    ],
)
def test_the_draft_falls_back_to_the_agents_words_and_says_why(
    fake_openai, wrap_group, status, delay, reply, reason
):
    fake_openai.status, fake_openai.delay, fake_openai.reply = status, delay, reply
    body = model_body(chat_for(fake_openai, timeout=0.5), wrap_group, "the model m")
    assert body.sections == extractive_body(wrap_group).sections
    assert reason in body.note and "extractive" in body.note


def test_the_draft_header_says_the_model_wrote_it(fake_openai, wrap_group, tmp_path: Path):
    fake_openai.reply = "Gift wrapping costs €3.50 per item; choose Gift wrap at checkout."
    run = write_drafts(
        [wrap_group], tmp_path / "out", tmp_path, no_articles, "s", TODAY,
        chat=chat_for(fake_openai), model_name="the model m",
    )  # fmt: skip
    text = (tmp_path / "out" / run.drafts[0].file_name).read_text()
    assert "Text: written by the model m from the agents' replies only" in text
    assert f"- {WRAP_REPLY}" in text  # the editor sees what it was written from
    assert "costs €3.50 per item; choose Gift wrap" in text


# -- the command ----------------------------------------------------------------------------
def test_the_command_says_what_to_do_without_a_database_or_without_data(tmp_path: Path, capsys):
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "a.md").write_text(article("A", "Text."))
    db_file = tmp_path / "handoff.db"
    args = ["gaps", "--dir", str(folder), "--db", f"sqlite:///{db_file}", "--out", "x"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"no handoff database at {db_file}" in err and "python -m handoff demo" in err
    assert not db_file.exists()

    Database(f"sqlite:///{db_file}").dispose()
    assert main(args) == 1
    assert "nothing to draft" in capsys.readouterr().err
    assert main([*args, "--since", "soon"]) == 2
    assert "--since must look like" in capsys.readouterr().err


# -- the proof: an editor adds the draft, and the same questions are answered ----------------
SHOWROOM = (
    ["Do you have a physical store I can visit?",
     "is there a shop in Rotterdam where I can see the lamps",
     "can I visit your showroom?"],
    "Our showroom is at Wijnhaven 12 in Rotterdam, open Thursday to Saturday from 10:00 to "
    "18:00. You can try every lamp and the Pulse earbuds there, and collect online orders.",
    "Wijnhaven 12",
)  # fmt: skip
GIFT_WRAP = (
    ["Do you offer gift wrapping?", "can you gift wrap my order", "is gift wrapping available?"],
    WRAP_REPLY,
    "€3.50",
)


def seed(db: Database, topics: dict[str, tuple[list[str], str, str]]) -> None:
    """Per topic: every question abstained on, by one customer each; the first customer then
    accepts a person, who answers and resolves the chat (all through HandoffService)."""
    now = [utcnow() - timedelta(days=2)]

    def tick(seconds: float) -> float:
        now[0] += timedelta(seconds=seconds)
        return now[0].replace(tzinfo=UTC).timestamp()

    service = HandoffService(db, clock=lambda: now[0])
    for name, (questions, reply, _) in topics.items():
        for i, question in enumerate(questions):
            sender = f"{name}-{i}"
            user = {"event": "user", "sender_id": sender, "text": question, "timestamp": tick(300)}
            custom = {"answer_type": "abstain", "question": question, "sources": []}
            bot = {"event": "bot", "sender_id": sender, "text": "I don't know",
                   "timestamp": tick(2), "data": {"custom": custom}}  # fmt: skip
            service.note_rasa_event(user)
            service.note_rasa_event(bot)
            if i:
                continue
            accept = {
                "event": "user",
                "sender_id": sender,
                "text": "yes please",
                "timestamp": tick(20),
            }
            slots = {"session_started_metadata": {"name": "Maria Lopez"}}
            packet = collect_packet([user, bot, accept], slots, "explicit_request")
            handoff_id = service.open_handoff(sender, packet).handoff_id
            service.claim(handoff_id, "U1", "Ben Okafor")
            for text in ("Hi Maria, Ben here.", reply, "I've emailed you at maria@example.com."):
                tick(30)
                service.agent_reply(handoff_id, "U1", text)
            tick(60)
            service.resolve(handoff_id, "U1", "resolved")


def test_after_the_editor_adds_the_drafts_the_same_questions_are_answered(
    tmp_path: Path,
    sample_service: KnowledgeService,
    make_service: Callable[..., KnowledgeService],
    monkeypatch: pytest.MonkeyPatch,
):
    topics = {"showroom": SHOWROOM, "giftwrap": GIFT_WRAP}
    questions = [q for qs, _, _ in topics.values() for q in qs]
    # Not answered (at most suggested, with the question whether it helped).
    assert "kb" not in [sample_service.answer(q).answer_type for q in questions]

    project = tmp_path / "project"
    folder = project / "knowledge" / "articles"
    shutil.copytree(SAMPLE_ARTICLES, folder)
    db_url = f"sqlite:///{tmp_path / 'handoff.db'}"
    db = Database(db_url)
    seed(db, topics)
    db.dispose()

    monkeypatch.chdir(project)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = tmp_path / "drafts"
    args = ["gaps", "--dir", "knowledge/articles", "--state-dir", str(tmp_path / "cli-state")]
    assert main([*args, "--db", db_url, "--out", str(out)]) == 0
    drafts = sorted(p.name for p in out.iterdir() if p.name != "index.md" and p.suffix != "")
    assert drafts == [
        "01-gift-cards-new-section.diff",
        "02-do-you-have-a-physical-store-i-can-visit.md",
    ]
    index = (out / "index.md").read_text()
    assert "| 1 | 3 | 4 | 3 | 0 | 1 |" in index and "| 2 | 3 | 4 | 3 | 0 | 1 |" in index
    assert "maria@example.com" not in index + "".join((out / name).read_text() for name in drafts)

    # The editor: applies the section patch and copies the article in as it is ...
    subprocess.run(["patch", "-p1", "-i", str(out / drafts[0])], cwd=project, check=True)
    new_article = folder / drafts[1]
    shutil.copy(out / drafts[1], new_article)
    svc = make_service(folder)
    svc.sync()
    assert svc.answer(SHOWROOM[0][0]).answer_type == "abstain"  # a draft is never served
    # ... reviews it, deletes `draft: true`, and the bot picks it up.
    new_article.write_text(new_article.read_text().replace("draft: true\n", ""))
    svc.sync()

    for name, (asked, _, fact) in topics.items():
        expected = "gift-cards.md" if name == "giftwrap" else drafts[1]
        for question in asked:
            answer = svc.answer(question)
            assert answer.answer_type == "kb", question
            assert [s["path"] for s in answer.sources] == [expected]
            assert fact in answer.text
