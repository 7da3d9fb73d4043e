"""The secret store: the ``keyring`` package behind az's names, with an index of the names.

Where values live: the keyring backend chosen by ``keyring.backend``
(config section ``[keyring]``, or ``AZ_KEYRING__BACKEND``):

* ``"auto"`` (default) - what ``keyring`` picks for this machine: Secret
  Service (GNOME Keyring, KWallet) on Linux desktops, macOS Keychain,
  Windows Credential Locker. When none is reachable (a headless server with
  no keyring daemon) every operation fails with :class:`KeyringUnavailable`,
  whose message says how to choose a backend: never a silent plain-text file;
* ``"cryptfile"`` - an encrypted file (``keyrings.cryptfile``, Argon2 key
  derivation and AES), ``<az home>/secrets.cfg`` or ``keyring.file``, with
  its passphrase from the ``AZ_KEYRING_PASSPHRASE`` environment variable;
* any backend class by dotted path
  (``keyring.backends.SecretService.Keyring``).

Entries are stored under the service name ``az`` and the secret's name
(``ANTHROPIC_API_KEY``). Backends cannot list their entries, so the names
(never values) are also kept in ``<az home>/secrets-index.json``: that file
is what ``az secrets list`` and the ``az_secret_names`` hook read, without
importing ``keyring``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from az_os.errors import AzError, NotFoundError

SERVICE = "az"
PASSPHRASE_ENV = "AZ_KEYRING_PASSPHRASE"
INDEX_FILE = "secrets-index.json"
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: Backends that keep values readable on disk: refused unless named explicitly.
PLAINTEXT = {"PlaintextKeyring", "UncryptedFileKeyring"}


class KeyringUnavailable(AzError):
    """No secure keyring backend can be used; the message says how to choose one."""

    exit_code = 3


HEADLESS_HELP = (
    "no OS keyring is reachable (no Secret Service on D-Bus: a headless server?). "
    "Choose an encrypted file instead: pip install 'az-keyring[cryptfile]', then "
    "'az config set keyring.backend=cryptfile' and export "
    f"{PASSPHRASE_ENV}=<a passphrase> (or start a keyring daemon: gnome-keyring-daemon "
    "inside dbus-run-session). 'az secrets doctor' shows what is in use"
)


@dataclass
class BackendInfo:
    """What ``az secrets doctor`` reports: ``name`` (the backend's class path),
    ``secure`` (values encrypted or held by an OS service), ``priority``
    (keyring's own rating) and ``detail`` (one line, how to fix when not usable)."""

    name: str
    secure: bool
    usable: bool
    priority: float | None
    detail: str
    choice: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "secure": self.secure,
            "usable": self.usable,
            "priority": self.priority,
            "detail": self.detail,
            "configured": self.choice,
        }


def _settings(config: Any) -> dict[str, Any]:
    from az_keyring.settings import load_settings

    s = load_settings(config)
    return {"backend": s.backend or "auto", "file": Path(s.file).expanduser() if s.file else None}


def _class_path(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def open_backend(config: Any) -> Any:
    """The keyring backend object for ``config`` (see the module docs).

    Raises :class:`KeyringUnavailable` when the choice cannot be used (no
    daemon, no passphrase, a package missing, a plain-text backend picked
    automatically).
    """
    s = _settings(config)
    choice = s["backend"]
    if choice == "cryptfile":
        return _cryptfile(config, s["file"])
    if choice != "auto":
        return _by_path(choice)
    if os.environ.get("PYTHON_KEYRING_BACKEND"):
        return _by_path(os.environ["PYTHON_KEYRING_BACKEND"])
    return _os_keyring()


#: keyring's own backends that are not an OS keyring service
_NOT_A_SERVICE = {"chainer", "fail", "null"}


def _os_keyring() -> Any:
    """The best OS keyring service keyring finds (Secret Service, KWallet,
    Keychain, Windows). File backends that other packages register (plain
    text, or encrypted with a passphrase prompt) are never picked here:
    keyring's own chain would fall back to them silently."""
    from keyring.backend import get_all_keyring

    services = []
    for kr in get_all_keyring():
        module = type(kr).__module__
        if not module.startswith("keyring.backends."):
            continue
        if module.rsplit(".", 1)[-1].lower() in _NOT_A_SERVICE:
            continue
        try:
            priority = float(type(kr).priority)
        except Exception:  # noqa: BLE001 - keyring raises when the backend is not usable
            continue
        if priority > 0:
            services.append((priority, kr))
    if not services:
        raise KeyringUnavailable(HEADLESS_HELP)
    return max(services, key=lambda pk: pk[0])[1]


def _by_path(path: str) -> Any:
    from keyring.core import load_keyring

    try:
        return load_keyring(path)
    except Exception as exc:  # noqa: BLE001 - any import or init failure
        raise KeyringUnavailable(
            f"keyring.backend = '{path}' cannot be loaded: {type(exc).__name__}: {exc}"
        ) from None


def _cryptfile(config: Any, file: Path | None) -> Any:
    try:
        from keyrings.cryptfile.cryptfile import CryptFileKeyring
    except ImportError:
        raise KeyringUnavailable(
            "keyring.backend = cryptfile needs keyrings.cryptfile: "
            "pip install 'az-keyring[cryptfile]'"
        ) from None
    passphrase = os.environ.get(PASSPHRASE_ENV)
    if not passphrase:
        raise KeyringUnavailable(
            f"keyring.backend = cryptfile needs its passphrase in {PASSPHRASE_ENV} "
            "(az never asks for it during a task, and never stores it)"
        )
    kr = CryptFileKeyring()
    path = file or (Path(config.home) / "secrets.cfg")
    path.parent.mkdir(parents=True, exist_ok=True)
    kr.file_path = str(path)
    kr.keyring_key = passphrase
    return kr


def describe(config: Any) -> BackendInfo:
    """The backend in use and whether it is secure (never raises)."""
    choice = _settings(config)["backend"]
    try:
        kr = open_backend(config)
    except KeyringUnavailable as exc:
        return BackendInfo("none", False, False, None, str(exc), choice)
    name = _class_path(kr)
    priority = getattr(type(kr), "priority", None)
    try:
        priority = float(priority) if priority is not None else None
    except Exception:  # noqa: BLE001 - keyring raises from priority when unusable
        priority = None
    secure = type(kr).__name__ not in PLAINTEXT
    detail = "values are held by " + (
        f"an encrypted file ({getattr(kr, 'file_path', '?')})"
        if "cryptfile" in name.lower()
        else "the OS keyring service"
        if secure
        else "a PLAIN-TEXT file: anyone who can read it has your keys"
    )
    return BackendInfo(name, secure, True, priority, detail, choice)


# -- the index of names ------------------------------------------------------------
def index_path(config: Any) -> Path:
    """``<az home>/secrets-index.json``."""
    return Path(config.home) / INDEX_FILE


def read_index(home: Path) -> list[str]:
    """The names in the index (sorted; [] when there is none or it is unreadable)."""
    try:
        data = json.loads((home / INDEX_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    names = data.get("names") if isinstance(data, dict) else None
    return sorted({n for n in names if isinstance(n, str)}) if isinstance(names, list) else []


def _write_index(home: Path, names: list[str]) -> None:
    home.mkdir(parents=True, exist_ok=True)
    tmp = home / (INDEX_FILE + ".tmp")
    tmp.write_text(json.dumps({"names": sorted(set(names))}, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, home / INDEX_FILE)


# -- operations ------------------------------------------------------------------------
def check_name(name: str) -> str:
    """``name`` if it is an environment-variable name, else AzError."""
    if not NAME_RE.match(name or ""):
        raise AzError(
            f"invalid secret name '{name}': use an environment-variable name such as "
            "ANTHROPIC_API_KEY (letters, digits, _)"
        )
    return name


def set_secret(config: Any, name: str, value: str) -> None:
    """Store ``value`` under ``name`` and add the name to the index."""
    check_name(name)
    if not value:
        raise AzError("the secret is empty; nothing stored")
    kr = open_backend(config)
    try:
        kr.set_password(SERVICE, name, value)
    except Exception as exc:  # noqa: BLE001 - a locked or broken keyring
        raise KeyringUnavailable(
            f"the keyring refused to store {name}: {type(exc).__name__}: {exc}"
        ) from None
    home = Path(config.home)
    _write_index(home, [*read_index(home), name])


def get_secret(config: Any, name: str) -> str | None:
    """The stored value, or None when ``name`` is not in the index or the keyring."""
    if name not in read_index(Path(config.home)):
        return None
    value: str | None = open_backend(config).get_password(SERVICE, name)
    return value


def delete_secret(config: Any, name: str) -> None:
    """Remove ``name`` from the keyring and the index; NotFoundError when unknown."""
    check_name(name)
    home = Path(config.home)
    names = read_index(home)
    kr = open_backend(config)
    from keyring.errors import PasswordDeleteError

    try:
        kr.delete_password(SERVICE, name)
        found = True
    except PasswordDeleteError:
        found = False
    if not found and name not in names:
        raise NotFoundError(f"no secret named {name} (see 'az secrets list')")
    _write_index(home, [n for n in names if n != name])
