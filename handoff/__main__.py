"""Command line: `python -m handoff COMMAND` (serve, console, export, outbox, report, demo,
forget, purge)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from handoff.service import HandoffError
from handoff.settings import Settings, SettingsError, get_settings, reset_settings

if TYPE_CHECKING:
    from handoff.db import Database
    from handoff.privacy import RetentionLoop

DESCRIPTION = """\
Human handoff for the Parley support bot.

  serve    run the handoff service: internal API for the action server, Slack events
           (/slack/events, or Socket Mode when SLACK_APP_TOKEN is set), the delivery outbox
           and the relay of customer messages. Without SLACK_BOT_TOKEN it runs in console
           mode: the same queue, worked with `console`.
  console  the terminal agent console: list, show, claim, reply, resolve, handback.
  export   write the outcome ledger (one row per conversation) as CSV or JSON.
  outbox   show deliveries still waiting or failed, and retry failed ones.
  report   the support lead's report (outcomes, handoffs, response times, CSAT,
           answer feedback, unanswered questions, per-day trends) as HTML or JSON.
  demo     fill the database with a realistic month of demo conversations.
  forget   delete one customer's conversation everywhere: Slack, Rasa, the handoff database.
  purge    forget every conversation idle longer than HANDOFF_RETENTION_DAYS.

Settings come from environment variables (README.md, "Configuration").
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m handoff",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sub.add_parser("serve", help="run the handoff service (HTTP on HANDOFF_PORT, default 3000)")
    from handoff import console

    console.add_arguments(
        sub.add_parser(
            "console",
            help="terminal agent console",
            description="Work the handoff queue from a terminal: list, show, claim, reply, "
            "resolve and hand back chats. Customers see your replies live.",
        )
    )
    p = sub.add_parser(
        "export",
        help="export the outcome ledger",
        description="Export the outcome ledger, one row per conversation. "
        "Field definitions: handoff/README.md.",
    )
    p.add_argument("--format", choices=["csv", "json"], default="csv")
    p.add_argument("--output", "-o", type=Path, help="file to write (default: standard output)")
    p.add_argument(
        "--sweep",
        action="store_true",
        help="first give idle conversations their final outcome (abandoned etc.)",
    )
    _add_report_parser(sub)
    _add_privacy_parsers(sub)
    p = sub.add_parser("outbox", help="show pending/failed deliveries")
    p.add_argument("--retry-failed", action="store_true", help="queue failed deliveries again")
    p = sub.add_parser(
        "demo",
        help="fill the database with a month of demo conversations",
        description="Fill the handoff database (HANDOFF_DB_URL) with a realistic month of "
        "invented conversations, played through the bot's real code: questions go to the "
        "knowledge answerer over KNOWLEDGE_DIR, agents claim, reply and resolve through the "
        "handoff service. Only the clock is simulated; nothing is sent to Slack or to anyone. "
        "Demo conversations are named demo-…, the report says when it shows them, and "
        "--clear removes them. Then try `python -m handoff report` and "
        "`python -m knowledge gaps --out var/gaps`.",
    )
    p.add_argument("--days", type=int, default=30, help="how many days back (default 30)")
    p.add_argument(
        "--per-day", type=float, default=20, help="conversations on an average day (default 20)"
    )
    p.add_argument("--seed", type=int, default=7, help="random seed (same seed, same month)")
    p.add_argument("--clear", action="store_true", help="remove the demo conversations and stop")
    p.add_argument(
        "--force",
        action="store_true",
        help="add demo data even though the database holds real conversations",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        # Each command reads the environment once, when it starts (main() runs once per
        # process; tests call it several times, with another environment each time).
        reset_settings()
        settings = get_settings()
        if args.command == "serve":
            from handoff.server import HandoffServer

            try:
                server = HandoffServer(settings)
            except OSError as exc:
                raise SettingsError(
                    f"cannot listen on {settings.host}:{settings.port} ({exc.strerror}); "
                    "set HANDOFF_PORT to a free port"
                ) from exc
            retention = _start_retention(settings, server.db)
            try:
                server.serve_forever()
            finally:
                if retention is not None:
                    retention.stop()
            return 0
        if args.command == "console":
            from handoff import console

            return console.run(args, settings)
        if args.command == "export":
            return _export(args, settings)
        if args.command == "outbox":
            return _outbox(args, settings)
        if args.command == "report":
            return _report(args, settings)
        if args.command == "demo":
            return _demo(args, settings)
        if args.command in ("forget", "purge"):
            return _forget_or_purge(args, settings)
    except (SettingsError, HandoffError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 1


def _add_privacy_parsers(sub: argparse._SubParsersAction) -> None:
    keep_help = (
        "leave the Slack packets and threads in place (when this machine has no Slack token)"
    )
    p = sub.add_parser(
        "forget",
        help="delete one customer's conversation everywhere",
        description="Delete one conversation everywhere Parley keeps it and say what was "
        "removed: its packet and thread in Slack (chat.delete; agents' own replies can only be "
        "deleted by them or a Slack admin and are listed), its events in Rasa's tracker store "
        "(through Rasa) and in the SQL event broker's table (RASA_EVENTS_DB_URL), and its "
        "ledger row, handoffs, messages, outbox deliveries, knowledge answers and feedback in "
        "the handoff database. "
        "Needs the same environment as the service (Slack token included).",
    )
    p.add_argument("sender_id", metavar="SENDER_ID", help="Rasa sender id of the conversation")
    p.add_argument("--keep-slack", action="store_true", help=keep_help)
    p = sub.add_parser(
        "purge",
        help="forget every conversation idle longer than the retention period",
        description="Forget (as `forget` does) every conversation with no activity for "
        "HANDOFF_RETENTION_DAYS days (or --days). The service does this daily when "
        "HANDOFF_RETENTION_DAYS is set.",
    )
    p.add_argument("--days", type=int, help="retention period (default: HANDOFF_RETENTION_DAYS)")
    p.add_argument("--dry-run", action="store_true", help="list what would be forgotten")
    p.add_argument("--keep-slack", action="store_true", help=keep_help)


def _forget_or_purge(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import timedelta

    from handoff.db import Database
    from handoff.privacy import ForgetError, Forgetter

    days = getattr(args, "days", None) or settings.retention_days
    if args.command == "purge" and days < 1:
        raise SettingsError(
            "no retention period: set HANDOFF_RETENTION_DAYS (e.g. 90) or pass --days"
        )
    db = Database(settings.db_url)
    try:
        forgetter = Forgetter.from_settings(settings, db, keep_slack=args.keep_slack)
        if args.command == "forget":
            try:
                report = forgetter.forget(args.sender_id)
            except ForgetError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            if not report.removed_anything:
                print(f"Nothing stored for {args.sender_id}: nothing to remove.")
                return 0
            print(f"Forgot {args.sender_id}:")
        elif args.dry_run:
            stale = forgetter.stale_senders(timedelta(days=days))
            print(f"{len(stale)} conversations idle for more than {days} days would be forgotten:")
            for sender_id in stale:
                print(f"  {sender_id}")
            return 0
        else:
            report = forgetter.purge(timedelta(days=days))
            print(f"Forgot {len(report.senders)} conversations idle for more than {days} days:")
    finally:
        db.dispose()
    for line in report.lines():
        print(f"  {line}")
    return 1 if report.failed else 0


def _start_retention(settings: Settings, db: Database) -> RetentionLoop | None:
    """The daily retention purge, when HANDOFF_RETENTION_DAYS is set."""
    if settings.retention_days < 1:
        return None
    from handoff.privacy import Forgetter, RetentionLoop

    loop = RetentionLoop(Forgetter.from_settings(settings, db), settings.retention_days)
    loop.start()
    return loop


def _export(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import timedelta

    from handoff.db import Database
    from handoff.ledger import export
    from handoff.service import HandoffService

    db = Database(settings.db_url)
    try:
        if args.sweep:
            HandoffService(db).sweep_idle(timedelta(minutes=settings.idle_minutes))
        text = export(db, args.format)
    finally:
        db.dispose()
    if args.output:
        args.output.write_text(text, encoding="utf-8", newline="")  # CSV rows end in CRLF
        print(f"Wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


REPORT_DESCRIPTION = """\
The support lead's report for one period: conversations, outcome shares and the
bot's containment, handoff rate and triggers, first response times of the bot
and of a person (median, p90), time to claim, resolution time, CSAT by outcome
and by agent, answer feedback by article, the questions the bot could not
answer most often, and per-day trends. Each figure has its definition under it
(in the JSON: "definitions"; see also handoff/README.md).

The page is one self-contained HTML file: it opens from disk and fetches
nothing. The handoff service serves the same page at /report (internal token).
"""
REPORT_EXAMPLES = """\
examples:
  python -m handoff report                       last 30 days -> var/report.html
  python -m handoff report --since 7d --out week.html
  python -m handoff report --from 2026-11-01 --to 2026-11-30 --json > november.json
"""


def _add_report_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="the support lead's report (HTML page or JSON)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=REPORT_DESCRIPTION,
        epilog=REPORT_EXAMPLES,
    )
    p.add_argument(
        "--since",
        metavar="SPAN",
        help="the last SPAN up to now: e.g. 12h, 7d, 4w (default: 30d)",
    )
    p.add_argument(
        "--from",
        dest="start",
        metavar="YYYY-MM-DD",
        help="first UTC day of the period (instead of --since)",
    )
    p.add_argument(
        "--to",
        dest="end",
        metavar="YYYY-MM-DD",
        help="last UTC day of the period, included (default: today)",
    )
    p.add_argument(
        "--out",
        "-o",
        type=Path,
        metavar="FILE",
        help="file to write (default: $PARLEY_STATE_DIR/report.html, i.e. var/report.html; "
        "with --json, standard output)",
    )
    p.add_argument("--json", action="store_true", help="the figures as JSON instead of HTML")


def _report(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from handoff.db import Database
    from handoff.report import ReportError, build_report, resolve_period

    try:
        period = resolve_period(args.since, args.start, args.end)
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    db = Database(settings.db_url)
    try:
        report = build_report(db, period)
    finally:
        db.dispose()
    if args.json:
        text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
        if not args.out:
            sys.stdout.write(text)
            return 0
    else:
        from handoff.report_html import render_html

        text = render_html(report)
    out: Path = args.out or settings.state_dir / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    hint = "" if args.json else "; open it in a browser"
    print(f"Wrote {out} ({report['period']['label']}){hint}.", file=sys.stderr)
    return 0


def _outbox(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import select, update

    from handoff.db import Database, rowcount
    from handoff.models import OutboxItem, utcnow

    db = Database(settings.db_url)
    try:
        with db.session() as session:
            if args.retry_failed:
                n = rowcount(
                    session.execute(
                        update(OutboxItem)
                        .where(OutboxItem.status == "failed")
                        .values(status="pending", next_attempt_at=utcnow())
                    )
                )
                print(f"Queued {n} failed deliveries again.")
            items = session.scalars(
                select(OutboxItem)
                .where(OutboxItem.status.in_(("pending", "failed")))
                .order_by(OutboxItem.id)
            ).all()
            if not items:
                print("Nothing waiting: every delivery went through.")
            for i in items:
                print(
                    f"{i.id:<6} {i.status:<8} {i.target:<6} {i.op:<14} attempts={i.attempts} "
                    f"next={i.next_attempt_at:%H:%M:%S} {i.last_error or ''}"
                )
    finally:
        db.dispose()
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from handoff.db import Database
    from handoff.demo import DemoFiller, clear_demo, count_conversations, knowledge_answerer

    if args.days < 1 or args.per_day <= 0:
        raise SettingsError("--days and --per-day must be positive")
    db = Database(settings.db_url)
    try:
        if args.clear:
            print(f"Removed {clear_demo(db)} demo conversations from {settings.db_url}.")
            return 0
        demo, real = count_conversations(db)
        if real and not args.force:
            raise SettingsError(
                f"{settings.db_url} holds {real} real conversations; demo data would mix with "
                "them. Point HANDOFF_DB_URL at another database, or pass --force."
            )
        if demo:
            print(f"Replacing the {demo} demo conversations already there.")
            clear_demo(db)
        print("Loading the knowledge answerer…", file=sys.stderr)
        from parley_shared.triggers import load_config

        from knowledge.settings import KnowledgeSettings

        # The answerer's settings (KNOWLEDGE_*, OPENAI_*), read once for this command.
        answerer = knowledge_answerer(KnowledgeSettings.from_env())
        limit = settings.max_abstentions
        triggers = load_config(
            settings.triggers_file,
            env={} if limit is None else {"HANDOFF_MAX_ABSTENTIONS": str(limit)},
        )
        filler = DemoFiller(db, answerer, seed=args.seed, triggers=triggers)
        with tqdm(desc="Demo conversations", unit="conv", total=None) as bar:
            summary = filler.fill(args.days, args.per_day, progress=bar.update)
    finally:
        db.dispose()
    print(f"Wrote {summary.line()} to {settings.db_url}.")
    print("Next: python -m handoff report   and   python -m knowledge gaps --out var/gaps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
