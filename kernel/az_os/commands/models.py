"""``az models list|default`` and ``az ask``: models through the kernel contract.

These commands only use :func:`az_os.plugins.get_host` (``models()``,
``find_model()``, ``default_model()``) and the hooks, so they work the same
for every model plugin (the embedded ``az-local``, hosted ``az-litellm``,
third-party ones). Imports stay light: rich, config and storage are imported
inside the commands.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:  # pragma: no cover
    from az_os.models import Model

models_app = typer.Typer(
    help="List the models plugins provide and choose the default one.",
    no_args_is_help=True,
)


def _warn(msg: str) -> None:
    sys.stderr.write(f"az: warning: {msg}\n")


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def _require_models() -> dict[str, Model]:
    from az_os.errors import PluginMissingError
    from az_os.plugins import get_host

    models = get_host(_warn).models()
    if not models:
        raise PluginMissingError(
            "no model plugin is installed: pip install az-local (embedded, offline) "
            "or az-litellm (hosted providers)"
        )
    return models


def model_row(model: Model, default_id: str | None = None) -> dict[str, Any]:
    """One model as ``az models list --json`` prints it (see :func:`models_list`)."""
    info = model.info
    ok, reason = model.usable()
    prov = model.provenance()
    return {
        "id": info.id,
        "provider": info.provider,
        "context_window": info.context_window,
        "input_usd_per_1m": round(info.input_cost_per_token * 1e6, 6),
        "output_usd_per_1m": round(info.output_cost_per_token * 1e6, 6),
        "price_source": info.price_source,
        "supports_tools": info.supports_tools,
        "supports_streaming": info.supports_streaming,
        "local": info.local,
        "aliases": list(info.aliases),
        "plugin": info.plugin,
        "usable": ok,
        "reason": reason,
        "source": prov.get("source", ""),
        "verification": prov.get("verification", ""),
        "default": info.id == default_id,
    }


def _default_id() -> tuple[str | None, str]:
    """(default model id or None, where it comes from: "config" | "auto" | reason)."""
    from az_os.config import load_config
    from az_os.errors import AzError
    from az_os.plugins import get_host

    cfg = load_config()
    try:
        model = get_host(_warn).default_model(cfg)
    except AzError as exc:
        return None, str(exc)
    return model.info.id, "config" if cfg.models.default else "auto"


@models_app.command("list")
def models_list(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array instead of a table."),
    usable_only: bool = typer.Option(False, "--usable", help="Only models usable right now."),
) -> None:
    """List every model the installed plugins provide.

    Columns: id, provider, context window (tokens), input/output price in
    USD per 1M tokens, tool-calling support, the plugin it comes from, and
    whether it is usable now (API key present / weights file present; if
    not, why). The default model is marked with *.

    JSON shape: [{"id", "provider", "context_window" (tokens),
    "input_usd_per_1m", "output_usd_per_1m" (USD per 1,000,000 tokens),
    "price_source", "supports_tools", "supports_streaming", "local",
    "aliases": [...], "plugin", "usable" (bool), "reason" (why not usable,
    else ""), "source" (where local weights come from, else ""),
    "verification" (local weights: "verified", "not assembled", ...),
    "default" (bool)}].
    """
    models = _require_models()
    default_id, _ = _default_id()
    rows = [model_row(m, default_id) for m in models.values()]
    if usable_only:
        rows = [r for r in rows if r["usable"]]
    if as_json:
        _print_json(rows)
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    table.add_column("", width=1)
    table.add_column("id", no_wrap=True)
    for col, just in (
        ("provider", "left"),
        ("context", "right"),
        ("in $/1M", "right"),
        ("out $/1M", "right"),
        ("tools", "left"),
        ("plugin", "left"),
        ("source", "left"),
        ("usable", "left"),
    ):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in rows:
        usable = "[green]yes[/]" if r["usable"] else f"[red]no[/]: {r['reason']}"
        if r["verification"]:
            usable += f" [dim]({escape(r['verification'])})[/]"
        table.add_row(
            "*" if r["default"] else "",
            r["id"],
            r["provider"],
            f"{r['context_window']:,}",
            f"{r['input_usd_per_1m']:g}",
            f"{r['output_usd_per_1m']:g}",
            "yes" if r["supports_tools"] else "no",
            r["plugin"] or "",
            escape(r["source"]),
            usable,
        )
    Console().print(table)


@models_app.command("default")
def models_default(
    model: str = typer.Argument(None, help="Model id or alias to make the default."),
    clear: bool = typer.Option(False, "--clear", help="Remove models.default from config."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show the default model, or set it (writes models.default in config.toml).

    Without MODEL: prints the model used when none is given, and whether it
    comes from config or was chosen automatically (the usable model with the
    highest priority: hosted providers with a key beat the embedded model).
    With MODEL: checks that a plugin provides it, then stores its id.

    JSON shape: {"default": id or null, "source": "config"|"auto"|<why none>,
    "usable": bool, "reason": str}.
    """
    from az_os.config import set_value, unset_value
    from az_os.plugins import get_host

    host = get_host(_warn)
    if clear:
        unset_value("models.default")
    elif model is not None:
        _require_models()
        found = host.find_model(model)
        set_value("models.default", found.info.id)
    else:
        _require_models()
    default_id, source = _default_id()
    usable, reason = (False, "")
    if default_id is not None:
        usable, reason = host.find_model(default_id).usable()
    if as_json:
        _print_json({"default": default_id, "source": source, "usable": usable, "reason": reason})
        return
    if default_id is None:
        sys.stdout.write(f"no default model: {source}\n")
        return
    where = "set in config" if source == "config" else "chosen automatically"
    note = "" if usable else f" (not usable now: {reason})"
    sys.stdout.write(f"{default_id}  ({where}){note}\n")


def ask(
    prompt: str = typer.Argument(..., help="What to ask."),
    model: str = typer.Option(
        None, "--model", "-m", help="Model id or alias (default: az models default)."
    ),
    system: str = typer.Option(None, "--system", "-s", help="System prompt."),
    max_tokens: int = typer.Option(
        None, "--max-tokens", min=1, help="Most completion tokens (default: agent.max_tokens)."
    ),
    temperature: float = typer.Option(
        None,
        "--temperature",
        min=0.0,
        max=2.0,
        help="Sampling temperature (default: agent.temperature).",
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON object instead of streaming text."
    ),
) -> None:
    """Ask a model one question; the answer streams to the terminal.

    No tools, no agent loop: one model call. Budget and cost plugins see it
    (az_before_model_call / az_after_model_call) and, when a storage plugin
    is installed, it is logged as a completed task (prompt as description,
    answer as result, tokens and USD), so 'az task list' shows it.

    Example: az ask "Name three prime numbers" --model smollm2

    JSON shape: {"task_id", "model", "answer", "prompt_tokens",
    "completion_tokens" (tokens), "cost_usd" (USD), "duration_ms" (ms, the
    model call), "finish_reason", "logged" (bool: stored in the database)}.
    """
    import socket

    from az_os.completion import question_request
    from az_os.config import load_config
    from az_os.errors import ModelError
    from az_os.plugins import get_host
    from az_os.types import Task, TaskStatus, utcnow

    cfg = load_config()
    host = get_host(_warn)
    _require_models()
    chosen = host.find_model(model) if model else host.default_model(cfg)
    ok, reason = chosen.usable()
    if not ok:
        raise ModelError(f"model {chosen.info.id} is not usable: {reason}", model=chosen.info.id)
    request = question_request(cfg, prompt, system, temperature, max_tokens)
    task = Task(
        description=prompt,
        model=chosen.info.id,
        status=TaskStatus.RUNNING,
        started_at=utcnow(),
        max_turns=1,
        workspace=os.getcwd(),
        pid=os.getpid(),
        host=socket.gethostname(),
    )
    host.before_model_call(task, request, chosen)
    with _StorageOpener(cfg) as storage:
        response = _stream_answer(chosen, request, task, storage, as_json)
        opened = storage.result()
    usage = response.usage
    host.after_model_call(task, request, response, usage)
    task.status = TaskStatus.COMPLETED
    task.result = response.message.content
    task.completed_at = utcnow()
    task.prompt_tokens = usage.prompt_tokens
    task.completion_tokens = usage.completion_tokens
    task.cost_usd = usage.cost_usd
    logged = _log_task(task, response, opened)
    if as_json:
        _print_json(
            {
                "task_id": task.id,
                "model": chosen.info.id,
                "answer": response.message.content,
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "cost_usd": usage.cost_usd,
                "duration_ms": round(response.duration_ms, 1),
                "finish_reason": response.finish_reason,
                "logged": logged,
            }
        )


class _StorageOpener:
    """Opens the storage backend in a worker thread once the model has started
    generating: generation runs in llama.cpp's C code, which releases the GIL,
    while loading the model and importing its library would only compete
    with the opening for it. About 20-40 ms off ``az ask``."""

    def __init__(self, cfg: Any) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.cfg = cfg
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.future: Any = None

    def start(self) -> None:
        """Begin opening (once)."""
        if self.future is None:
            self.future = self.pool.submit(_open_storage, self.cfg)

    def result(self) -> Any:
        """The storage backend, or None when none is installed; errors re-raised."""
        self.start()
        return self.future.result()

    def __enter__(self) -> _StorageOpener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown()


def _stream_answer(
    chosen: Any, request: Any, task: Any, storage: _StorageOpener, as_json: bool
) -> Any:
    """Stream the answer to stdout (unless ``as_json``) and return it as a
    ModelResponse; a failed call is logged as a failed task, then re-raised."""
    from az_os.errors import AzError
    from az_os.types import Message, ModelResponse, TaskStatus, Usage, utcnow

    parts: list[str] = []
    usage: Usage | None = None
    finish: str | None = None
    start = time.perf_counter()
    try:
        for delta in chosen.stream(request):
            storage.start()
            if delta.text:
                parts.append(delta.text)
                if not as_json:
                    sys.stdout.write(delta.text)
                    sys.stdout.flush()
            if delta.usage is not None:
                usage = delta.usage
            if delta.finish_reason:
                finish = delta.finish_reason
    except AzError as exc:
        task.status, task.error, task.completed_at = TaskStatus.FAILED, str(exc), utcnow()
        try:
            _log_task(task, None, storage.result())
        except AzError:  # a broken database must not hide why the call failed
            pass
        raise
    duration_ms = (time.perf_counter() - start) * 1000
    if not as_json:
        sys.stdout.write("\n")
    text = "".join(parts)
    usage = usage or Usage()
    if not usage.cost_usd and (
        chosen.info.input_cost_per_token or chosen.info.output_cost_per_token
    ):
        usage = usage.replace(
            cost_usd=chosen.info.cost(
                usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens
            )
        )
    return ModelResponse(
        model=chosen.info.id,
        message=Message(role="assistant", content=text),
        usage=usage,
        finish_reason=finish,
        duration_ms=duration_ms,
    )


def _open_storage(cfg: Any) -> Any:
    """The configured storage backend, or None when none is installed."""
    from az_os.drivers import get_storage
    from az_os.errors import PluginMissingError

    try:
        return get_storage(cfg)
    except PluginMissingError:
        return None


def _log_task(task: Any, response: Any, storage: Any) -> bool:
    """Store the one-call task (and its turn) when a storage backend is
    installed (``storage`` not None); returns whether it was stored."""
    from az_os.types import Turn

    if storage is None:
        return False
    storage.create_task(task)
    if response is not None:
        storage.add_turn(
            Turn(
                task_id=task.id,
                index=1,
                model=response.model,
                messages=[response.message],
                usage=response.usage,
                model_duration_ms=response.duration_ms,
            )
        )
    return True


def register(app: typer.Typer) -> None:
    """Add ``az models`` and ``az ask`` to the root app."""
    app.add_typer(models_app, name="models")
    app.command("ask")(ask)
