"""The design brief's ``az_os.ai``: see :mod:`az_os.ai.interfaces`."""
