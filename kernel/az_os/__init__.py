"""az: a CLI-first agent runtime built as a plugin-host microkernel.

Plugins implement hooks (see :mod:`az_os.hookspecs`) with :data:`hookimpl`::

    from az_os import hookimpl

    @hookimpl
    def az_register_tools(register):
        register(MyTool())
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pluggy

    #: Marker for hook implementations (pluggy project name ``"az"``).
    hookimpl: pluggy.HookimplMarker

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl"]


def __getattr__(name: str) -> Any:
    # ``hookimpl`` is made on first use, so commands that load no plugin
    # (az task list) never import pluggy.
    if name == "hookimpl":
        import pluggy

        marker = pluggy.HookimplMarker("az")
        globals()["hookimpl"] = marker
        return marker
    raise AttributeError(f"module 'az_os' has no attribute {name!r}")
