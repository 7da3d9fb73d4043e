"""Running health checks: every check registered through ``az_health_checks``,
at once, each bounded by a timeout, folded into one overall status.

Used by ``az health`` (az-telemetry) and the server's ``/api/health``
(az-server), which must agree on what "healthy" means without importing
each other.

Statuses rank ``ok`` < ``degraded`` < ``unhealthy``; the overall status is
the worst one. A check that raises or takes longer than the timeout is
``unhealthy`` with the reason as its detail. Exit codes for a container
health check: 0 ok, 1 degraded, 2 unhealthy (:data:`EXIT_CODES`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any

from az_os.types import HealthResult, HealthStatus

if TYPE_CHECKING:  # pragma: no cover
    from az_os.plugins import PluginHost

#: rank of each status: the overall status is the highest
RANK: dict[str, int] = {"ok": 0, "degraded": 1, "unhealthy": 2}

#: process exit code per overall status (``az health``)
EXIT_CODES: dict[str, int] = {"ok": 0, "degraded": 1, "unhealthy": 2}


def worst(statuses: list[HealthStatus]) -> HealthStatus:
    """The worst of ``statuses`` (``ok`` for none)."""
    out: HealthStatus = "ok"
    for s in statuses:
        if RANK.get(s, 2) > RANK[out]:
            out = s if s in RANK else "unhealthy"
    return out


def _one(name: str, check: Callable[[], Any]) -> HealthResult:
    start = time.perf_counter()
    try:
        result = HealthResult.checked(check())
    except Exception as exc:  # noqa: BLE001 - a failing check is a result
        text = str(exc).splitlines()[0] if str(exc) else ""
        result = HealthResult(
            name=name, status="unhealthy", detail=f"check failed: {type(exc).__name__}: {text}"
        )
    result.data.setdefault("duration_ms", round((time.perf_counter() - start) * 1000, 2))
    return result


def run_checks(
    checks: Mapping[str, Callable[[], Any]], timeout_s: float = 5.0
) -> tuple[HealthStatus, list[HealthResult]]:
    """Run every check in its own thread, all at once; return the overall
    status and the results in ``checks`` order.

    ``timeout_s`` (seconds) bounds the whole run: a check still running
    then is reported ``unhealthy`` ("no answer within N s") and left to
    finish in the background. ``data["duration_ms"]`` of each result is its
    wall time in milliseconds.
    """
    if not checks:
        return "ok", []
    results: dict[str, HealthResult] = {}
    pool = ThreadPoolExecutor(max_workers=min(16, len(checks)), thread_name_prefix="az-health")
    try:
        futures = {name: pool.submit(_one, name, check) for name, check in checks.items()}
        deadline = time.monotonic() + timeout_s
        for name, fut in futures.items():
            try:
                results[name] = fut.result(timeout=max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                results[name] = HealthResult(
                    name=name, status="unhealthy", detail=f"no answer within {timeout_s:g} s"
                )
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    ordered = [results[name] for name in checks]
    return worst([r.status for r in ordered]), ordered


def host_health(
    host: PluginHost | None = None, timeout_s: float = 5.0
) -> tuple[HealthStatus, list[HealthResult]]:
    """:func:`run_checks` over every check the plugins register
    (``az_health_checks`` on ``host``, default: the process-wide host)."""
    if host is None:
        from az_os.plugins import get_host

        host = get_host()
    return run_checks(host.health_checks(), timeout_s)


def report(status: HealthStatus, results: list[HealthResult]) -> dict[str, Any]:
    """The JSON shape ``az health --json`` and ``/api/health`` share:
    ``{"status": "ok"|"degraded"|"unhealthy", "checks": [{"name", "status",
    "detail", "data"}]}``."""
    return {"status": status, "checks": [r.to_dict() for r in results]}
