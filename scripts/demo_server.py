"""Serve the widget demo page, telling the widget where the Rasa server is.

`/config.js` is generated from the environment, so the page works on any port.
"""

from __future__ import annotations

import contextlib
import json
import os
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = ROOT / "widget" / "demo"


class DemoHandler(SimpleHTTPRequestHandler):
    config_js = b""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path.split("?")[0] == "/config.js":
            self.send_response(200)
            self.send_header("Content-Type", "text/javascript; charset=utf-8")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(self.config_js)))
            self.end_headers()
            self.wfile.write(self.config_js)
            return
        super().do_GET()

    def end_headers(self) -> None:
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # one line per static file is noise in `make run`


def main() -> None:
    host = os.environ.get("PARLEY_HOST", "127.0.0.1")
    port = int(os.environ.get("WEB_PORT", "8080"))
    rasa_url = (
        os.environ.get("RASA_PUBLIC_URL") or f"http://{host}:{os.environ.get('RASA_PORT', '5005')}"
    )
    config = {"serverUrl": rasa_url}
    DemoHandler.config_js = f"window.PARLEY_CONFIG = {json.dumps(config)};\n".encode()
    handler = partial(DemoHandler, directory=str(DEMO_DIR))
    server = ThreadingHTTPServer((host, port), handler)
    print(f"Demo page on http://{host}:{port}/", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
