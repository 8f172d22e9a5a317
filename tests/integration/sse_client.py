"""A small Server-Sent Events client over a raw socket (standard library only), for the live
stream tests: it checks the response head, then yields (event, data) pairs as they arrive."""

from __future__ import annotations

import json
import socket
import time


class SseClient:
    def __init__(self, port: int, path: str = "/api/v1/stream", key: str | None = None,
                 timeout: float = 10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        auth = f"Authorization: Bearer {key}\r\n" if key else ""
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n"
                          f"{auth}\r\n".encode())
        self.buffer = b""
        head = self._read_until(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split(" ")[1])
        self.headers = {k.strip().lower(): v.strip()
                        for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        self.comments: list[str] = []

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError(f"stream closed; got {self.buffer!r}")
            self.buffer += data
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def next_event(self, timeout: float = 10.0) -> tuple[str, dict]:
        """The next event (comments are collected in .comments and skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            block = self._read_until(b"\n\n").decode("utf-8")
            event, data = None, []
            for line in block.split("\n"):
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                elif line.startswith("event: "):
                    event = line[len("event: "):]
                elif line.startswith("data: "):
                    data.append(line[len("data: "):])
            if event is not None:
                return event, json.loads("\n".join(data))

    def wait_for(self, event: str, predicate=lambda d: True, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            name, data = self.next_event(max(0.01, deadline - time.monotonic()))
            if name == event and predicate(data):
                return data

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "SseClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
