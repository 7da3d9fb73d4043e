"""az-tui as a plugin: it adds ``az dashboard`` and implements no hook.

The command is declared in :mod:`az_tui.commandlist` (the ``az.commands``
entry point) and defined in :mod:`az_tui.cli`; this module stays the ``az``
entry point so ``az plugins list`` shows the plugin.
"""
