"""Command line for editors and operators: python -m knowledge {index,check,search,watch,gaps}."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

from parley_shared import language

from knowledge.articles import load_folder
from knowledge.settings import KnowledgeSettings, get_settings, reset_settings

DESCRIPTION = """\
Manage the knowledge base the support bot answers from.

The articles live in the knowledge folder (KNOWLEDGE_DIR, default knowledge/articles); the
index lives under PARLEY_STATE_DIR/index (default var/index). The running bot re-indexes
changed articles by itself within a second or two; these commands are for checking and
previewing.
"""


def _settings(args: argparse.Namespace) -> KnowledgeSettings:
    s = get_settings().knowledge
    if getattr(args, "dir", None):
        s = replace(s, knowledge_dir=Path(args.dir))
    if getattr(args, "state_dir", None):
        s = replace(s, state_dir=Path(args.state_dir))
    return s


def _service(settings: KnowledgeSettings):
    from knowledge.service import KnowledgeService

    return KnowledgeService(settings)


def _print_problems(report) -> None:
    for w in report.warnings:
        print(f"warning: {w}")
    for e in report.errors:
        print(f"error:   {e}")


def cmd_index(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if not settings.knowledge_dir.is_dir():
        print(f"error: knowledge folder {settings.knowledge_dir} does not exist")
        return 2
    svc = _service(settings)
    report = svc.indexer.sync(progress=True, force=args.full)
    if report.follower:
        print(
            "another replica is writing the shared index (Chroma server); nothing done here. "
            f"Index version {report.generation}."
        )
        return 0
    _print_problems(report)
    print(
        f"{report.scanned} files: {len(report.indexed)} (re)indexed, {report.unchanged} unchanged, "
        f"{len(report.removed)} removed, {len(report.errors)} with errors; "
        f"{report.embedded_chunks} passages embedded; index version {report.generation}"
    )
    return 1 if report.errors else 0


def cmd_check(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if not settings.knowledge_dir.is_dir():
        print(f"error: knowledge folder {settings.knowledge_dir} does not exist")
        return 2
    result = load_folder(settings.knowledge_dir)
    for w in result.warnings:
        print(f"warning: {w}")
    for e in result.errors:
        print(f"error:   {e}")
    titles = Counter(a.title.lower() for a in result.articles)
    urls = Counter(a.url for a in result.articles if a.url)
    dup = 0
    for a in result.articles:
        if titles[a.title.lower()] > 1:
            print(f"warning: {a.path}:1: the title {a.title!r} is used by more than one article")
            dup += 1
        if a.url and urls[a.url] > 1:
            print(f"warning: {a.path}:1: the url {a.url} is used by more than one article")
    print(
        f"{len(result.articles)} articles OK, {len(result.errors)} with errors, "
        f"{len(result.warnings) + dup} warnings"
    )
    return 1 if result.errors else 0


def cmd_search(args: argparse.Namespace) -> int:
    settings = _settings(args)
    svc = _service(settings)
    if svc.manifest.generation() == 0 or args.reindex:
        svc.indexer.sync(progress=True)
    svc.retriever.refresh()
    lang = language.normalise(args.language) or language.detect(args.question)
    hits = svc.retriever.search(args.question, top=args.k, language=lang)
    if not hits:
        print("No articles in the index yet. Run: python -m knowledge index")
        return 1
    for rank, hit in enumerate(hits, 1):
        suffix = "" if hit.language == "en" else f", {hit.language}"
        print(f"{rank}. {hit.score:.3f}  {hit.title}  [{hit.path}{suffix}]")
        print(f"     title {hit.title_similarity:.3f}, best passage {hit.passage_similarity:.3f}")
        for p in hit.passages[: args.passages]:
            text = p.text.replace("\n", " ")
            text = text if len(text) <= 160 else text[:157] + "..."
            print(f"     {p.similarity:.3f}  {p.heading or '(intro)'}: {text}")
    answer = svc.answer(args.question, lang)
    best = (answer.sources or answer.tried or [{"score": 0.0}])[0]["score"]
    answer_at, suggest_at = svc.thresholds(lang, hits[0].language)
    print(
        f"\nThe bot would answer ({answer.answer_type}; confidence {best:.3f}, "
        f"it answers at {answer_at} or more, suggests from {suggest_at}; "
        f"in {language.NAMES.get(lang, lang)}):"
    )
    print("  " + answer.text.replace("\n", "\n  "))
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    settings = _settings(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    svc = _service(settings)
    report = svc.indexer.sync(progress=True)
    _print_problems(report)
    print(f"watching {settings.knowledge_dir} (Ctrl-C to stop)")
    svc.start(watch=True)
    try:
        while True:
            if svc._watcher is None or not svc._watcher.is_alive():
                return 1
            svc._watcher.join(timeout=1)
    except KeyboardInterrupt:
        svc.stop()
        return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m knowledge",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--dir", help="knowledge folder (default: $KNOWLEDGE_DIR)")
        sp.add_argument("--state-dir", help="state folder (default: $PARLEY_STATE_DIR or var)")

    sp = sub.add_parser("index", help="index new and changed articles (only those)")
    common(sp)
    sp.add_argument("--full", action="store_true", help="re-embed every article")
    sp.set_defaults(func=cmd_index)

    sp = sub.add_parser("check", help="check every article for problems, without indexing")
    common(sp)
    sp.set_defaults(func=cmd_check)

    sp = sub.add_parser("search", help="show the best matching articles and the bot's answer")
    common(sp)
    sp.add_argument("question", help="a customer question, in quotes")
    sp.add_argument("-k", type=int, default=5, help="how many articles to show (default 5)")
    sp.add_argument(
        "--language",
        default="",
        help="the customer's language (en, de, es, fr, zh, ja); default: read from the question",
    )
    sp.add_argument("--passages", type=int, default=2, help="passages per article (default 2)")
    sp.add_argument("--reindex", action="store_true", help="index changed articles first")
    sp.set_defaults(func=cmd_search)

    sp = sub.add_parser("watch", help="keep the index up to date while you edit articles")
    common(sp)
    sp.set_defaults(func=cmd_watch)

    from knowledge import gaps_command

    sp = sub.add_parser(
        "gaps",
        help=gaps_command.HELP,
        description=gaps_command.DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    gaps_command.add_arguments(sp)
    sp.set_defaults(func=gaps_command.run)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Each command reads its settings once, when first needed (main() runs once per process;
    # tests call it several times, with another environment each time).
    reset_settings()
    from knowledge.indexer import IndexBusyError

    try:
        return int(args.func(args))
    except (ValueError, OSError, IndexBusyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
