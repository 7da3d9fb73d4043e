"""``az health`` and ``az metrics``."""

from __future__ import annotations

import json
import sys

import typer


def register(app: typer.Typer) -> None:
    app.command("health")(health)
    app.command("metrics")(metrics)


def health(
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    timeout: float = typer.Option(
        None, "--timeout", min=0.1, help="Seconds to wait for slow checks (default: config)."
    ),
) -> None:
    """Run every health check (system, storage, model providers and any
    plugin's own) and print one line per check and the overall status.

    Exit code: 0 ok, 1 degraded, 2 unhealthy - so 'az health' works as a
    container health check (HEALTHCHECK CMD az health). Thresholds are in
    [telemetry] (e.g. 'az config set telemetry.cpu_degraded=80').

    JSON shape: {"status": "ok"|"degraded"|"unhealthy", "checks": [{"name",
    "status", "detail", "data": {...}}], "alerts": [...]}.
    """
    from az_os.config import current_config
    from az_os.health import EXIT_CODES, host_health, report
    from az_os.plugins import get_host

    from az_telemetry.settings import load_settings

    config = current_config()
    settings = load_settings(config)
    status, results = host_health(get_host(), timeout or settings.health_timeout_s)
    fired: list[dict[str, object]] = []
    if settings.alerts:
        from az_telemetry.alerts import evaluate

        fired = evaluate(settings, config.home, results)
    if as_json:
        out = report(status, results)
        out["alerts"] = fired
        sys.stdout.write(json.dumps(out, indent=2, default=str) + "\n")
    else:
        mark = {"ok": "ok", "degraded": "DEGRADED", "unhealthy": "UNHEALTHY"}
        width = max((len(r.name) for r in results), default=0)
        for r in results:
            sys.stdout.write(f"{mark[r.status]:<9}  {r.name:<{width}}  {r.detail}\n")
        for a in fired:
            sys.stdout.write(f"ALERT      {a['name']}: {a['message']}\n")
        sys.stdout.write(f"overall: {status}\n")
    raise typer.Exit(EXIT_CODES[status])


def metrics() -> None:
    """Print every metric in the Prometheus text format: system (CPU,
    memory, disk, load), tasks by status from storage, and what plugins
    contribute (az_metrics hook). Counters of model and tool calls cover the
    current process only; 'az serve' exposes a long-running process's at
    /api/metrics."""
    from az_os.plugins import get_host

    sys.stdout.write(get_host().metrics_text())
