"""An OpenAI-compatible chat completions server on loopback that answers
like a hosted model would for an agent task, after a fixed latency.

    python benchmarks/replay_model_server.py --port 8765 --latency-ms 1000

It stands in for a hosted API (or a model server on another host) in
``benchmarks/distributed.py``: a real HTTP server (uvicorn), reached by az's
workers through az-litellm's normal provider path (``[[models.custom]]``
with ``api_base``, LiteLLM's OpenAI client, HTTP keep-alive), so each task
pays what it would pay against a real endpoint except the model's own
thinking, which is a fixed ``--latency-ms`` wait per request (I/O bound for
the worker, as a remote model call is).

Each conversation is replayed as a two-turn ReAct run: while the request
has no tool result yet and offers ``filesystem__list``, the answer is that
tool call (``{"path": "."}``); after a tool result (or without tools) it is
a final text answer. Usage counts are the request's characters / 4
(prompt) and a fixed 24 tokens (completion), so az records tokens and cost
as for a real provider. ``GET /stats`` returns ``{"requests": N}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from typing import Any

TOOL = "filesystem__list"


class ReplayModel:
    """The ASGI app: ``POST /v1/chat/completions`` (and ``/chat/completions``),
    ``GET /v1/models``, ``GET /stats``."""

    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s
        self.requests = 0

    def reply(self, body: dict[str, Any]) -> dict[str, Any]:
        """The completion for one request body (OpenAI chat format)."""
        messages = body.get("messages") or []
        offered = {(t.get("function") or {}).get("name") for t in body.get("tools") or [] if t}
        answered = any(m.get("role") == "tool" for m in messages)
        if TOOL in offered and not answered:
            message: dict[str, Any] = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_" + uuid.uuid4().hex[:12],
                        "type": "function",
                        "function": {"name": TOOL, "arguments": json.dumps({"path": "."})},
                    }
                ],
            }
            finish = "tool_calls"
        else:
            message = {"role": "assistant", "content": "The workspace holds one file: one.txt."}
            finish = "stop"
        prompt_tokens = max(1, len(json.dumps(messages)) // 4)
        return {
            "id": "chatcmpl-" + uuid.uuid4().hex[:16],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(body.get("model") or "replay"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": 24,
                "total_tokens": prompt_tokens + 24,
            },
        }

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        path = scope["path"].rstrip("/")
        if scope["method"] == "POST" and path.endswith("/chat/completions"):
            self.requests += 1
            try:
                request = json.loads(body or b"{}")
            except json.JSONDecodeError:
                await _send_json(send, 400, {"error": {"message": "body is not JSON"}})
                return
            if request.get("stream"):
                await _send_json(send, 400, {"error": {"message": "streaming not served"}})
                return
            await asyncio.sleep(self.latency_s)
            await _send_json(send, 200, self.reply(request))
        elif path.endswith("/models"):
            await _send_json(send, 200, {"object": "list", "data": [{"id": "replay"}]})
        elif path == "/stats":
            await _send_json(send, 200, {"requests": self.requests})
        else:
            await _send_json(send, 404, {"error": {"message": f"no route {path}"}})


async def _send_json(send: Any, status: int, data: dict[str, Any]) -> None:
    payload = json.dumps(data).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=1000.0)
    args = parser.parse_args()
    uvicorn.run(
        ReplayModel(args.latency_ms / 1000.0),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        backlog=1024,
        timeout_keep_alive=30,
    )


if __name__ == "__main__":
    main()
