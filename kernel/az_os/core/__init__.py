"""The design brief's ``az_os.core``: see :mod:`az_os.core.interfaces`."""
