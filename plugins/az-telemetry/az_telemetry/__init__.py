"""az-telemetry: health checks, Prometheus metrics, alerts and optional
OpenTelemetry traces for az (``az health``, ``az metrics``)."""

__version__ = "0.1.0"
