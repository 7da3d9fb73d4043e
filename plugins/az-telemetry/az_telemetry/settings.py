"""The ``[telemetry]`` section of ``config.toml``.

Thresholds are percentages (0-100) of use: above ``*_degraded`` a check
is ``degraded``, above ``*_unhealthy`` it is ``unhealthy``
(defaults from the design brief: CPU 70/90, memory 75/90, disk of the az
home 85/95).

Alert rules (``[[telemetry.alerts]]``) fire when a measured value is above
``above``; a rule fires again only after ``cooldown_s`` seconds (default
300, the brief's five minutes). Measures:

* ``cost_usd_today`` - USD recorded since 00:00 UTC (cost rows);
* ``failure_rate`` - failed / finished among the newest 100 finished tasks (0-1);
* ``unhealthy_checks`` - health checks that are ``unhealthy`` now;
* ``degraded_checks`` - health checks that are ``degraded`` or worse now.

Example::

    [telemetry]
    cpu_degraded = 80
    otlp_endpoint = "http://127.0.0.1:4318"
    alert_command = "notify-send az"          # gets the alert as JSON on stdin
    alert_webhook = "http://127.0.0.1:9000/hook"

    [[telemetry.alerts]]
    name = "daily-cost"
    measure = "cost_usd_today"
    above = 5.0
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

Percent = Annotated[float, Meta(ge=0, le=100)]
Measure = Literal["cost_usd_today", "failure_rate", "unhealthy_checks", "degraded_checks"]


class AlertRule(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One alert rule: fire when ``measure`` is above ``above``."""

    name: str
    measure: Measure
    above: float
    #: seconds before the same rule fires again; default: telemetry.alert_cooldown_s
    cooldown_s: Annotated[float, Meta(ge=0)] | None = None


class TelemetrySettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``[telemetry]``: health thresholds, probes, OpenTelemetry, alerts."""

    cpu_degraded: Percent = 70.0
    cpu_unhealthy: Percent = 90.0
    memory_degraded: Percent = 75.0
    memory_unhealthy: Percent = 90.0
    disk_degraded: Percent = 85.0
    disk_unhealthy: Percent = 95.0
    #: seconds the CPU check samples for in a short-lived process (az health)
    cpu_sample_s: Annotated[float, Meta(ge=0, le=5)] = 0.05
    #: probe each usable hosted provider (a free request; never a model call)
    probe_providers: bool = True
    #: seconds before a provider probe gives up
    probe_timeout_s: Annotated[float, Meta(gt=0, le=30)] = 2.0
    #: seconds a provider probe's answer is reused (long-running processes)
    probe_cache_s: Annotated[float, Meta(ge=0)] = 30.0
    #: seconds before a whole health run gives up on slow checks
    health_timeout_s: Annotated[float, Meta(gt=0, le=60)] = 5.0
    #: OTLP/HTTP endpoint (e.g. http://127.0.0.1:4318); traces are off when unset
    otlp_endpoint: str | None = None
    otlp_service_name: str = "az"
    alerts: list[AlertRule] = msgspec.field(default_factory=list)
    #: default seconds between two firings of one rule
    alert_cooldown_s: Annotated[float, Meta(ge=0)] = 300.0
    #: shell command run with the alert as JSON on stdin (AZ_ALERT_NAME etc. set)
    alert_command: str | None = None
    #: URL that receives the alert as a JSON POST
    alert_webhook: str | None = None
    #: seconds a command or webhook delivery may take
    alert_timeout_s: Annotated[float, Meta(gt=0, le=60)] = 5.0


def load_settings(config: object | None = None) -> TelemetrySettings:
    """The validated ``[telemetry]`` section of ``config`` (default: the
    config in force). Raises :class:`~az_os.errors.ConfigError` naming the
    key on a bad value."""
    from az_os.config import AzConfig, current_config, parse_section

    cfg = config if isinstance(config, AzConfig) else current_config()
    return parse_section(TelemetrySettings, "telemetry", cfg.section("telemetry"), str(cfg.path))
