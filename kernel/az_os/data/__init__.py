"""The design brief's ``az_os.data``: see :mod:`az_os.data.interfaces`."""
