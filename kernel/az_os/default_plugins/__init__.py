"""Plugins that ship inside the kernel and are always registered."""
