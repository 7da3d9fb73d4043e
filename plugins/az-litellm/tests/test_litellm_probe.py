"""Model.probe: a free reachability check of the provider, against real loopback sockets."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from az_litellm.model import LiteLLMModel
from az_litellm.settings import parse_settings
from az_os.types import ModelInfo


class _Handler(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        self.seen.append(f"{self.command} {self.path}")
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _model(api_base: str | None, provider: str = "openai") -> LiteLLMModel:
    info = ModelInfo(id=f"{provider}/tiny", provider=provider)
    return LiteLLMModel(info, parse_settings({}, "config.toml"), api_base=api_base)


def test_probe_counts_any_http_answer_as_reachable() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/v1"
        ok, detail = _model(base).probe(timeout_s=2) or (None, "")
        assert ok is True and "HTTP 404" in detail
        assert _Handler.seen == ["GET /v1"]  # one GET of the base URL, no completion
    finally:
        server.shutdown()
        server.server_close()


def test_probe_reports_a_closed_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ok, detail = _model(f"http://127.0.0.1:{port}/v1").probe(timeout_s=1) or (None, "")
    assert ok is False and "unreachable" in detail


def test_probe_is_none_for_an_unknown_address() -> None:
    assert _model(None, provider="somewhere").probe() is None
