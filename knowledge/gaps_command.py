"""`python -m knowledge gaps`: drafts for what customers asked that the bot could not answer."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

from knowledge.settings import KnowledgeSettings, get_settings

HELP = "draft articles from what the bot could not answer (reviewable, never applied)"
DESCRIPTION = """\
Turn what customers asked and the bot could not answer into drafts an editor can review.

Reads the handoff database (HANDOFF_DB_URL, default PARLEY_STATE_DIR/handoff.db): questions
the bot said it did not know, answers customers said "No" to, and chats a person resolved
(with the agents' replies). Groups them by meaning, ranks the groups by how many customers
asked, and writes into --out, for every group asked by at least --min-customers customers:

  NN-<title>.md             a new article (marked `draft: true`: the bot ignores it until an
                            editor deletes that line), or
  NN-<article>-new-section.diff
                            a new section for the closest existing article, as a patch
                            (`git apply` or `patch -p1` from the project folder);
  index.md                  the groups ranked, with counts, example questions and drafts.

The agents' replies become the draft's text, personal data removed (card numbers, IBANs,
emails, phone numbers, the customer's name). With OPENAI_API_KEY set, a model rewrites the
text from the agents' replies only (--extractive: never). Nothing in the knowledge folder is
changed. Try it: python -m handoff demo, then python -m knowledge gaps.
"""
# Drafting is not on a customer's clock: give the model longer than an answer gets.
DRAFT_MODEL_TIMEOUT = 30.0


def add_arguments(sp: argparse.ArgumentParser) -> None:
    sp.add_argument(
        "--since",
        default="30d",
        help="how far back to look: 30d (default), 2w, 12h, a date like 2026-10-01, or all",
    )
    sp.add_argument(
        "--out", help="folder for the drafts (default: PARLEY_STATE_DIR/gaps, i.e. var/gaps)"
    )
    sp.add_argument(
        "--dir",
        "--knowledge-dir",
        dest="dir",
        help="knowledge folder (default: $KNOWLEDGE_DIR or knowledge/articles)",
    )
    sp.add_argument("--state-dir", help="state folder (default: $PARLEY_STATE_DIR or var)")
    sp.add_argument("--db", help="handoff database URL (default: $HANDOFF_DB_URL)")
    sp.add_argument(
        "--min-customers",
        type=int,
        default=2,
        help="draft only groups asked by at least this many customers (default 2)",
    )
    sp.add_argument(
        "--extractive",
        action="store_true",
        help="never use the language model, even with OPENAI_API_KEY set",
    )


def _settings(args: argparse.Namespace) -> KnowledgeSettings:
    s = get_settings().knowledge
    if args.dir:
        s = replace(s, knowledge_dir=Path(args.dir))
    if args.state_dir:
        s = replace(s, state_dir=Path(args.state_dir))
    return replace(s, watch=False)


def handoff_db_url(args: argparse.Namespace) -> str:
    if args.db:
        return str(args.db)
    return get_settings().handoff_database(Path(args.state_dir) if args.state_dir else None)


def missing_database(url: str) -> str | None:
    """Why there is nothing to read, for a SQLite file that does not exist (None: fine)."""
    if not url.startswith("sqlite:///") or url == "sqlite:///:memory:":
        return None
    path = Path(url.removeprefix("sqlite:///"))
    if path.is_file():
        return None
    return (
        f"there is no handoff database at {path}. The handoff service writes it while the bot "
        "runs (make run); to try this command, fill it with a month of demo conversations: "
        "python -m handoff demo. If yours lives elsewhere, set HANDOFF_DB_URL or pass --db."
    )


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def run(args: argparse.Namespace) -> int:
    from handoff.db import Database
    from handoff.gap_sources import ABSTAINED_KIND, RESOLVED_BY_PERSON, SAID_NO, collect
    from handoff.models import utcnow

    if args.min_customers < 1:
        raise ValueError("--min-customers must be 1 or more")
    settings = _settings(args)
    if not settings.knowledge_dir.is_dir():
        print(f"error: knowledge folder {settings.knowledge_dir} does not exist", file=sys.stderr)
        return 2
    from knowledge.gaps import parse_since

    now = utcnow()
    since = parse_since(args.since, now)
    url = handoff_db_url(args)
    problem = missing_database(url)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    db = Database(url)
    try:
        items = collect(db, since)
    finally:
        db.dispose()
    period = f"since {since:%Y-%m-%d %H:%M} UTC" if since else "in all its history"
    if not items:
        print(
            f"error: nothing to draft: the handoff database ({url}) has no unanswered "
            f'questions, "No" answers or chats resolved by a person {period}. Try --since '
            "all, or fill it with demo conversations: python -m handoff demo",
            file=sys.stderr,
        )
        return 1
    kinds = Counter(item.kind for item in items)
    customers = len({item.sender_id for item in items})
    summary = (
        f"{_count(len(items), 'question')} from {_count(customers, 'customer')} {period}: "
        f"{kinds[ABSTAINED_KIND]} the bot did not know, {kinds[SAID_NO]} answered "
        f'"No" to "did this help?", {kinds[RESOLVED_BY_PERSON]} chats resolved by a person.'
    )
    print(f"Read {summary}")

    from knowledge.embeddings import shared_encoder
    from knowledge.gaps import find_gaps

    encoder = shared_encoder("minilm", settings.encoder_dir)
    finding = find_gaps(items, encoder.passages, progress=True)
    if not finding.groups:
        print("error: every question was empty once cleaned; nothing to draft", file=sys.stderr)
        return 1

    from knowledge.articles import load_folder
    from knowledge.gap_drafts import write_drafts
    from knowledge.service import KnowledgeService

    svc = KnowledgeService(settings)  # its retriever places the drafts
    try:
        svc.indexer.sync(progress=True)  # drafts are placed against the current articles
        svc.retriever.refresh()
        chat, model_name = None, ""
        if settings.llm_enabled and not args.extractive:
            from knowledge.llm import make_chat_model

            timeout = max(settings.llm_timeout, DRAFT_MODEL_TIMEOUT)
            chat = make_chat_model(replace(settings, llm_timeout=timeout))
            model_name = f"the model {settings.openai_model}"
        languages = Counter(a.language for a in load_folder(settings.knowledge_dir).articles)
        out_dir = Path(args.out) if args.out else settings.state_dir / "gaps"
        result = write_drafts(
            finding.groups,
            out_dir,
            settings.knowledge_dir,
            lambda q: svc.retriever.search(q, top=5),
            f"{summary} Grouped by meaning into {_count(len(finding.groups), 'group')}.",
            dt.date.today(),
            min_customers=args.min_customers,
            chat=chat,
            model_name=model_name,
            language=languages.most_common(1)[0][0] if languages else "en",
        )
    finally:
        svc.stop()

    articles = sum(1 for d in result.drafts if d.kind == "article")
    sections = len(result.drafts) - articles
    print(
        f"Grouped by meaning into {_count(len(finding.groups), 'group')}; "
        f"{len(result.drafts)} asked by {args.min_customers} or more customers got a draft: "
        f"{_count(articles, 'new article')}, {_count(sections, 'new section')} for existing "
        f"articles. {len(result.undrafted)} smaller groups are listed without a draft."
    )
    fell_back = [d for d in result.drafts if "could not be used" in d.note]
    if fell_back:
        print(
            f"The model could not be used for {_count(len(fell_back), 'draft')}; they are "
            "extractive (each draft's header says why)."
        )
    print(f"Drafts are in {out_dir}/: start with {result.index_file}.")
    print(
        f"Nothing in {settings.knowledge_dir} was changed: review each draft, then copy it in "
        "(knowledge/README.md, 'Turning what the bot could not answer into articles')."
    )
    return 0
