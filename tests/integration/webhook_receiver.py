"""A real local HTTP receiver for webhook tests: python's http.server on a free port, in a
thread. It records every POST (path and parsed JSON body) and answers with the status the test
chose (`fail_first` failures of `fail_status`, then 200). `port` 0 picks a free one; a test
that needs a receiver to come up later at a known address passes the port it reserved."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookReceiver:
    def __init__(self, fail_status: int = 500, fail_first: int = 0, port: int = 0):
        self.fail_status = fail_status
        self.fail_first = fail_first
        self.received: list[dict] = []
        self.attempts = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server naming)
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                with receiver._lock:
                    receiver.attempts += 1
                    failing = receiver.attempts <= receiver.fail_first
                    if not failing:
                        receiver.received.append({"path": self.path,
                                                  "content_type": self.headers.get("Content-Type"),
                                                  "body": json.loads(raw)})
                self.send_response(receiver.fail_status if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def bodies(self) -> list[dict]:
        with self._lock:
            return [r["body"] for r in self.received]

    def __enter__(self) -> "WebhookReceiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
