"""The MCP client side: one :class:`MCPClient` per configured server.

Life of a server connection
---------------------------
A connection belongs to the asyncio event loop that first used it: the
engine runs a task with ``asyncio.run``, and an MCP session (anyio streams,
a reader task, a subprocess) can only be driven from the loop it was opened
in. So :class:`MCPClient` keeps one connection per running loop, opened
lazily by the first :meth:`MCPClient.call_tool` / :meth:`MCPClient.list_tools`
in that loop (measured: starting ``mcp-server-time`` takes about 1 s, a call on
an open session about 1-5 ms, so one session per call would be far too slow).

Each connection is owned by a background task of that loop which enters the
SDK's ``Client`` context and waits. It is closed

* by :meth:`MCPClient.aclose` (the CLI commands do this before they return),
* when the loop ends: ``asyncio.run`` cancels leftover tasks, and the SDK's
  stdio transport then closes the server's stdin, waits 2 s, and kills its
  process group (shielded from the cancellation), so no server outlives az;
* after a call timed out or the server crashed: the next call starts a new
  server.

Failures never raise out of :meth:`MCPClient.call_tool`: they come back as a
:class:`~az_os.types.ToolResult` with ``success=False`` and a one-line
``error`` the model can read (server unknown, cannot start, crashed
mid-call, timed out, tool error, malformed answer). A server's stderr goes
to ``<az home>/mcp/logs/NAME.log``; its last line is quoted in start-up and
crash errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
import weakref
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from az_os.types import ToolResult

from az_mcp.settings import ServerConfig

T = TypeVar("T")

# The SDK logs unparseable server output with a traceback; without this, Python's
# last-resort handler would print it on az's stderr. Handlers set up by the user
# (or AZ_DEBUG) still receive the records through propagation.
logging.getLogger("mcp").addHandler(logging.NullHandler())

#: Longest error text kept in a ToolResult (characters).
MAX_ERROR_CHARS = 800


class ServerStartError(Exception):
    """A server could not be started or did not finish the MCP handshake."""


def one_line(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """Collapse whitespace (newlines included) and cut to ``limit`` characters."""
    from az_os.util import one_line as _one_line

    return _one_line(str(text), limit)


def leaf_exception(exc: BaseException) -> BaseException:
    """The first non-group exception inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def run_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from synchronous code.

    With no event loop running in this thread it uses ``asyncio.run``;
    inside a running loop (a sync hook called by the async engine) it runs a
    fresh loop in a helper thread and waits for it. Exceptions propagate.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(factory())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="az-mcp-sync", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def _expand(value: str, name: str) -> str:
    """Replace ``${VAR}`` with the environment variable or az secret VAR.
    Raises ServerStartError naming a variable that is not set anywhere."""

    def sub(m: re.Match[str]) -> str:
        var = m.group(1)
        from az_os.plugins import get_host

        secret = get_host().get_secret(var)
        if secret is None:
            raise ServerStartError(
                f"${{{var}}} in mcp.servers.{name} is not set (export {var}=... or store it "
                "as a secret)"
            )
        return secret

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", sub, value)


def _tail(path: Path, since: int, lines: int = 3) -> str:
    """The last ``lines`` non-empty lines written to ``path`` after offset ``since``."""
    try:
        with path.open("rb") as fh:
            fh.seek(since)
            data = fh.read()[-4000:].decode("utf-8", "replace")
    except OSError:
        return ""
    rows = [r.strip() for r in data.splitlines() if r.strip()]
    return " | ".join(rows[-lines:])


class _Connection:
    """One live session with a server, owned by a task of one event loop."""

    def __init__(self, owner: MCPClient) -> None:
        self.owner = owner
        self.session: Any = None  # mcp.Client once ready
        self.ready = asyncio.Event()
        self.stop = asyncio.Event()
        self.error: str | None = None
        self.task: asyncio.Task[None] | None = None
        self.last_used = time.monotonic()
        self.log_offset = 0
        self.closed = False

    async def start(self) -> None:
        cfg = self.owner.config
        self.task = asyncio.get_running_loop().create_task(
            self._run(), name=f"az-mcp:{self.owner.name}"
        )
        try:
            async with asyncio.timeout(cfg.startup_timeout):
                await self.ready.wait()
        except TimeoutError:
            await self.close()
            tail = self.stderr_tail()
            raise ServerStartError(
                f"did not answer the MCP handshake within {cfg.startup_timeout:g} s"
                + (f" (stderr: {tail})" if tail else "")
                + f"; raise mcp.servers.{self.owner.name}.startup_timeout if it is just slow"
            ) from None
        except asyncio.CancelledError:
            # the caller gave up (Ctrl-C, an engine timeout): do not leave a half-started
            # server behind; its owner task stops it, shielded, before the loop ends
            self.stop.set()
            self.task.cancel()
            raise
        if self.error is not None:
            raise ServerStartError(self.error)

    def stderr_tail(self) -> str:
        return _tail(self.owner.log_path, self.log_offset) if self.owner.log_path else ""

    async def _run(self) -> None:
        cfg, name = self.owner.config, self.owner.name
        errlog = None
        try:
            from mcp import Client
            from mcp.types import Implementation

            async with contextlib.AsyncExitStack() as stack:
                if cfg.command is not None:
                    from mcp import StdioServerParameters
                    from mcp.client.stdio import stdio_client

                    env = {k: _expand(v, name) for k, v in cfg.env.items()}
                    params = StdioServerParameters(
                        command=cfg.command, args=list(cfg.args), env=env or None, cwd=cfg.cwd
                    )
                    if self.owner.log_path is not None:
                        log_path = self.owner.log_path
                        log_path.parent.mkdir(parents=True, exist_ok=True)
                        errlog = log_path.open("a", encoding="utf-8")
                        errlog.write(f"--- az: starting {cfg.describe()} at {time.ctime()}\n")
                        errlog.flush()
                        self.log_offset = errlog.tell()
                        target: Any = stdio_client(params, errlog=errlog)
                    else:
                        target = stdio_client(params)
                else:
                    headers = {k: _expand(v, name) for k, v in cfg.headers.items()}
                    target = cfg.url
                    if headers:
                        import httpx2
                        from mcp.client.streamable_http import streamable_http_client

                        http = await stack.enter_async_context(
                            httpx2.AsyncClient(
                                headers=headers, timeout=httpx2.Timeout(30.0, read=300.0)
                            )
                        )
                        target = streamable_http_client(cfg.url or "", http_client=http)
                client = Client(
                    target,
                    read_timeout_seconds=cfg.timeout,
                    client_info=Implementation(name="az", version=_version()),
                )
                leaders = _session_children() if cfg.command is not None else set()
                await stack.enter_async_context(client)
                if cfg.command is not None:
                    self.pgid = _server_leader(cfg.command, list(cfg.args), leaders)
                self.session = client
                self.ready.set()
                await self.stop.wait()
        except asyncio.CancelledError:
            if not self.ready.is_set():
                self.error = "start-up was cancelled"
            raise
        except BaseException as exc:  # noqa: BLE001 - reported to whoever waits
            if not self.ready.is_set():
                self.error = self._describe_start_error(exc)
        finally:
            self.closed = True
            self.session = None
            self.ready.set()
            if errlog is not None:
                errlog.close()
            _end_group(self.pgid)
            self.pgid = None

    pgid: int | None = None  #: the stdio server's process group (its own session)

    def _describe_start_error(self, exc: BaseException) -> str:
        leaf = leaf_exception(exc)
        cfg = self.owner.config
        tail = self.stderr_tail()
        if isinstance(leaf, ServerStartError):
            return str(leaf)
        if isinstance(leaf, FileNotFoundError):
            return f"cannot run '{cfg.command}': command not found"
        if isinstance(leaf, PermissionError):
            return f"cannot run '{cfg.command}': permission denied"
        if isinstance(leaf, OSError) and cfg.command is not None:
            return f"cannot run '{cfg.command}': {leaf}"
        text = str(leaf) or type(leaf).__name__
        if cfg.command is not None and "Connection closed" in text:
            text = "the server exited during start-up"
        elif cfg.url is not None and type(leaf).__name__.startswith(("Connect", "HTTP")):
            text = f"cannot reach {cfg.url}: {text}"
        return one_line(text + (f" (stderr: {tail})" if tail else ""))

    async def close(self) -> None:
        """Stop the server and wait until its process is gone."""
        self.stop.set()
        task = self.task
        if task is None or task.done():
            return
        if not self.ready.is_set():
            task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.shield(task)


def _version() -> str:
    from az_mcp import __version__

    return __version__


class MCPClient:
    """A client for one MCP server (design brief ``MCPClient``).

    ``name`` is the server's name in config (its tools are ``NAME.TOOL`` in
    az); ``config`` its :class:`~az_mcp.settings.ServerConfig`; ``home`` the
    az home, where the server's stderr log is kept
    (``<home>/mcp/logs/NAME.log``; ``None``: stderr is inherited).

    All methods are async and may be called from any event loop; each loop
    gets its own session (see the module docstring). Use ``async with`` or
    :meth:`aclose` to stop the server of the current loop early.
    """

    def __init__(self, name: str, config: ServerConfig, home: Path | None = None) -> None:
        self.name = name
        self.config = config
        self.log_path = (home / "mcp" / "logs" / f"{name}.log") if home is not None else None
        self._conns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Connection] = (
            weakref.WeakKeyDictionary()
        )
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._guard = threading.Lock()
        self._tools: list[dict[str, Any]] | None = None

    # -- connections -------------------------------------------------------
    async def _connection(self) -> _Connection:
        loop = asyncio.get_running_loop()
        with self._guard:
            lock = self._locks.get(loop)
            if lock is None:
                lock = self._locks[loop] = asyncio.Lock()
        async with lock:
            conn = self._conns.get(loop)
            if conn is not None and self._closed(conn):
                await self._retire(conn)
                conn = None
            if conn is None:
                conn = _Connection(self)
                with self._guard:
                    self._conns[loop] = conn
                try:
                    await conn.start()
                except BaseException:
                    with self._guard:
                        if self._conns.get(loop) is conn:
                            del self._conns[loop]
                    raise
            conn.last_used = time.monotonic()
            return conn

    @staticmethod
    def _closed(conn: _Connection) -> bool:
        """Whether the session's transport has ended (the server exited).

        Reads the SDK dispatcher's ``_closed`` flag, set when the server's
        stdout reaches EOF: free, unlike a request (``ping`` is gone from the
        2026-07-28 protocol). If the SDK stops having the flag, this says
        "open" and a dead server is noticed by the call failing instead.
        """
        if conn.closed or conn.session is None:
            return True
        session = getattr(conn.session, "_session", None)
        dispatcher = getattr(session, "_dispatcher", None)
        return bool(getattr(dispatcher, "_closed", False))

    async def _retire(self, conn: _Connection, wait: bool = True) -> None:
        """Forget a connection and stop its server (waiting unless ``wait`` is false)."""
        with self._guard:
            for loop, c in list(self._conns.items()):
                if c is conn:
                    del self._conns[loop]
        if wait:
            await conn.close()
        else:
            conn.stop.set()

    async def aclose(self) -> None:
        """Stop this server's session in the current event loop, if any."""
        loop = asyncio.get_running_loop()
        with self._guard:
            conn = self._conns.pop(loop, None)
        if conn is not None:
            await conn.close()

    async def __aenter__(self) -> MCPClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def running(self) -> bool:
        """Whether a session is open in the current event loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        conn = self._conns.get(loop)
        return conn is not None and not conn.closed

    # -- the brief's API -----------------------------------------------------
    async def list_tools(self) -> list[dict[str, Any]]:
        """The server's tools, asked live (starting the server if needed).

        Returns a list of MCP tool dicts: ``{"name", "description",
        "inputSchema" (JSON Schema object), "annotations" (dict or None),
        "read_only" (bool: the ``readOnlyHint`` annotation, default False)}``.
        Raises :class:`ServerStartError` when the server cannot be started
        and ``RuntimeError`` with one line for any other failure.
        """
        conn = await self._connection()
        try:
            async with asyncio.timeout(self.config.timeout + 5):
                tools: list[dict[str, Any]] = []
                cursor: str | None = None
                for _ in range(100):  # a paginator that never ends cannot hang us
                    page = await conn.session.list_tools(cursor=cursor, cache_mode="refresh")
                    tools.extend(_tool_dict(t) for t in page.tools)
                    cursor = page.next_cursor
                    if not cursor:
                        break
        except ServerStartError:
            raise
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError) and not _timed_out(exc):
                raise
            await self._retire(conn, wait=False)
            leaf = leaf_exception(exc)
            if isinstance(leaf, TimeoutError | asyncio.CancelledError):
                raise RuntimeError(
                    f"tools/list timed out after {self.config.timeout:g} s"
                ) from None
            raise RuntimeError(one_line(f"tools/list failed: {leaf}")) from None
        conn.last_used = time.monotonic()
        self._tools = tools
        return tools

    async def get_tool_info(self, tool_name: str) -> dict[str, Any] | None:
        """One tool's dict (as :meth:`list_tools` gives it) or ``None`` when
        the server has no such tool. ``tool_name`` may carry the ``NAME.``
        prefix. Uses the list fetched earlier in this process if any."""
        tool = self._bare(tool_name)
        tools = self._tools if self._tools is not None else await self.list_tools()
        return next((t for t in tools if t["name"] == tool), None)

    async def call_tool(
        self,
        tool_name: str,
        arguments: dict[str, Any] | None = None,
        timeout: float | None = None,
        output_limit: int | None = None,
    ) -> ToolResult:
        """Call one tool and return its :class:`~az_os.types.ToolResult`.

        ``tool_name`` is the server's tool name (``NAME.`` prefix allowed);
        ``timeout`` in seconds (default: the server's ``timeout``);
        ``output_limit`` caps text kept in the result (bytes, default
        unlimited). Never raises for a server failure: ``success`` is False
        and ``error`` says what happened. ``result`` is the tool's
        ``structuredContent`` when it gives one, else its text, else a list
        of content parts (``{"type": "image", "mimeType", "bytes"}``...).
        ``metadata`` holds ``server``, ``tool`` and ``content_types``.
        ``duration_ms`` is wall time including a server start.
        """
        started = time.perf_counter()
        tool = self._bare(tool_name)
        limit = timeout if timeout is not None else self.config.timeout
        meta: dict[str, Any] = {"server": self.name, "tool": tool}

        def fail(msg: str) -> ToolResult:
            return ToolResult(
                success=False,
                error=one_line(msg),
                metadata=meta,
                duration_ms=(time.perf_counter() - started) * 1000,
            )

        try:
            conn = await self._connection()
        except ServerStartError as exc:
            return fail(f"MCP server '{self.name}' could not start: {exc}")
        except Exception as exc:  # noqa: BLE001
            return fail(f"MCP server '{self.name}' could not start: {leaf_exception(exc)}")

        from mcp.shared.exceptions import MCPError
        from mcp.types import CONNECTION_CLOSED, REQUEST_TIMEOUT
        from pydantic import ValidationError

        try:
            async with asyncio.timeout(limit + 2):
                result = await conn.session.call_tool(
                    tool, arguments or {}, read_timeout_seconds=limit
                )
        except MCPError as exc:
            if exc.code == REQUEST_TIMEOUT:
                await self._retire(conn, wait=False)
                return fail(
                    f"{self.name}.{tool} timed out after {limit:g} s (the server was stopped; "
                    "the next call starts it again)"
                )
            if exc.code == CONNECTION_CLOSED:
                tail = conn.stderr_tail()
                await self._retire(conn, wait=False)
                return fail(
                    f"MCP server '{self.name}' closed the connection during {tool} (it crashed "
                    "or exited; the next call starts it again)"
                    + (f"; stderr: {tail}" if tail else "")
                )
            return fail(f"MCP server '{self.name}' refused {tool}: {exc.message}")
        except ValidationError as exc:
            return fail(
                f"MCP server '{self.name}' sent a malformed answer to {tool}: "
                f"{_validation_summary(exc)}"
            )
        except TimeoutError:
            await self._retire(conn, wait=False)
            return fail(f"{self.name}.{tool} timed out after {limit:g} s")
        except Exception as exc:  # noqa: BLE001 - anything else: a tool error, not a crash
            leaf = leaf_exception(exc)
            await self._retire(conn, wait=False)
            return fail(f"MCP call {self.name}.{tool} failed: {type(leaf).__name__}: {leaf}")
        conn.last_used = time.monotonic()
        try:
            out = convert_result(result, output_limit)
        except Exception as exc:  # noqa: BLE001 - content we cannot read
            return fail(f"MCP server '{self.name}' sent content az cannot read: {exc}")
        out.metadata = {**meta, **out.metadata}
        out.duration_ms = (time.perf_counter() - started) * 1000
        return out

    def _bare(self, tool_name: str) -> str:
        prefix = self.name + "."
        return tool_name[len(prefix) :] if tool_name.startswith(prefix) else tool_name


def _timed_out(exc: BaseException) -> bool:
    return "deadline" in str(exc)


def _validation_summary(exc: Any) -> str:
    try:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err.get("loc", ()))
        return f"{loc}: {err.get('msg')}"
    except Exception:  # noqa: BLE001
        return str(exc).splitlines()[0]


def _tool_dict(tool: Any) -> dict[str, Any]:
    """An SDK ``Tool`` as a plain MCP dict plus ``read_only``."""
    ann = getattr(tool, "annotations", None)
    ann_dict = ann.model_dump(by_alias=True, exclude_none=True) if ann is not None else None
    read_only = bool(getattr(ann, "read_only_hint", None)) if ann is not None else False
    schema = getattr(tool, "input_schema", None) or {"type": "object", "properties": {}}
    return {
        "name": tool.name,
        "description": tool.description or "",
        "inputSchema": dict(schema),
        "annotations": ann_dict,
        "read_only": read_only,
    }


def _clip(text: str, limit: int | None) -> str:
    if limit is None:
        return text
    from az_os.util import clip_bytes

    kept, dropped = clip_bytes(text, limit)
    if not dropped:
        return text
    return kept + f"\n[... {dropped} more bytes cut (tools.output_limit_bytes)]"


def convert_result(result: Any, output_limit: int | None = None) -> ToolResult:
    """Turn an MCP ``CallToolResult`` into a :class:`ToolResult`.

    ``isError`` → ``success=False`` with the text as ``error``. Otherwise
    ``result`` is ``structuredContent`` if present (``{"result": v}``, the
    SDK's wrapping of a non-object return value, gives ``v``), the joined text when
    every part is text, or a list of part summaries (images and audio as
    ``{"type", "mimeType", "bytes"}``, resources by URI).
    Raises ``ValueError`` for a result that is not a ``CallToolResult``.
    """
    content = getattr(result, "content", None)
    if content is None or not isinstance(content, list):
        raise ValueError(f"expected a CallToolResult, got {type(result).__name__}")
    texts: list[str] = []
    parts: list[Any] = []
    kinds: list[str] = []
    for part in content:
        kind = getattr(part, "type", type(part).__name__)
        kinds.append(kind)
        if kind == "text":
            texts.append(part.text)
            parts.append(part.text)
        elif kind in ("image", "audio"):
            data = getattr(part, "data", "") or ""
            parts.append(
                {
                    "type": kind,
                    "mimeType": getattr(part, "mime_type", None),
                    "bytes": len(data) * 3 // 4,
                }
            )
        elif kind == "resource_link":
            parts.append({"type": kind, "uri": str(part.uri), "name": getattr(part, "name", None)})
        elif kind == "resource":
            res = part.resource
            text = getattr(res, "text", None)
            if text is not None:
                texts.append(text)
                parts.append({"type": kind, "uri": str(res.uri), "text": _clip(text, output_limit)})
            else:
                parts.append(
                    {"type": kind, "uri": str(res.uri), "mimeType": getattr(res, "mime_type", None)}
                )
        else:
            parts.append({"type": kind})
    meta = {"content_types": kinds}
    if getattr(result, "is_error", False):
        msg = "\n".join(texts).strip() or "the tool reported an error without a message"
        return ToolResult(success=False, error=one_line(msg), result=None, metadata=meta)
    structured = getattr(result, "structured_content", None)
    if isinstance(structured, dict) and list(structured) == ["result"]:
        # the SDK's MCPServer/FastMCP wrap a non-object return value as {"result": value}
        structured = structured["result"]
    if structured is not None:
        value: Any = structured
        if output_limit is not None:
            import json

            dumped = (
                structured if isinstance(structured, str) else json.dumps(structured, default=str)
            )
            if len(dumped) > output_limit:
                value = _clip("\n".join(texts) or dumped, output_limit)
    elif len(texts) == len(parts):
        value = _clip("\n".join(texts), output_limit)
    else:
        value = [_clip(p, output_limit) if isinstance(p, str) else p for p in parts]
    return ToolResult(success=True, result=value, metadata=meta)


# -- shared clients ----------------------------------------------------------
_clients: dict[tuple[str, str], MCPClient] = {}
_clients_lock = threading.Lock()


def get_client(name: str, config: ServerConfig, home: Path | None) -> MCPClient:
    """The process-wide :class:`MCPClient` for a server (same name and same
    command/url share one, so every bridged tool of a server shares its
    sessions)."""
    key = (name, f"{config.key()}:{config.timeout}:{config.startup_timeout}:{home}")
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = MCPClient(name, config, home)
        return client


async def close_all() -> None:
    """Stop every server session of the current event loop."""
    with _clients_lock:
        clients = list(_clients.values())
    await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)


# -- a stdio server's own children -------------------------------------------
# The SDK starts each stdio server in its own session (process group = its
# pid) and kills that group only when the server does not exit within its
# grace period; a server that exits cleanly leaves its children (npx's node,
# a shell wrapper's programs) running. az ends the whole group when the
# session closes. Found from /proc, since the SDK does not expose the pid.
_TAKEN: set[int] = set()


def _proc_stat(pid: int) -> tuple[int, int] | None:
    """``(parent pid, process group)`` of ``pid`` from /proc, or None."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return int(fields[1]), int(fields[2])
    except (OSError, IndexError, ValueError):
        return None


def _session_children() -> set[int]:
    """Pids of this process's children that lead their own process group."""
    import os

    me, out = os.getpid(), set()
    try:
        names = os.listdir("/proc")
    except OSError:
        return out
    for name in names:
        if name.isdigit():
            stat = _proc_stat(int(name))
            if stat is not None and stat[0] == me and stat[1] == int(name):
                out.add(int(name))
    return out


def _server_leader(command: str, args: list[str], before: set[int]) -> int | None:
    """The pid of the server just started for ``command args``: a new
    group-leading child whose command line ends with ``args`` and names
    ``command`` (directly or through its interpreter). None if not found."""
    import os

    name = os.path.basename(command)
    for pid in sorted(_session_children() - before - _TAKEN):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                argv = [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
        except OSError:
            continue
        tail_ok = not args or argv[-len(args) :] == args
        if tail_ok and any(os.path.basename(a) == name for a in argv[: len(argv) - len(args)]):
            _TAKEN.add(pid)
            return pid
    return None


def _end_group(pgid: int | None) -> None:
    """SIGTERM what is left of the server's process group (its children)."""
    import os
    import signal

    if pgid is None:
        return
    _TAKEN.discard(pgid)
    try:
        os.killpg(pgid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError, OSError):
        pass
