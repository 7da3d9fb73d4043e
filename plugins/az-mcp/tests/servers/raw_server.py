"""A hand-written stdio JSON-RPC peer that speaks just enough MCP
(2025-11-25 handshake, tools/list, tools/call) to send malformed answers.

tools/call of "bad_content" answers with a text part without its text;
"not_a_result" answers with a bare string; "echo" answers properly.
"""

import json
import sys

TOOLS = [
    {
        "name": name,
        "description": f"{name} tool",
        "inputSchema": {"type": "object", "properties": {}},
    }
    for name in ("echo", "bad_content", "not_a_result")
]


def send(msg):
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    if not line.strip():
        continue
    msg = json.loads(line)
    if "id" not in msg:
        continue  # notifications
    rid, method = msg["id"], msg.get("method")
    if method == "initialize":
        send(
            {
                "jsonrpc": "2.0",
                "id": rid,
                "result": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": "raw", "version": "0"},
                },
            }
        )
    elif method == "tools/list":
        send({"jsonrpc": "2.0", "id": rid, "result": {"tools": TOOLS}})
    elif method == "tools/call":
        name = msg["params"]["name"]
        if name == "bad_content":
            result = {"content": [{"type": "text"}], "isError": False}
        elif name == "not_a_result":
            result = "just a string"
        else:
            result = {"content": [{"type": "text", "text": "fine"}]}
        send({"jsonrpc": "2.0", "id": rid, "result": result})
    else:
        send(
            {
                "jsonrpc": "2.0",
                "id": rid,
                "error": {"code": -32601, "message": f"Method not found: {method}"},
            }
        )
