"""``az serve`` and ``az serve token``."""

from __future__ import annotations

import ipaddress
import json
import sys
from typing import Any

import typer
from az_os.errors import AzError

serve_app = typer.Typer(
    help="Run az as a headless HTTP API server (FastAPI + uvicorn).",
    invoke_without_command=True,
    rich_markup_mode=None,
)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@serve_app.callback()
def serve(
    ctx: typer.Context,
    host: str = typer.Option(
        None, "--host", help="Address to bind (default: server.host, 127.0.0.1)."
    ),
    port: int = typer.Option(
        None,
        "--port",
        min=0,
        max=65535,
        help="Port (default: server.port, 8080; 0 picks a free one).",
    ),
    concurrency: int = typer.Option(
        None, "--concurrency", min=1, help="Tasks running at once (default: server.concurrency, 4)."
    ),
) -> None:
    """Serve the HTTP API: submit tasks, follow them live (Server-Sent
    Events), cancel them; health, metrics, cost, tool usage and performance.

    Every endpoint but /api/health needs 'Authorization: Bearer TOKEN'
    ('az serve token' prints it; created on first start on a loopback
    address). Binding to another address needs a token made beforehand.
    Tasks run with server.approval ('read-only' by default) in workspaces
    under server.workspace_roots. SIGTERM stops accepting, lets running tasks
    finish for server.shutdown_timeout_s, and marks the rest interrupted; the
    next start resumes them.

    Example: az serve --port 8080, then
    curl -H "Authorization: Bearer $(az serve token)" localhost:8080/api/tasks
    """
    if ctx.invoked_subcommand is not None:
        return
    from az_os.config import load_config
    from az_os.plugins import get_host

    from az_server.settings import load_settings
    from az_server.token import read_token, rotate

    config = load_config()
    settings = load_settings(config)
    changes: dict[str, Any] = {}
    if host is not None:
        changes["host"] = host
    if port is not None:
        changes["port"] = port
    if concurrency is not None:
        changes["concurrency"] = concurrency
    if changes:
        import msgspec

        settings = msgspec.structs.replace(settings, **changes)
    host_ = get_host()
    token, where = read_token(config.home)
    if token is None:
        if not is_loopback(settings.host):
            raise AzError(
                f"refusing to serve on {settings.host} without a token: run 'az serve token "
                "--rotate' first (or set AZ_SERVER_TOKEN), then give clients the token"
            )
        token, where = rotate(config.home)
        sys.stderr.write(f"az: created the server token ({where}); 'az serve token' prints it\n")
    from az_server.run import run

    run(settings, token, config, host_)


@serve_app.command("token")
def token_cmd(
    rotate_: bool = typer.Option(
        False, "--rotate", help="Make a new token (the old one stops working)."
    ),
    as_json: bool = typer.Option(False, "--json", help='Print {"token", "stored_in"}.'),
) -> None:
    """Print the server's bearer token, creating it if there is none.

    It is kept by a secrets plugin when one stores secrets (az_set_secret,
    e.g. the OS keyring), else in <az home>/server/token (mode 0600). The
    AZ_SERVER_TOKEN environment variable overrides both. A running server
    reads the token when it starts: restart it after --rotate.
    """
    from az_os.config import load_config

    from az_server.token import TOKEN_NAME, read_token, rotate

    home = load_config().home
    token, where = read_token(home)
    if rotate_ or token is None:
        if where == "environment":
            raise AzError(f"{TOKEN_NAME} is set in the environment; change it there")
        token, where = rotate(home)
    if as_json:
        sys.stdout.write(json.dumps({"token": token, "stored_in": where}) + "\n")
    else:
        sys.stdout.write(token + "\n")
