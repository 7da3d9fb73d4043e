"""The ``[server]`` section of ``config.toml``.

Example::

    [server]
    host = "127.0.0.1"
    port = 8080
    concurrency = 4                  # tasks running at once
    queue_size = 100                 # tasks waiting; more get 503 + Retry-After
    approval = "read-only"           # or "auto": writes and shell commands allowed
    workspace_roots = ["/srv/work"]  # a task's workspace must lie under one of these
    shutdown_timeout_s = 30          # SIGTERM: seconds running tasks may take to finish
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import msgspec
from msgspec import Meta

if TYPE_CHECKING:  # pragma: no cover
    from az_os.config import AzConfig


class ServerSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``[server]``: address, concurrency, approval, workspaces, shutdown."""

    host: str = "127.0.0.1"
    port: Annotated[int, Meta(ge=0, le=65535)] = 8080
    #: tasks running at once in the server process
    concurrency: Annotated[int, Meta(ge=1, le=1024)] = 4
    #: tasks waiting to run; a submission beyond gets 503 with Retry-After
    queue_size: Annotated[int, Meta(ge=0, le=1_000_000)] = 100
    #: approval mode of server tasks: nobody is at a terminal to answer "ask"
    approval: Literal["read-only", "auto"] = "read-only"
    #: directories a task's workspace must lie under; default: <az home>/workspaces
    workspace_roots: list[str] = msgspec.field(default_factory=list)
    #: workspace of a task that names none; default: the first root
    default_workspace: str | None = None
    #: seconds running tasks may take to finish after SIGTERM
    shutdown_timeout_s: Annotated[float, Meta(ge=0)] = 30.0
    #: requeue, at start, tasks a previous server stopped before they finished
    resume_on_start: bool = True
    #: seconds a client is told to wait (Retry-After) when the queue is full
    retry_after_s: Annotated[int, Meta(ge=1)] = 5
    #: ReAct turns per task; default: agent.max_turns
    max_turns: Annotated[int, Meta(ge=1, le=100)] | None = None

    def roots(self, home: Path) -> list[Path]:
        """The workspace roots, resolved (default ``<az home>/workspaces``)."""
        raw = self.workspace_roots or [str(home / "workspaces")]
        return [Path(r).expanduser().resolve() for r in raw]


def load_settings(config: AzConfig | None = None) -> ServerSettings:
    """The validated ``[server]`` section (ConfigError names a bad key)."""
    from az_os.config import load_config, parse_section

    cfg = config or load_config()
    return parse_section(ServerSettings, "server", cfg.section("server"), str(cfg.path))
