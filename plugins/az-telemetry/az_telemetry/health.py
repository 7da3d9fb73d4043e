"""az-telemetry's health checks: system (CPU, memory, disk of the az home),
the storage backend, and every usable model provider.

Each check returns a :class:`~az_os.types.HealthResult` whose ``data`` has
the measured numbers (percentages 0-100, bytes, milliseconds).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from az_os.types import HealthResult, HealthStatus

if TYPE_CHECKING:  # pragma: no cover
    from az_os.models import Model

    from az_telemetry.settings import TelemetrySettings

_cpu_primed = False
_cpu_lock = threading.Lock()


def grade(value: float, degraded: float, unhealthy: float) -> HealthStatus:
    """``unhealthy`` above ``unhealthy``, ``degraded`` above ``degraded``,
    else ``ok`` (all percentages; the brief's "> 70% = degraded")."""
    if value > unhealthy:
        return "unhealthy"
    if value > degraded:
        return "degraded"
    return "ok"


def cpu_percent(sample_s: float) -> float:
    """System-wide CPU use in percent. The first call in a process samples
    for ``sample_s`` seconds; later calls measure since the previous call,
    without blocking (psutil's ``interval=None``)."""
    import psutil

    global _cpu_primed
    with _cpu_lock:
        if not _cpu_primed:
            _cpu_primed = True
            return float(psutil.cpu_percent(interval=sample_s))
        return float(psutil.cpu_percent(interval=None))


def check_cpu(settings: TelemetrySettings) -> HealthResult:
    value = cpu_percent(settings.cpu_sample_s)
    status = grade(value, settings.cpu_degraded, settings.cpu_unhealthy)
    return HealthResult(
        name="system.cpu",
        status=status,
        detail=f"{value:.0f}% used ({settings.cpu_degraded:g}/{settings.cpu_unhealthy:g}% limits)",
        data={"percent": value},
    )


def check_memory(settings: TelemetrySettings) -> HealthResult:
    import psutil

    vm = psutil.virtual_memory()
    status = grade(vm.percent, settings.memory_degraded, settings.memory_unhealthy)
    return HealthResult(
        name="system.memory",
        status=status,
        detail=f"{vm.percent:.0f}% used, {vm.available / 2**30:.1f} GiB available",
        data={"percent": vm.percent, "available_bytes": vm.available, "total_bytes": vm.total},
    )


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing parent (the home may not exist yet)."""
    for p in [path, *path.parents]:
        if p.exists():
            return p
    return Path("/")


def check_disk(settings: TelemetrySettings, home: Path) -> HealthResult:
    import psutil

    du = psutil.disk_usage(str(_existing(home)))
    status = grade(du.percent, settings.disk_degraded, settings.disk_unhealthy)
    return HealthResult(
        name="system.disk",
        status=status,
        detail=f"{du.percent:.0f}% used on the az home's disk, {du.free / 2**30:.1f} GiB free",
        data={"percent": du.percent, "free_bytes": du.free, "path": str(home)},
    )


def check_storage() -> HealthResult:
    """The storage backend opens, reads and takes a write (a probe task,
    created and deleted at once)."""
    from az_os.config import current_config
    from az_os.drivers import get_storage
    from az_os.types import Task, TaskStatus

    start = time.perf_counter()
    try:
        storage = get_storage(current_config())
        total = storage.count_tasks()
        probe = Task(description="az health: storage write probe", status=TaskStatus.CANCELLED)
        storage.create_task(probe)
        storage.delete_task(probe.id)
    except Exception as exc:  # noqa: BLE001 - reported as the check's result
        return HealthResult(
            name="storage", status="unhealthy", detail=f"{type(exc).__name__}: {exc}"[:300]
        )
    ms = (time.perf_counter() - start) * 1000
    return HealthResult(
        name="storage",
        status="ok",
        detail=f"{storage.location or type(storage).__name__}: {total} tasks, writable",
        data={"tasks": total, "location": storage.location, "latency_ms": round(ms, 2)},
    )


#: (provider, probe key) -> (monotonic time, result)
_probe_cache: dict[tuple[str, str], tuple[float, tuple[bool, str] | None]] = {}


def _probe(model: Model, settings: TelemetrySettings) -> tuple[bool, str] | None:
    key = (model.info.provider, str(getattr(model, "api_base", "") or ""))
    now = time.monotonic()
    hit = _probe_cache.get(key)
    if hit is not None and now - hit[0] < settings.probe_cache_s:
        return hit[1]
    try:
        result = model.probe(settings.probe_timeout_s)
    except Exception as exc:  # noqa: BLE001 - probe() must not raise; if it does, say so
        result = (False, f"probe failed: {type(exc).__name__}: {exc}")
    _probe_cache[key] = (now, result)
    return result


def provider_checks(settings: TelemetrySettings) -> dict[str, Callable[[], HealthResult]]:
    """One check per provider of the usable models (``model.<provider>``):
    local models need their weights (``usable()``), hosted ones answer a
    free probe (:meth:`~az_os.models.Model.probe`). One model per provider
    and server address is probed."""
    from az_os.plugins import get_host

    groups: dict[str, list[Model]] = {}
    for model in get_host().models().values():
        groups.setdefault(model.info.provider, []).append(model)
    checks: dict[str, Callable[[], HealthResult]] = {}
    for provider, models in groups.items():
        name = f"model.{provider}"

        def check(name: str = name, models: list[Model] = models) -> HealthResult:
            return _provider_check(name, models, settings)

        checks[name] = check
    return checks


def _provider_check(name: str, models: list[Model], settings: TelemetrySettings) -> HealthResult:
    usable = [m for m in models if m.usable()[0]]
    if not usable:
        if any(m.info.local for m in models):
            why = "; ".join(f"{m.info.id}: {m.usable()[1]}" for m in models)[:300]
            return HealthResult(name=name, status="unhealthy", detail=why)
        return HealthResult(
            name=name,
            status="ok",
            detail=f"not configured ({models[0].usable()[1]})"[:300],
            data={"usable": 0, "models": len(models)},
        )
    data: dict[str, Any] = {"usable": len(usable), "models": len(models)}
    if all(m.info.local for m in usable):
        return HealthResult(
            name=name,
            status="ok",
            detail=f"{len(usable)} local model(s), weights present",
            data=data,
        )
    if not settings.probe_providers:
        return HealthResult(name=name, status="ok", detail="probes off", data=data)
    seen: set[str] = set()
    failures: list[str] = []
    probed = 0
    for m in usable:
        key = str(getattr(m, "api_base", "") or "")
        if key in seen:
            continue
        seen.add(key)
        result = _probe(m, settings)
        if result is None:
            continue
        probed += 1
        ok, detail = result
        if not ok:
            failures.append(f"{m.info.id}: {detail}")
    data["probed"] = probed
    if failures:
        status: HealthStatus = "unhealthy" if len(failures) >= probed else "degraded"
        return HealthResult(name=name, status=status, detail="; ".join(failures)[:300], data=data)
    detail = f"{len(usable)} usable, reachable" if probed else f"{len(usable)} usable (no probe)"
    return HealthResult(name=name, status="ok", detail=detail, data=data)


def telemetry_checks() -> dict[str, Callable[[], HealthResult]]:
    """Every check this plugin registers, by name."""
    from az_os.config import current_config

    from az_telemetry.settings import load_settings

    config = current_config()
    settings = load_settings(config)
    checks: dict[str, Callable[[], HealthResult]] = {
        "system.cpu": lambda: check_cpu(settings),
        "system.memory": lambda: check_memory(settings),
        "system.disk": lambda: check_disk(settings, config.home),
        "storage": check_storage,
    }
    checks.update(provider_checks(settings))
    return checks
