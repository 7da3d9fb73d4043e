"""Alert rules (``[[telemetry.alerts]]``): measure, compare, deliver, cool down.

:func:`evaluate` measures what the rules need, and for each rule above its
threshold that is not cooling down, delivers an alert:

* to the log (logger ``az.alerts``, level WARNING) and, when a storage
  backend is installed, as a ``warning`` log row (``az log show``);
* to ``alert_command`` (run through the shell with the alert as JSON on
  stdin and ``AZ_ALERT_NAME``, ``AZ_ALERT_MEASURE``, ``AZ_ALERT_VALUE``,
  ``AZ_ALERT_THRESHOLD`` set);
* to ``alert_webhook`` (a JSON POST).

The last firing time of each rule is kept in ``<az home>/telemetry/alerts.json``
so the cooldown holds across processes (``az health`` run by cron, the server).

An alert is ``{"name", "measure", "value", "threshold", "message", "fired_at"}``
(``fired_at``: ISO 8601 UTC).
"""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from az_os.types import HealthResult

from az_telemetry.settings import AlertRule, TelemetrySettings

log = logging.getLogger("az.alerts")


def measure(name: str, checks: list[HealthResult] | None = None) -> float | None:
    """The current value of a measure (see :mod:`az_telemetry.settings`), or
    ``None`` when it cannot be measured (no storage, no health run)."""
    if name in ("unhealthy_checks", "degraded_checks"):
        if checks is None:
            return None
        bad = {"unhealthy"} if name == "unhealthy_checks" else {"degraded", "unhealthy"}
        return float(sum(1 for c in checks if c.status in bad))
    from az_os.config import current_config
    from az_os.drivers import get_storage

    try:
        storage = get_storage(current_config())
    except Exception:  # noqa: BLE001 - no backend: nothing to measure
        return None
    if name == "cost_usd_today":
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return float(storage.total_cost(since=midnight))
    if name == "failure_rate":
        finished = [t for t in storage.list_tasks(limit=200) if t.status.finished][:100]
        if not finished:
            return 0.0
        return sum(1 for t in finished if t.status.value == "failed") / len(finished)
    return None


def _state_path(home: Path) -> Path:
    return home / "telemetry" / "alerts.json"


def _read_state(home: Path) -> dict[str, float]:
    try:
        data = json.loads(_state_path(home).read_text())
    except (OSError, ValueError):
        return {}
    return {k: float(v) for k, v in data.items() if isinstance(v, int | float)}


def _write_state(home: Path, state: dict[str, float]) -> None:
    path = _state_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, path)


def deliver(alert: dict[str, Any], settings: TelemetrySettings) -> list[str]:
    """Send ``alert`` to the log, the command and the webhook; returns the
    problems met (one line each), which are logged too, never raised."""
    problems: list[str] = []
    log.warning("alert %s: %s", alert["name"], alert["message"])
    try:
        from az_os.config import current_config
        from az_os.drivers import get_storage
        from az_os.types import LogRecord

        get_storage(current_config()).add_log(
            LogRecord(level="warning", message=f"alert {alert['name']}: {alert['message']}")
        )
    except Exception:  # noqa: BLE001 - no storage backend: the logger is enough
        pass
    body = json.dumps(alert)
    if settings.alert_command:
        import subprocess

        env = {
            **os.environ,
            "AZ_ALERT_NAME": alert["name"],
            "AZ_ALERT_MEASURE": alert["measure"],
            "AZ_ALERT_VALUE": f"{alert['value']:g}",
            "AZ_ALERT_THRESHOLD": f"{alert['threshold']:g}",
        }
        try:
            proc = subprocess.run(  # noqa: S602 - the user's own configured command
                settings.alert_command,
                shell=True,
                input=body,
                text=True,
                env=env,
                capture_output=True,
                timeout=settings.alert_timeout_s,
            )
            if proc.returncode != 0:
                problems.append(f"alert command exited {proc.returncode}: {proc.stderr[-200:]}")
        except (OSError, subprocess.TimeoutExpired) as exc:
            problems.append(f"alert command failed: {exc}")
    if settings.alert_webhook:
        import urllib.request

        req = urllib.request.Request(  # noqa: S310 - the user's configured URL
            settings.alert_webhook,
            data=body.encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=settings.alert_timeout_s):  # noqa: S310
                pass
        except (OSError, ValueError) as exc:
            problems.append(f"alert webhook {settings.alert_webhook} failed: {exc}")
    for p in problems:
        log.warning("%s", p)
    return problems


def evaluate(
    settings: TelemetrySettings,
    home: Path,
    checks: list[HealthResult] | None = None,
    now: float | None = None,
) -> list[dict[str, Any]]:
    """Check every rule; deliver and return the alerts that fired (rules in
    their cooldown, or whose measure is unknown, do not fire)."""
    if not settings.alerts:
        return []
    now = time.time() if now is None else now
    state = _read_state(home)
    fired: list[dict[str, Any]] = []
    values: dict[str, float | None] = {}
    for rule in settings.alerts:
        if rule.measure not in values:
            values[rule.measure] = measure(rule.measure, checks)
        value = values[rule.measure]
        if value is None or value <= rule.above:
            continue
        cooldown = rule.cooldown_s if rule.cooldown_s is not None else settings.alert_cooldown_s
        last = state.get(rule.name)
        if last is not None and now - last < cooldown:
            continue
        alert = _alert(rule, value, now)
        state[rule.name] = now
        _write_state(home, state)
        deliver(alert, settings)
        fired.append(alert)
    return fired


def _alert(rule: AlertRule, value: float, now: float) -> dict[str, Any]:
    return {
        "name": rule.name,
        "measure": rule.measure,
        "value": value,
        "threshold": rule.above,
        "message": f"{rule.measure} is {value:g}, above {rule.above:g}",
        "fired_at": datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z"),
    }
