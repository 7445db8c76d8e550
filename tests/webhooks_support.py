"""Webhook test helpers: a receiver on 127.0.0.1 (a threaded HTTP server that records what it is sent) and the
delivery queue captured, so a test runs each delivery as a worker would."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    status: int = 200
    answer: bytes = b'{"ok": true}'
    headers: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def receiver():  # noqa: ANN201
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            rec = state["r"]
            rec.requests.append(Received(self.path, dict(self.headers.items()), self.rfile.read(length)))
            self.send_response(rec.status)
            for name, value in rec.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(rec.answer)))
            self.end_headers()
            self.wfile.write(rec.answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["r"] = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hook")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state["r"]
    server.shutdown()
    server.server_close()


class DeliveryQueue:
    """`deliver_webhook` messages, captured; `run()` works through them like a worker (each once)."""

    def __init__(self) -> None:
        self.queued: list[int] = []

    def run(self) -> list[str]:
        from registry import tasks

        results = []
        while self.queued:
            delivery_id = self.queued.pop(0)
            results.append(tasks.deliver_webhook.apply(args=(delivery_id,)).result)
        return results


@pytest.fixture
def deliveries(monkeypatch) -> DeliveryQueue:  # noqa: ANN001
    from registry import tasks

    queue = DeliveryQueue()
    monkeypatch.setattr(tasks.deliver_webhook, "apply_async", lambda args, **kw: queue.queued.append(args[0]))
    return queue
