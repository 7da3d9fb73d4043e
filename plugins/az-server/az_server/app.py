"""The FastAPI application: ``create_app(settings)``.

Endpoints (all under ``/api``; every one but ``/api/health`` needs
``Authorization: Bearer <token>``):

========================== ===================================================
GET  /api/health           health checks (az_health_checks): 200 ok/degraded, 503 unhealthy
GET  /api/metrics          Prometheus text: every plugin's (az_metrics) and the server's own
GET  /api/cost             USD and tokens from cost rows, by model (``?period=``)
GET  /api/tools/usage      tool invocations and time, by tool
GET  /api/performance      request latency, error rate, queue and task numbers
POST /api/tasks            submit a task: 202 with the stored task
GET  /api/tasks            list (``status``, ``priority``, ``limit``, ``offset``)
GET  /api/tasks/{id}       one task with its turns, tool calls, tokens, USD
GET  /api/tasks/{id}/events  Server-Sent Events, live, in order (``Last-Event-ID`` resumes)
POST /api/tasks/{id}/cancel  cancel a waiting or running task
POST /api/tasks/{id}/resume  queue a cancelled, interrupted or failed task again
GET  /api/openapi.json     the OpenAPI document
========================== ===================================================

Errors: 401 (no or wrong token), 404 (unknown task), 409 (a state that does
not allow the request), 422 (bad JSON, unknown field, wrong type or value;
``error`` names the field), 503 (queue full or shutting down; ``Retry-After``
in seconds).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from az_server.manager import Conflict, NotAccepting, QueueFull, TaskManager
from az_server.settings import ServerSettings

Priority = Literal["low", "medium", "high", "urgent"]
Status = Literal[
    "initialized", "pending", "running", "completed", "failed", "cancelled", "interrupted"
]


class TaskIn(BaseModel):
    """A task to run. ``max_cost`` is USD; ``workspace`` an existing
    directory under one of ``server.workspace_roots``; ``tools`` fnmatch
    patterns of tool names to offer (default: all)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    description: str = Field(min_length=1, max_length=100_000)
    model: str | None = Field(default=None, min_length=1, max_length=200)
    priority: Priority = "medium"
    max_cost: float | None = Field(default=None, gt=0)
    workspace: str | None = Field(default=None, min_length=1, max_length=4096)
    max_turns: int | None = Field(default=None, ge=1, le=100)
    tools: list[str] | None = Field(default=None, max_length=100)


class Stats:
    """Request latency and errors per route, for ``/api/performance``."""

    ID = re.compile(r"^(/api/tasks/)[^/]+")

    def __init__(self) -> None:
        self.started = time.time()
        self.count: dict[str, int] = defaultdict(int)
        self.errors: dict[str, int] = defaultdict(int)
        self.latency: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=5000))

    def route(self, method: str, path: str) -> str:
        return method + " " + self.ID.sub(r"\1{id}", path)

    def add(self, route: str, status: int, seconds: float) -> None:
        self.count[route] += 1
        if status >= 500:
            self.errors[route] += 1
        self.latency[route].append(seconds * 1000)


class _Timing:
    """Pure ASGI middleware: time to the response's first byte, per route;
    tells the task manager (``state["manager"]``) a request is being
    answered, so tasks wait to start until it is (event streams excepted:
    they last as long as their task)."""

    def __init__(self, app: Any, stats: Stats, state: dict[str, Any]) -> None:
        self.app = app
        self.stats = stats
        self.state = state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        route = self.stats.route(scope["method"], scope["path"])
        manager = None if route.endswith("/events") else self.state.get("manager")
        if manager is not None:
            manager.request_started()

        async def timed_send(message: Any) -> None:
            nonlocal manager
            if message["type"] == "http.response.start":
                self.stats.add(route, message["status"], time.perf_counter() - start)
                if manager is not None:
                    manager.request_done()
                    manager = None
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            if manager is not None:  # no response started (the client went away)
                manager.request_done()


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return round(values[k], 3)


def _loc(loc: Any) -> str:
    parts = [str(p) for p in loc if p != "body"] or [str(p) for p in loc]
    return ".".join(parts)


def create_app(
    settings: ServerSettings, token: str | None, config: Any = None, host: Any = None
) -> FastAPI:
    """The application. ``token`` None disables auth (tests of the app alone);
    ``az serve`` always passes one."""
    from az_os.config import load_config
    from az_os.engine import ExecutionEngine
    from az_os.plugins import get_host

    config = config or load_config()
    host = host or get_host()
    roots = settings.roots(config.home)
    stats = Stats()
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = ExecutionEngine(config=config, host=host)
        manager = TaskManager(engine, settings)
        state["manager"] = manager
        app.state.manager = manager
        from az_server import plugin

        plugin.CURRENT = manager
        for r in roots[:1]:
            r.mkdir(parents=True, exist_ok=True)
        await manager.start()
        try:
            yield
        finally:
            await manager.shutdown()
            plugin.CURRENT = None

    app = FastAPI(
        title="az server",
        version=_version(),
        summary="Run and watch az tasks over HTTP.",
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    if token is not None:
        # inside the timing, the outermost but one layer: a 401 costs no routing, and an accepted
        # request no dependency solving (a FastAPI dependency per route cost
        # about a fifth of a submission's CPU)
        app.add_middleware(_BearerAuth, token=token)
    app.add_middleware(_Timing, stats=stats, state=state)

    def manager() -> TaskManager:
        m: TaskManager = state["manager"]
        return m

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        where = _loc(first.get("loc", ()))
        message = f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
        detail = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in errors
        ]
        return JSONResponse({"error": message, "detail": detail}, status_code=422)

    def unprocessable(field: str, message: str) -> HTTPException:
        return HTTPException(422, [{"loc": ["body", field], "msg": message, "type": "value_error"}])

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        body: dict[str, Any] = {"detail": exc.detail}
        if isinstance(exc.detail, list) and exc.detail:
            first = exc.detail[0]
            body["error"] = f"{_loc(first['loc'])}: {first['msg']}"
        else:
            body["error"] = str(exc.detail)
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    # -- monitoring ---------------------------------------------------------
    @app.get("/api/health", tags=["monitoring"])
    async def health() -> JSONResponse:
        """Every health check (``az_health_checks``); 200 when ok or
        degraded, 503 when unhealthy. Shape: ``{"status", "checks": [{"name",
        "status", "detail", "data"}]}``. No token needed."""
        from az_os.health import host_health, report

        status, results = await asyncio.to_thread(host_health, host, 5.0)
        return JSONResponse(
            report(status, results), status_code=503 if status == "unhealthy" else 200
        )

    @app.get("/api/metrics", tags=["monitoring"], response_class=PlainTextResponse)
    async def metrics() -> Response:
        """Prometheus text: every plugin's metrics (``az_metrics`` hook, e.g.
        az-telemetry's system and task metrics) and the server's own
        (``az_server_*``)."""
        plugin_text = await asyncio.to_thread(host.metrics_text)
        text = plugin_text + _server_metrics(stats, manager())
        return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/api/cost", tags=["monitoring"])
    async def cost(
        period: Literal["all", "daily", "weekly", "monthly"] = Query(  # noqa: B008
            "all", description="all, or since 00:00 UTC today / 7 days / 30 days ago"
        ),
    ) -> dict[str, Any]:
        """USD and tokens from the cost rows, by model. az-cost (part of the
        headless install) writes one per model call, with the USD the model
        plugin reported; without it no rows are written and this stays 0: ``{"period", "since", "total_usd", "calls",
        "input_tokens", "output_tokens", "by_model": [{"model", "calls",
        "input_tokens", "output_tokens", "cost_usd"}]}``."""
        now = datetime.now(UTC)
        since = {
            "all": None,
            "daily": now.replace(hour=0, minute=0, second=0, microsecond=0),
            "weekly": now - timedelta(days=7),
            "monthly": now - timedelta(days=30),
        }[period]
        rows = await asyncio.to_thread(manager().storage.list_costs, since)
        by: dict[str, dict[str, Any]] = {}
        for r in rows:
            m = by.setdefault(
                r.model,
                {
                    "model": r.model,
                    "calls": 0,
                    "input_tokens": 0,
                    "output_tokens": 0,
                    "cost_usd": 0.0,
                },
            )
            m["calls"] += 1
            m["input_tokens"] += r.input_tokens
            m["output_tokens"] += r.output_tokens
            m["cost_usd"] += r.cost_usd
        models = sorted(by.values(), key=lambda m: -m["cost_usd"])
        return {
            "period": period,
            "since": since.isoformat().replace("+00:00", "Z") if since else None,
            "total_usd": sum(m["cost_usd"] for m in models),
            "calls": len(rows),
            "input_tokens": sum(m["input_tokens"] for m in models),
            "output_tokens": sum(m["output_tokens"] for m in models),
            "by_model": models,
        }

    @app.get("/api/tools/usage", tags=["monitoring"])
    async def tools_usage() -> dict[str, Any]:
        """Tool invocations over every task: ``{"tools": [{"tool",
        "invocations", "total_duration_ms", "avg_duration_ms"}]}``, most used first."""
        rows = await asyncio.to_thread(manager().storage.list_tool_usage)
        tools: list[dict[str, Any]] = [
            {
                "tool": r.tool_name,
                "invocations": r.invocation_count,
                "total_duration_ms": round(r.total_duration_ms, 3),
                "avg_duration_ms": round(r.total_duration_ms / r.invocation_count, 3)
                if r.invocation_count
                else 0.0,
            }
            for r in rows
        ]
        tools.sort(key=lambda t: (-t["invocations"], t["tool"]))
        return {"tools": tools}

    @app.get("/api/performance", tags=["monitoring"])
    async def performance() -> dict[str, Any]:
        """This server since it started: ``{"uptime_s", "requests": {"total",
        "errors", "error_rate", "per_s"}, "latency_ms": {"p50", "p95", "p99"},
        "routes": [{"route", "count", "errors", "p50_ms", "p95_ms"}], "tasks":
        {"running", "queued", "concurrency", "queue_size", "finished": {status: n},
        "tasks_per_s_last_minute", "duration_s": {"p50", "p95", "count"}},
        "max_rss_bytes"}``. Latency is time to the response's first byte."""
        uptime = time.time() - stats.started
        total = sum(stats.count.values())
        errors = sum(stats.errors.values())
        every = [v for d in stats.latency.values() for v in d]
        routes = [
            {
                "route": r,
                "count": stats.count[r],
                "errors": stats.errors.get(r, 0),
                "p50_ms": _pct(list(stats.latency[r]), 50),
                "p95_ms": _pct(list(stats.latency[r]), 95),
            }
            for r in sorted(stats.count)
        ]
        return {
            "uptime_s": round(uptime, 3),
            "requests": {
                "total": total,
                "errors": errors,
                "error_rate": round(errors / total, 4) if total else 0.0,
                "per_s": round(total / uptime, 3) if uptime else 0.0,
            },
            "latency_ms": {"p50": _pct(every, 50), "p95": _pct(every, 95), "p99": _pct(every, 99)},
            "routes": routes,
            "tasks": manager().stats(),
            "max_rss_bytes": _max_rss(),
        }

    # -- tasks ------------------------------------------------------------
    @app.post("/api/tasks", tags=["tasks"], status_code=202)
    async def submit(body: TaskIn) -> Response:
        """Store and queue a task; 202 with the task (``status`` pending),
        its place in the queue and its events URL. 503 with ``Retry-After``
        when the queue is full or the server is stopping."""
        from az_os.errors import AzError
        from az_os.types import Task, TaskPriority

        m = manager()
        workspace = _workspace(body.workspace)
        if body.model is not None:
            try:
                model = host.find_model(body.model)
            except AzError as exc:
                raise unprocessable("model", str(exc)) from None
            model_id: str | None = model.info.id
        else:
            model_id = None
        task = Task(
            description=body.description,
            model=model_id,
            priority=TaskPriority(body.priority),
            workspace=str(workspace),
            max_cost_usd=body.max_cost,
            max_turns=body.max_turns or settings.max_turns or config.agent.max_turns,
            approval=settings.approval,
        )
        try:
            position = await m.submit(task, body.tools)
        except (QueueFull, NotAccepting) as exc:
            raise HTTPException(
                503, str(exc), {"Retry-After": str(settings.retry_after_s)}
            ) from None
        out = task.to_dict()
        out["position"] = position
        out["events_url"] = f"/api/tasks/{task.id}/events"
        return _json(out, 202, {"Location": f"/api/tasks/{task.id}"})

    def _workspace(raw: str | None) -> Path:
        if raw is None:
            if "default_workspace" not in state:
                default = Path(settings.default_workspace or roots[0]).expanduser().resolve()
                default.mkdir(parents=True, exist_ok=True)
                state["default_workspace"] = default
            path: Path = state["default_workspace"]
        else:
            path = Path(raw).expanduser()
            if not path.is_absolute():
                path = roots[0] / path
            path = path.resolve()
        if not any(path == r or path.is_relative_to(r) for r in roots):
            allowed = ", ".join(str(r) for r in roots)
            raise unprocessable("workspace", f"'{path}' is not under a workspace root ({allowed})")
        if not path.is_dir():
            raise unprocessable("workspace", f"'{path}' is not an existing directory")
        return path

    @app.get("/api/tasks", tags=["tasks"])
    async def list_tasks(
        status: Status | None = None,
        priority: Priority | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 20,
        offset: Annotated[int, Query(ge=0)] = 0,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
        total: bool = False,
    ) -> Response:
        """Tasks newest first: ``{"tasks": [...], "limit", "offset",
        "next_cursor"}``, plus ``"total"`` (matching tasks) when asked with
        ``total=true``. Each task has the fields of
        ``az_os.storage.TASK_PAGE_FIELDS`` (no result or turns:
        ``GET /api/tasks/{id}`` has them). Page with ``cursor=<next_cursor>``
        (every page costs what the first does); ``offset`` still works but
        reads past the skipped rows. ``next_cursor`` is null on the last page."""
        from az_os.types import TaskPriority, TaskStatus

        st = TaskStatus(status) if status else None
        pr = TaskPriority(priority) if priority else None
        storage = manager().storage

        def read() -> tuple[list[dict[str, Any]], str | None, int | None]:
            rows, next_cursor = storage.list_task_page(st, pr, limit, cursor, offset)
            return rows, next_cursor, storage.count_tasks(st, pr) if total else None

        try:
            rows, next_cursor, count = await asyncio.to_thread(read)
        except ValueError as exc:
            raise HTTPException(
                422, [{"loc": ["query", "cursor"], "msg": str(exc), "type": "value_error"}]
            ) from None
        out: dict[str, Any] = {
            "tasks": rows,
            "limit": limit,
            "offset": 0 if cursor else offset,
            "next_cursor": next_cursor,
        }
        if count is not None:
            out["total"] = count
        return _json(out)

    async def _task_or_404(task_id: str) -> Any:
        task = await asyncio.to_thread(manager().storage.get_task, task_id)
        if task is None:
            raise HTTPException(404, f"no task '{task_id}'")
        return task

    @app.get("/api/tasks/{task_id}", tags=["tasks"])
    async def get_task(task_id: str) -> dict[str, Any]:
        """The task (``id`` or unique prefix) with ``turns`` (each with its
        messages, tool calls, tool results, usage), ``tool_calls`` (count),
        ``total_tokens`` and, while it waits, ``position``."""
        task = await _task_or_404(task_id)
        turns = await asyncio.to_thread(manager().storage.list_turns, task.id)
        return {
            **task.to_dict(),
            "total_tokens": task.total_tokens,
            "tool_calls": sum(len(t.tool_calls) for t in turns),
            "turns": [t.to_dict() for t in turns],
            "position": manager().position(task.id),
        }

    @app.get(
        "/api/tasks/{task_id}/events",
        tags=["tasks"],
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def events(
        task_id: str, last_event_id: Annotated[str | None, Header()] = None
    ) -> StreamingResponse:
        """Server-Sent Events of the task, in order: every event so far,
        then live ones until it ends (``event:`` is the type - created,
        started, model_call, tool_call, tool_result, turn, completed, ...;
        ``data:`` the event as JSON; ``id:`` its sequence number, so a
        reconnect with ``Last-Event-ID`` continues). A task this server is
        not running gets one event with its current status."""
        task = await _task_or_404(task_id)
        channel = manager().channels.get(task.id)
        try:
            after = int(last_event_id) if last_event_id else 0
        except ValueError:
            after = 0

        async def stream() -> AsyncIterator[str]:
            if channel is None:
                data = {
                    "seq": 1,
                    "type": task.status.value,
                    "task_id": task.id,
                    "data": {"result": task.result, "error": task.error, "snapshot": True},
                    "timestamp": task.updated_at.isoformat().replace("+00:00", "Z"),
                }
                yield _sse(data)
                return
            async for ev in channel.follow(after):
                yield _sse(ev)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @app.post("/api/tasks/{task_id}/cancel", tags=["tasks"])
    async def cancel(task_id: str) -> dict[str, Any]:
        """Cancel a waiting or running task (it can be resumed); 409 when it
        already finished. Returns the task as stored."""
        task = await _task_or_404(task_id)
        try:
            final = await manager().cancel(task.id)
        except Conflict as exc:
            raise HTTPException(409, str(exc)) from None
        return dict(final.to_dict())

    @app.post("/api/tasks/{task_id}/resume", tags=["tasks"], status_code=202)
    async def resume(task_id: str) -> dict[str, Any]:
        """Queue a cancelled, interrupted or failed task again; it continues
        from its last complete turn. 409 for a completed, waiting or running task."""
        task = await _task_or_404(task_id)
        try:
            await manager().resume(task.id)
        except Conflict as exc:
            raise HTTPException(409, str(exc)) from None
        except (QueueFull, NotAccepting) as exc:
            raise HTTPException(
                503, str(exc), {"Retry-After": str(settings.retry_after_s)}
            ) from None
        return {**task.to_dict(), "position": manager().position(task.id)}

    @app.get("/api/openapi.json", tags=["meta"], include_in_schema=False)
    async def openapi() -> dict[str, Any]:
        """The OpenAPI 3 document of this API."""
        return _openapi(app)

    return app


class _BearerAuth:
    """Pure ASGI middleware: every request under ``/api/`` but ``/api/health`` needs
    ``Authorization: Bearer <token>``; else 401 with ``WWW-Authenticate:
    Bearer`` and ``{"detail", "error"}`` as every other error."""

    OPEN = frozenset({"/api/health"})

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        if not path.startswith("/api/") or path in self.OPEN:  # other paths: 404
            await self.app(scope, receive, send)
            return
        value = b""
        for name, v in scope["headers"]:
            if name == b"authorization":
                value = v
                break
        scheme, _, given = value.partition(b" ")
        if scheme.lower() != b"bearer" or not given:
            message = "missing bearer token ('az serve token' prints it)"
        elif not secrets.compare_digest(given.strip(), self.token):
            message = "invalid bearer token"
        else:
            await self.app(scope, receive, send)
            return
        response = JSONResponse(
            {"detail": message, "error": message},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
        await response(scope, receive, send)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """``app.openapi()`` with the bearer scheme on every operation but the
    health check (the token is checked by :class:`_BearerAuth`, which the
    generated document cannot see)."""
    if app.openapi_schema is None:
        schema = app.openapi()
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes["bearer"] = {
            "type": "http",
            "scheme": "bearer",
            "description": "the token 'az serve token' prints",
        }
        for path, operations in schema.get("paths", {}).items():
            if path in _BearerAuth.OPEN:
                continue
            for operation in operations.values():
                operation["security"] = [{"bearer": []}]
    return app.openapi_schema or app.openapi()


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response encoded by msgspec (datetimes as ISO 8601 with ``Z``),
    without FastAPI's per-value re-encoding of the returned object."""
    import msgspec

    return Response(
        msgspec.json.encode(data, enc_hook=str),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


def _sse(event: dict[str, Any]) -> str:
    data = json.dumps(event, default=str, ensure_ascii=False)
    return f"id: {event['seq']}\nevent: {event['type']}\ndata: {data}\n\n"


def _server_metrics(stats: Stats, manager: TaskManager) -> str:
    """The server's own metrics as Prometheus text (``az_server_*``)."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    class Collector:
        def collect(self) -> Any:
            req = CounterMetricFamily(
                "az_server_requests", "HTTP requests by route.", labels=["route"]
            )
            err = CounterMetricFamily(
                "az_server_request_errors", "HTTP 5xx responses by route.", labels=["route"]
            )
            for r, n in sorted(stats.count.items()):
                req.add_metric([r], n)
                err.add_metric([r], stats.errors.get(r, 0))
            yield req
            yield err
            s = manager.stats()
            for name, doc, value in (
                ("az_server_tasks_running", "Tasks running in the server.", s["running"]),
                ("az_server_tasks_queued", "Tasks waiting to run.", s["queued"]),
                ("az_server_concurrency", "Tasks allowed to run at once.", s["concurrency"]),
            ):
                g = GaugeMetricFamily(name, doc)
                g.add_metric([], value)
                yield g

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector())
    return generate_latest(registry).decode("utf-8")


def _max_rss() -> int | None:
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # kB on Linux


def _version() -> str:
    from az_server import __version__

    return __version__
