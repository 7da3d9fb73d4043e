"""An MCP server (mcp SDK) whose tools misbehave on purpose, for the tests.

Usage: python flaky_server.py [ok|die-at-start|hang-at-start|hang-if-exists PATH]

hang-if-exists: hang at start (never answering the handshake) while PATH
exists, else serve normally: the same command line healthy one day, hung the next.
"""

import asyncio
import os
import sys
import time

if len(sys.argv) > 1 and sys.argv[1] == "die-at-start":
    sys.stderr.write("flaky: cannot start, FLAKY_TOKEN is missing\n")
    sys.exit(3)
if len(sys.argv) > 1 and sys.argv[1] == "hang-at-start":
    time.sleep(3600)
if len(sys.argv) > 2 and sys.argv[1] == "hang-if-exists" and os.path.exists(sys.argv[2]):
    time.sleep(3600)

from mcp.server.mcpserver import MCPServer  # noqa: E402
from mcp.types import ToolAnnotations  # noqa: E402

server = MCPServer("flaky")


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def pid() -> int:
    """The server's process id."""
    return os.getpid()


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def env(name: str) -> str:
    """One environment variable of the server process ('' when unset)."""
    return os.environ.get(name, "")


@server.tool()
def crash() -> str:
    """Kill the server process in the middle of the call."""
    sys.stderr.write("flaky: crashing now\n")
    sys.stderr.flush()
    os._exit(1)


@server.tool()
async def hang(seconds: float = 3600) -> str:
    """Take `seconds` to answer."""
    await asyncio.sleep(seconds)
    return "woke up"


@server.tool()
def spawn() -> int:
    """Start a long-lived child process (as servers started through npx or a
    shell wrapper do) and return its pid."""
    import subprocess

    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return child.pid


@server.tool()
def fail() -> str:
    """Raise an error inside the tool."""
    raise ValueError("the flaky tool failed on purpose")


server.run("stdio")
