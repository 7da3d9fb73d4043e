"""az: a CLI-first agent runtime built as a plugin-host microkernel.

Plugins implement hooks (see :mod:`az_os.hookspecs`) with :data:`hookimpl`::

    from az_os import hookimpl

    @hookimpl
    def az_register_tools(register):
        register(MyTool())
"""

import pluggy

__version__ = "0.1.0"

#: Marker for hook implementations (pluggy project name ``"az"``).
hookimpl = pluggy.HookimplMarker("az")

__all__ = ["__version__", "hookimpl"]
