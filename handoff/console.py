"""Terminal agent console: the same queue and state machine as Slack, for running
without Slack (or next to it). Every command is one step, so it also scripts well."""

from __future__ import annotations

import argparse
import getpass
import os

import httpx

from handoff.db import Database
from handoff.models import AGENT, CLOSED, QUEUED
from handoff.outbox import OutboxWorker
from handoff.packet import console_text
from handoff.plain_text import one_line, terminal_safe
from handoff.rasa_client import RasaClient
from handoff.service import HandoffService
from handoff.settings import Settings

AS_HELP = "your name as the customer sees it (default: $HANDOFF_AGENT_NAME or your login)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--as", dest="agent", default=None, help=AS_HELP)
    # `--as` is accepted after the command too: `console claim 3 --as Ana`.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--as", dest="agent", default=argparse.SUPPRESS, help=AS_HELP)
    sub = parser.add_subparsers(dest="console_command", metavar="COMMAND", required=True)
    parser_for = sub.add_parser

    def add(name: str, help: str) -> argparse.ArgumentParser:  # noqa: A002
        return parser_for(name, help=help, description=help, parents=[common])

    p = add("list", help="list waiting and claimed chats")
    p.add_argument("--all", action="store_true", help="include closed chats")
    p = add("show", help="show a chat's packet and everything said since")
    p.add_argument("id", type=int, help="handoff number, as shown by `list`")
    p = add("claim", help="take ownership of a waiting chat")
    p.add_argument("id", type=int)
    p = add("reply", help="send a message to the customer of a chat you own")
    p.add_argument("id", type=int)
    p.add_argument("text", nargs="+", help="the message")
    p = add("resolve", help="record the outcome and hand back to the AI or close")
    p.add_argument("id", type=int)
    p.add_argument(
        "--outcome", default="resolved", choices=["resolved", "not_resolved", "spam", "duplicate"]
    )
    p.add_argument("--note", default="", help="internal note for the ledger")
    p.add_argument(
        "--close",
        action="store_true",
        help="close the chat instead of handing it back to the AI assistant",
    )
    p = add("handback", help="hand a chat you own back to the AI (outcome: resolved)")
    p.add_argument("id", type=int)
    p.add_argument("--note", default="")


def _shown(text: str) -> str:
    """Customer-supplied text for the terminal: one line, no control characters."""
    return terminal_safe(one_line(text))


def _agent(args: argparse.Namespace) -> tuple[str, str]:
    name = args.agent or os.environ.get("HANDOFF_AGENT_NAME") or getpass.getuser()
    return f"console:{name}", name


def _deliver(settings: Settings, db: Database) -> None:
    """Tell the running service to deliver now; deliver the customer messages ourselves too
    (leases make that safe) so the console also works while the service is down."""
    try:
        headers = (
            {"Authorization": f"Bearer {settings.internal_token}"}
            if settings.internal_token
            else {}
        )
        httpx.post(f"{settings.service_url}/internal/wake", headers=headers, timeout=1.0)
    except httpx.HTTPError:
        pass
    rasa = RasaClient(settings.rasa_url, settings.rasa_token, timeout=5.0)
    try:
        OutboxWorker(db, rasa, None).run_once(targets=("rasa",))
    finally:
        rasa.close()


def run(args: argparse.Namespace, settings: Settings) -> int:
    db = Database(settings.db_url)
    service = HandoffService(db, settings.slack_channel)
    agent_id, agent_name = _agent(args)
    cmd = args.console_command
    try:
        if cmd == "list":
            states = (QUEUED, AGENT, CLOSED) if args.all else (QUEUED, AGENT)
            handoffs = service.list_handoffs(states)
            if not handoffs:
                print("No chats waiting." if not args.all else "No chats yet.")
            for h in handoffs:
                who = _shown(str(h.packet.get("customer", {}).get("name") or "visitor"))[:40]
                owner = f" by {_shown(h.agent_name)}" if h.agent_name else ""
                print(
                    f"#{h.id:<5} {h.state:<7}{owner:<16} {who:<20} {h.trigger:<18} "
                    f"queued {h.queued_at:%Y-%m-%d %H:%M:%S} UTC"
                )
            return 0
        if cmd == "show":
            h = service.get(args.id)
            print(console_text(h.id, h.packet))
            owner = f" ({_shown(h.agent_name)})" if h.agent_name else ""
            print(f"  State:    {h.state}{owner}")
            for m in service.messages(h.id):
                who = _shown(m.author or m.role)
                print(f"  [{m.created_at:%H:%M:%S}] {m.role:>8} {who}: {_shown(m.text)}")
            return 0
        if cmd == "claim":
            service.claim(args.id, agent_id, agent_name)
            print(f"You own chat #{args.id}. The customer was told {agent_name} joined.")
        elif cmd == "reply":
            service.agent_reply(args.id, agent_id, " ".join(args.text))
            print("Sent.")
        elif cmd in ("resolve", "handback"):
            outcome = "resolved" if cmd == "handback" else args.outcome
            close = False if cmd == "handback" else args.close
            service.resolve(
                args.id,
                agent_id,
                outcome,
                note=args.note,
                hand_back=not close,
                agent_name=agent_name,
            )
            print(
                f"Chat #{args.id} resolved as {outcome}; "
                + ("closed." if close else "handed back to the AI assistant.")
            )
        _deliver(settings, db)
        return 0
    finally:
        db.dispose()
