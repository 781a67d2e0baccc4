"""Real delivery targets for the notice tests: an SMTP server (aiosmtpd) and an HTTP receiver,
both on 127.0.0.1, recording what they were sent."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


def free_port() -> int:
    """A port nothing listens on now (aiosmtpd needs one named, not 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SMTPInbox:
    """An aiosmtpd server's received messages, parsed."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.port = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(email.message_from_bytes(envelope.content,
                                                      policy=email.policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_inbox() -> Iterator[SMTPInbox]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1, a free port, no TLS, no auth."""
    from aiosmtpd.controller import Controller

    inbox = SMTPInbox()
    inbox.port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


class HTTPInbox:
    """What an HTTP receiver on 127.0.0.1 was posted; `status` is what it answers."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.status = 200
        self.port = 0
        self.on_post: Any = None
        """Called after a POST is recorded, before the answer (to simulate a crash)."""


@pytest.fixture
def http_inbox() -> Iterator[HTTPInbox]:
    """A real HTTP server on 127.0.0.1 recording each POST's path, headers and JSON body."""
    inbox = HTTPInbox()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            if inbox.status == 200:
                inbox.posts.append({"path": self.path, "body": body,
                                    "headers": dict(self.headers)})
                if inbox.on_post is not None:
                    inbox.on_post()
            self.send_response(inbox.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    inbox.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield inbox
    finally:
        server.shutdown()
        server.server_close()
