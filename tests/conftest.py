"""Helpers for the kernel tests; the az_home and az fixtures come from az_os.testing."""

from __future__ import annotations


def has_plugin(name: str) -> bool:
    """Whether an ``az`` entry point called ``name`` is installed."""
    from importlib.metadata import entry_points

    return any(ep.name == name for ep in entry_points(group="az"))


def has_storage() -> bool:
    from az_os.drivers import storage_backends

    return "sqlite" in storage_backends()
