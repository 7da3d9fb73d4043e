"""az-keyring: az's secrets (API keys) in the OS keyring or an encrypted file.

:mod:`az_keyring.plugin` implements ``az_get_secret`` and
``az_secret_names`` and adds ``az secrets``; :mod:`az_keyring.store` talks
to the ``keyring`` package, imported only when a secret is read or written.
"""

__version__ = "0.1.0"
