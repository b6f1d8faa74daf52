"""Start the support bot on this machine: `make run` calls this.

Trains the Rasa model when its data changed, starts the Rasa server, the action
server, the handoff service and the widget demo page, prints where they are, and
stops them all on Ctrl-C. Settings come from environment variables (README,
"Configuration"); the defaults need no network and no API keys.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import webbrowser

from scripts.stack import Settings, Stack, StackError, ensure_model, rasa_endpoints


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="make run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Logs of every process are kept in $PARLEY_STATE_DIR/logs (default var/logs).",
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="do not open the demo page in a browser"
    )
    parser.add_argument(
        "--train-only", action="store_true", help="train the model if needed, then stop"
    )
    parser.add_argument(
        "--quiet", action="store_true", help="do not echo the processes' output here"
    )
    parser.add_argument(
        "--endpoints-only",
        action="store_true",
        help="write Rasa's endpoints for PARLEY_DATABASE_URL, REDIS_URL and RABBITMQ_URL "
        "(or name endpoints.yml when none is set), print the file's path, then stop; "
        "a deployment that starts each process itself (compose.yaml) uses it",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.endpoints_only:
            print(rasa_endpoints(settings))
            return 0
        model = ensure_model(settings, sys.stdout)
        if args.train_only:
            print(f"Model ready: {model}")
            return 0
        stack = Stack(settings, echo=None if args.quiet else sys.stdout)
        for signum in (signal.SIGINT, signal.SIGTERM):  # also when started in the background
            signal.signal(signum, _interrupt)
        print("Starting the Rasa server, the action server and the demo page…", flush=True)
        try:
            stack.start(model)
            _announce(settings, stack, open_browser=not args.no_browser)
            while True:
                crashed = stack.crashed()
                if crashed:
                    print("\n" + stack.describe_crash(crashed), file=sys.stderr)
                    return 1
                time.sleep(0.5)
        except KeyboardInterrupt:
            print("\nStopping…", flush=True)
            return 0
        finally:
            stack.stop()
    except StackError as error:
        print(f"\nError: {error}", file=sys.stderr)
        return 1


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _announce(settings: Settings, stack: Stack, open_browser: bool) -> None:
    lines = [
        "",
        "Parley is running:",
        f"  Chat demo page   {settings.web_url}/",
        f"  Rasa server      {settings.rasa_url}  (REST: /webhooks/rest/webhook, socket.io)",
        f"  Action server    {settings.actions_url}",
    ]
    if any(s.name == "handoff" for s in stack.services):
        lines.append(f"  Handoff service  {settings.handoff_url}")
        report = f"{settings.handoff_url}/report?since=30d&token={stack.handoff_token}"
        lines.append(f"  Support report   {report}")
    lines += [
        f"  Rasa API token   in {settings.state_dir / 'rasa-token'}",
        "Press Ctrl-C to stop.",
        "",
    ]
    print("\n".join(lines), flush=True)
    has_display = (
        sys.platform == "darwin" or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )
    # Without a display webbrowser may start a text browser in this terminal.
    if open_browser and has_display:
        webbrowser.open(f"{settings.web_url}/")


if __name__ == "__main__":
    sys.exit(main())
