"""Command line: `python -m handoff serve | console | export | outbox`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from handoff.service import HandoffError
from handoff.settings import Settings, SettingsError

DESCRIPTION = """\
Human handoff for the Parley support bot.

  serve    run the handoff service: internal API for the action server, Slack events
           (/slack/events, or Socket Mode when SLACK_APP_TOKEN is set), the delivery outbox
           and the relay of customer messages. Without SLACK_BOT_TOKEN it runs in console
           mode: the same queue, worked with `console`.
  console  the terminal agent console: list, show, claim, reply, resolve, handback.
  export   write the outcome ledger (one row per conversation) as CSV or JSON.
  outbox   show deliveries still waiting or failed, and retry failed ones.

Settings come from environment variables (see handoff/README.md).
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
    p = sub.add_parser("outbox", help="show pending/failed deliveries")
    p.add_argument("--retry-failed", action="store_true", help="queue failed deliveries again")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = Settings.from_env()
        if args.command == "serve":
            from handoff.server import HandoffServer

            try:
                server = HandoffServer(settings)
            except OSError as exc:
                raise SettingsError(
                    f"cannot listen on {settings.host}:{settings.port} ({exc.strerror}); "
                    "set HANDOFF_PORT to a free port"
                ) from exc
            server.serve_forever()
            return 0
        if args.command == "console":
            from handoff import console

            return console.run(args, settings)
        if args.command == "export":
            return _export(args, settings)
        if args.command == "outbox":
            return _outbox(args, settings)
    except (SettingsError, HandoffError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 1


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
        args.output.write_text(text, encoding="utf-8")
        print(f"Wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
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


if __name__ == "__main__":
    sys.exit(main())
