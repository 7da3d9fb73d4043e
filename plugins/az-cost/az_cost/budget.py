"""Budget enforcement before the money is spent, and alerts.

Before every model call (``az_before_model_call``) :func:`check_call`
estimates the *worst case* of the call and refuses it with
:class:`~az_os.errors.BudgetExceededError` when it could cross a limit:

* worst case (USD) = prompt tokens × input price + completion-token cap ×
  output price, where

  - prompt tokens are the model's own count
    (:meth:`az_os.models.Model.count_tokens`: each model plugin counts with
    its tokenizer; az-litellm with ``litellm.token_counter``);
  - the completion-token cap is ``request.max_tokens``, lowered to the
    model's ``max_output_tokens`` when that is smaller;
  - prices are the model's (:class:`~az_os.types.ModelInfo`, USD per
    token); for models priced from LiteLLM's map the price from
    ``litellm.cost_per_token`` is used when it is higher (it knows tiered
    prices, e.g. Gemini 2.5 Pro above 200k prompt tokens). Cached prompt
    tokens are cheaper, so they are not assumed. Where writing to the
    prompt cache costs more than plain input (Anthropic: 1.25x; az-litellm
    marks Claude prompts for the cache), every prompt token is assumed
    written at that price.

* the period budget (``[cost] budget_usd`` per ``budget_period``) refuses
  when spent-in-period + worst cases of other calls in flight + this worst
  case > budget. Calls in flight are reserved in the storage backend when it
  can (``Storage.reserve_budget``: one transaction that every process
  sharing the database serialises on, so workers on several hosts cannot
  overspend together), else in the az home (:class:`SharedReservations`);
* the per-task cap (``task.max_cost_usd``, ``az task run --max-cost``)
  refuses when the task's spend so far + worst case > cap.

Comparisons allow 1e-9 USD of floating-point rounding. Free models
(``info.local`` or all prices zero) are never refused.

At ``alert_pct`` of the budget a warning is written to stderr once per
budget period (remembered in ``<az home>/cost-alerts.json``), logged to the
task's log and sent as a ``warning`` task event.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from az_os.errors import BudgetExceededError, NotFoundError
from az_os.util import file_lock, format_usd, process_alive, read_json, write_json

from az_cost.periods import local_now, period_end, period_label, period_start
from az_cost.settings import CostSettings, load_settings
from az_cost.tracker import MONEY_DIGITS

if TYPE_CHECKING:  # pragma: no cover
    from az_os.config import AzConfig
    from az_os.models import Model
    from az_os.types import ModelInfo, ModelRequest, ModelResponse, Task, Usage

    from az_cost.tracker import CostTracker

log = logging.getLogger("az.cost")

#: USD of floating-point slack in budget comparisons.
EPSILON_USD = 1e-9

ALERTS_FILE = "cost-alerts.json"

_lock = threading.RLock()


def _clock() -> datetime:
    """Now, local time (one place, so tests can move time)."""
    return local_now()


@dataclass
class Reservation:
    """A call in flight: its model and worst-case USD."""

    model_id: str
    info: ModelInfo
    worst_usd: float


#: task id → the call it has in flight (a task makes one call at a time).
_inflight: dict[str, Reservation] = {}


@dataclass
class Estimate:
    """The worst case of one call: tokens and USD (see the module doc)."""

    prompt_tokens: int
    completion_tokens: int
    usd: float


#: Money for people (``$12.34``, ``$0.0042``): :func:`az_os.util.format_usd`.
usd = format_usd


def nice_amount(needed: float) -> float:
    """The smallest round amount ≥ ``needed`` to suggest: 1, 1.5, 2, 2.5, 3,
    4, 5, 6 or 8 times a power of ten (0.06, 150, 2.5 ...)."""
    if needed <= 0:
        return 0.01
    exp = math.floor(math.log10(needed))
    for mantissa in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        amount = round(mantissa * 10.0**exp, max(1 - exp, 0))
        if amount >= needed - EPSILON_USD:
            return amount
    return round(10.0 ** (exp + 1), max(-exp, 0))  # pragma: no cover - 10 × 10^exp ≥ needed


def is_free(info: ModelInfo) -> bool:
    """Local models and models with every price at zero cost nothing."""
    return info.local or (
        info.input_cost_per_token == 0
        and info.output_cost_per_token == 0
        and not info.cache_read_cost_per_token
    )


def litellm_priced(info: ModelInfo) -> bool:
    """Whether the model's prices come from LiteLLM's price map (then
    ``litellm.cost_per_token`` may know a higher, tiered price). Prices the
    user set in config are taken as they are."""
    return "litellm" in info.price_source.lower()


def _litellm() -> Any | None:
    try:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import litellm
    except Exception:  # noqa: BLE001 - optional: not installed or broken
        return None
    litellm.suppress_debug_info = True
    return litellm


def count_prompt_tokens(model: Model, request: ModelRequest) -> int:
    """Prompt tokens of ``request`` for ``model``: the model's own count
    (:meth:`~az_os.models.Model.count_tokens`, the contract every model
    plugin implements with its tokenizer)."""
    return int(model.count_tokens(request))


def estimate(model: Model, request: ModelRequest) -> Estimate:
    """The worst case of calling ``model`` with ``request`` (module doc)."""
    info = model.info
    prompt = count_prompt_tokens(model, request)
    completion = request.max_tokens
    if info.max_output_tokens:
        completion = min(completion, info.max_output_tokens)
    worst = info.cost(prompt, completion)
    # a prompt written to the provider's cache may cost more than plain input
    writes_dearer = (info.cache_write_cost_per_token or 0.0) > info.input_cost_per_token
    if writes_dearer:
        worst = max(worst, info.cost(prompt, completion, cache_write_tokens=prompt))
    if litellm_priced(info):
        litellm = _litellm()
        if litellm is not None:
            cases: list[dict[str, int]] = [{}]
            if writes_dearer:
                cases.append({"cache_creation_input_tokens": prompt})
            for extra in cases:
                try:
                    p_usd, c_usd = litellm.cost_per_token(
                        model=info.id, prompt_tokens=prompt, completion_tokens=completion, **extra
                    )
                    worst = max(worst, float(p_usd) + float(c_usd))
                except Exception as exc:  # noqa: BLE001 - not in LiteLLM's map: our prices
                    log.debug("litellm.cost_per_token failed for %s: %s", info.id, exc)
    return Estimate(prompt_tokens=prompt, completion_tokens=completion, usd=worst)


def _config(config: AzConfig | None) -> AzConfig:
    """``config``, else the config in force (re-read only when it changed:
    this runs before and after every model call)."""
    if config is not None:
        return config
    from az_os.config import current_config

    return current_config()


def _tracker(config: AzConfig, tracker: CostTracker | None) -> CostTracker:
    if tracker is not None:
        return tracker
    from az_cost.tracker import CostTracker

    return CostTracker(config=config)


#: Seconds after which a reservation left by a process is ignored even if
#: the process still runs (no model call waits that long for an answer).
RESERVATION_TTL_S = 900.0

INFLIGHT_FILE = "cost-inflight.json"


class SharedReservations:
    """Calls in flight across every az process of one az home.

    ``<az home>/cost-inflight.json`` maps task id → ``{"pid", "host",
    "model", "worst_usd", "at"}``; ``cost-inflight.json.lock`` (a
    :mod:`filelock` lock) serialises the budget check of all processes, so
    two ``az task run`` started together cannot both spend the last of a
    budget. Entries of processes that are gone (same host, checked with
    psutil) or older than :data:`RESERVATION_TTL_S` are ignored.
    """

    def __init__(self, home: Path) -> None:
        self.path = home / INFLIGHT_FILE
        home.mkdir(parents=True, exist_ok=True)
        self._lock: Any = None

    @property
    def lock(self) -> Any:
        """The cross-process :class:`filelock.FileLock` (30 s timeout), made on
        first use: a call that reserved nothing (a free model) never imports filelock."""
        if self._lock is None:
            self._lock = file_lock(self.path, timeout=30)
        return self._lock

    def _read(self) -> dict[str, Any]:
        data = _read_json(self.path)
        now = datetime.now(UTC).timestamp()
        host = _hostname()
        live: dict[str, Any] = {}
        for task_id, entry in data.items():
            if not isinstance(entry, dict):
                continue
            if now - float(entry.get("at", 0)) > RESERVATION_TTL_S:
                continue
            if entry.get("host") == host and not process_alive(int(entry.get("pid", 0))):
                continue
            live[task_id] = entry
        return live

    def others(self, task_id: str) -> float:
        """Worst-case USD reserved by other tasks (call with :attr:`lock` held)."""
        return sum(float(e.get("worst_usd", 0)) for t, e in self._read().items() if t != task_id)

    def put(self, task_id: str, model_id: str, worst_usd: float) -> None:
        """Reserve ``worst_usd`` for the task's call (call with the lock held)."""
        data = self._read()
        data[task_id] = {
            "pid": os.getpid(),
            "host": _hostname(),
            "model": model_id,
            "worst_usd": worst_usd,
            "at": datetime.now(UTC).timestamp(),
        }
        _write_json(self.path, data)

    def drop(self, task_id: str) -> None:
        """Remove the task's reservation (takes the lock itself)."""
        if not self.path.exists():
            return
        with self.lock:
            data = self._read()
            if data.pop(task_id, None) is not None or data != _read_json(self.path):
                _write_json(self.path, data)


def _hostname() -> str:
    import socket

    return socket.gethostname()


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _reserving_storage(tracker: CostTracker) -> Any:
    """The storage backend when it reserves budget atomically for every
    process sharing it (``Storage.reserve_budget``, e.g. the SQL backends:
    workers on several hosts), else None (the az home's reservation file)."""
    from az_os.storage import Storage

    try:
        storage = tracker.storage
    except Exception:  # noqa: BLE001 - no backend: the file it is
        return None
    if type(storage).reserve_budget is Storage.reserve_budget:
        return None
    return storage


def _drop_reservation(task_id: str, config: AzConfig, tracker: CostTracker | None) -> None:
    """Release the task's reservation wherever it was made."""
    storage = _reserving_storage(tracker or _tracker(config, None))
    if storage is not None:
        storage.release_budget(task_id)
    SharedReservations(config.home).drop(task_id)


def check_call(
    task: Task,
    request: ModelRequest,
    model: Model,
    *,
    config: AzConfig | None = None,
    tracker: CostTracker | None = None,
) -> Estimate | None:
    """Refuse the call if it could cross the task's cap or the period budget.

    Returns the worst-case :class:`Estimate` (``None`` for a free model,
    which is never refused). Raises
    :class:`~az_os.errors.BudgetExceededError` saying what was spent, the
    limit and how to raise it, and :class:`~az_os.errors.ConfigError` for
    an invalid ``[cost]`` section. An allowed call is remembered as in
    flight until :func:`record_call` (or the task's end) releases it.
    """
    info = model.info
    if is_free(info):
        with _lock:  # replaces the reservation of an earlier (failed) call
            earlier = _inflight.get(task.id)
            _inflight[task.id] = Reservation(info.id, info, 0.0)
        if earlier is not None and earlier.worst_usd > 0:
            _drop_reservation(task.id, _config(config), tracker)
        return None
    with _lock:
        _inflight.pop(task.id, None)  # the task's earlier call is no longer in flight
    config = _config(config)
    settings = load_settings(config)
    if task.max_cost_usd is None and settings.budget_usd is None:
        with _lock:
            _inflight[task.id] = Reservation(info.id, info, 0.0)
        return None
    est = estimate(model, request)
    tracker = _tracker(config, tracker)
    now = _clock()
    call = (
        f"a call to {info.id} that could cost up to {usd(est.usd)} "
        f"({est.prompt_tokens:,} prompt + {est.completion_tokens:,} completion tokens)"
    )
    with _lock:
        if task.max_cost_usd is not None:
            spent_task = max(task.cost_usd, tracker.task_total(task.id))
            if spent_task + est.usd > task.max_cost_usd + EPSILON_USD:
                need = nice_amount(spent_task + est.usd)
                raise BudgetExceededError(
                    f"task cost cap reached: refused {call}; the task has spent "
                    f"{usd(spent_task)} of its {usd(task.max_cost_usd)} cap and needs at least "
                    f"{usd(spent_task + est.usd)} to go on; run it with a higher cap, e.g. "
                    f"az task run ... --max-cost {need:g}"
                )
        spent = 0.0
        if settings.budget_usd is None:
            _inflight[task.id] = Reservation(info.id, info, est.usd)
            return est
        storage = _reserving_storage(tracker)
        shared = SharedReservations(config.home)
        with _NoLock() if storage is not None else shared.lock:
            period = settings.budget_period
            budget = settings.budget_usd
            if storage is not None:
                # one transaction every process sharing the database serialises on
                check = storage.reserve_budget(
                    task.id,
                    est.usd,
                    model=info.id,
                    budget_usd=budget,
                    since=period_start(period, now),
                    ttl_s=RESERVATION_TTL_S,
                )
                spent, others, ok = check.spent_usd, check.reserved_usd, check.ok
            else:
                spent = tracker.total(period, now)
                others = shared.others(task.id)
                ok = spent + others + est.usd <= budget + EPSILON_USD
            if not ok:
                need = nice_amount(spent + others + est.usd)
                start = period_start(period, now)
                end = period_end(period, now)
                assert start is not None and end is not None
                inflight = f" (+ {usd(others)} reserved by calls in flight)" if others else ""
                raise BudgetExceededError(
                    f"{period} budget reached: refused {call}; {usd(spent)}{inflight} of the "
                    f"{usd(budget)} {period} budget is spent since "
                    f"{start:%Y-%m-%d %H:%M} (resets {end:%Y-%m-%d %H:%M}); raise it with "
                    f"'az cost budget set --amount {need:g} --period {period}' "
                    "or use a free local model"
                )
            if storage is None:
                shared.put(task.id, info.id, est.usd)
        _inflight[task.id] = Reservation(info.id, info, est.usd)
    maybe_alert(settings, spent, config=config, task=task, now=now)
    return est


def release(task_id: str, config: AzConfig | None = None) -> None:
    """Forget the task's call in flight (the task ended or the call failed),
    in this process and in ``cost-inflight.json``."""
    with _lock:
        _inflight.pop(task_id, None)
    try:
        _drop_reservation(task_id, _config(config), None)
    except Exception as exc:  # noqa: BLE001 - a stale entry expires by itself
        log.debug("cannot release the reservation of %s: %s", task_id, exc)


def inflight_usd() -> float:
    """Worst-case USD of every call in flight in this process."""
    with _lock:
        return sum(r.worst_usd for r in _inflight.values())


def record_call(
    task: Task,
    response: ModelResponse,
    usage: Usage,
    *,
    config: AzConfig | None = None,
    tracker: CostTracker | None = None,
) -> float:
    """Record a finished call as one cost row and release its reservation.

    The model id is the one checked in :func:`check_call` for this task
    (else ``response.model``). USD is ``usage.cost_usd`` as the model plugin
    computed it; when a paid model reports 0 USD for a call that used
    tokens, the model's prices are applied instead
    (:meth:`~az_os.types.ModelInfo.cost`) so no spend goes unrecorded.
    A task the storage does not know yet (``az ask`` stores its task after
    the call) is recorded without the task link rather than lost.
    Returns the USD recorded. Then warns if the alert threshold is crossed.
    """
    from az_os.types import CostRecord

    config = _config(config)
    tracker = _tracker(config, tracker)
    with _lock:
        res = _inflight.pop(task.id, None)
        model_id = res.model_id if res is not None else response.model
        cost = usage.cost_usd
        if cost == 0 and res is not None and not is_free(res.info) and usage.total_tokens > 0:
            cost = res.info.cost(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)
            log.warning(
                "model %s reported no cost for %d tokens; recorded %s from its prices",
                model_id,
                usage.total_tokens,
                usd(cost),
            )
        record = CostRecord(
            task_id=task.id,
            model=model_id,
            input_tokens=usage.prompt_tokens,
            output_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
            cost_usd=cost,
            timestamp=_clock().astimezone(UTC),
        )
        try:
            tracker.record(record)
        except NotFoundError:
            # The caller stores the task only after the call (az ask does):
            # keep the money in the books, without the task link.
            log.info("task %s is not stored; cost recorded without a task", task.id)
            tracker.record(record.replace(task_id=None))
        _drop_reservation(task.id, config, tracker)
    settings = load_settings(config)
    if settings.budget_usd is not None and settings.alert_usd is not None:
        now = _clock()
        maybe_alert(
            settings, tracker.total(settings.budget_period, now), config=config, task=task, now=now
        )
    return cost


def status(
    *,
    config: AzConfig | None = None,
    tracker: CostTracker | None = None,
    now: datetime | None = None,
) -> dict[str, Any] | None:
    """The budget and how much of it is spent, or None without a budget.

    Returns (the ``az cost budget show --json`` shape, money in USD)::

        {"amount_usd": float, "period": "daily"|"weekly"|"monthly",
         "alert_pct": float, "alert_usd": float | null, "label": "2026-11",
         "since": ISO local datetime, "resets": ISO local datetime,
         "spent_usd": float, "remaining_usd": float (≥ 0),
         "percent_used": float | null (null for a 0 budget),
         "alerted": bool (the alert was shown this period)}
    """
    config = _config(config)
    settings = load_settings(config)
    if settings.budget_usd is None:
        return None
    tracker = _tracker(config, tracker)
    now = now or _clock()
    period = settings.budget_period
    budget = settings.budget_usd
    spent = tracker.total(period, now)
    start = period_start(period, now)
    end = period_end(period, now)
    assert start is not None and end is not None
    return {
        "amount_usd": budget,
        "period": period,
        "alert_pct": settings.alert_pct,
        "alert_usd": settings.alert_usd,
        "label": period_label(period, now),
        "since": start.isoformat(),
        "resets": end.isoformat(),
        "spent_usd": round(spent, MONEY_DIGITS),
        "remaining_usd": round(max(budget - spent, 0.0), MONEY_DIGITS),
        "percent_used": round(100.0 * spent / budget, 4) if budget else None,
        "alerted": alert_key(settings, now) in _read_json(_alerts_path(config)),
    }


# -- alerts ----------------------------------------------------------------
def _alerts_path(config: AzConfig) -> Path:
    return config.home / ALERTS_FILE


def _read_json(path: Path) -> dict[str, Any]:
    data = read_json(path)
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    write_json(path, data, indent=2)


def alert_key(settings: CostSettings, now: datetime) -> str:
    """What one alert is remembered by: period, its label and the budget
    (``monthly 2026-11 $100``); changing the budget re-arms the alert."""
    period = settings.budget_period
    return f"{period} {period_label(period, now)} ${settings.budget_usd:g}"


def maybe_alert(
    settings: CostSettings,
    spent: float,
    *,
    config: AzConfig,
    task: Task | None = None,
    now: datetime | None = None,
) -> str | None:
    """Warn once per budget period when ``spent`` (USD in the period)
    reaches ``alert_pct`` of the budget.

    The warning goes to stderr (``az: warning: ...``), the task's log and a
    ``warning`` task event; ``<az home>/cost-alerts.json`` remembers it so
    other processes do not repeat it. Returns the message, or None when
    nothing was (or had to be) shown.
    """
    threshold = settings.alert_usd
    if threshold is None or settings.budget_usd is None or spent + EPSILON_USD < threshold:
        return None
    now = now or _clock()
    key = alert_key(settings, now)
    path = _alerts_path(config)
    # the file lock: another process may be about to show the same alert
    with _lock, file_lock(path):
        data = _read_json(path)
        if key in data:
            return None
        # Keep only alerts of the current periods.
        current = {f"{p} {period_label(p, now)} " for p in ("daily", "weekly", "monthly")}
        data = {k: v for k, v in data.items() if any(k.startswith(c) for c in current)}
        data[key] = {
            "at": now.isoformat(),
            "spent_usd": spent,
            "task_id": task.id if task else None,
        }
        try:
            _write_json(path, data)
        except OSError as exc:
            log.warning("cannot remember the cost alert in %s: %s", path, exc)
    budget = settings.budget_usd
    pct = 100.0 * spent / budget if budget else 100.0
    period = settings.budget_period
    msg = (
        f"cost: {usd(spent)} of the {usd(budget)} {period} budget is spent "
        f"({pct:.0f}%, alert at {settings.alert_pct:g}%); calls that could cross the budget "
        f"will be refused (az cost show --period {period})"
    )
    sys.stderr.write(f"az: warning: {msg}\n")
    sys.stderr.flush()
    _tell(task, msg, config)
    return msg


def _tell(task: Task | None, msg: str, config: AzConfig) -> None:
    """Put the alert in the task's log and send a ``warning`` task event."""
    if task is None:
        return
    try:
        from az_os.drivers import get_storage
        from az_os.types import LogRecord

        get_storage(config).add_log(LogRecord(task_id=task.id, level="warning", message=msg))
    except Exception as exc:  # noqa: BLE001 - the stderr line was shown already
        log.debug("cannot log the cost alert: %s", exc)
    try:
        from az_os.plugins import get_host
        from az_os.types import TaskEvent

        get_host().task_event(
            task,
            TaskEvent(type="warning", task_id=task.id, data={"source": "cost", "message": msg}),
        )
    except Exception as exc:  # noqa: BLE001
        log.debug("cannot send the cost alert event: %s", exc)
