"""The az-keyring plugin: ``az_get_secret``, ``az_secret_names`` and ``az secrets``.

Importing this module is cheap: ``keyring`` is imported only when a secret
whose name is in the index is read, or by an ``az secrets`` command.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import typer
from az_os import hookimpl

log = logging.getLogger("az.keyring")

secrets_app = typer.Typer(
    help=(
        "Keep API keys in the OS keyring (or an encrypted file), never in config files. "
        "A stored key is used when its environment variable is not set."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _config() -> Any:
    from az_os.config import current_config

    return current_config()


@hookimpl
def az_secret_names() -> list[str]:
    """The names in the index (no keyring access)."""
    from az_keyring.store import read_index

    return read_index(Path(_config().home))


@hookimpl
def az_get_secret(name: str) -> str | None:
    """The stored value of ``name``; None when it is not stored. A keyring
    that cannot be opened is logged (with how to fix it) and answers None."""
    from az_keyring import store

    config = _config()
    if name not in store.read_index(Path(config.home)):
        return None
    try:
        return store.get_secret(config, name)
    except store.KeyringUnavailable as exc:
        log.warning("secret %s is stored but cannot be read: %s", name, exc)
        return None


@hookimpl
def az_set_secret(name: str, value: str) -> bool | None:
    """Store a secret az made itself (e.g. the server's token) in the keyring;
    None when no secure backend is usable (the caller falls back)."""
    from az_keyring import store

    config = _config()
    try:
        store.open_backend(config)
    except store.KeyringUnavailable as exc:
        log.info("not storing %s in a keyring: %s", name, exc)
        return None
    store.set_secret(config, name, value)
    return True


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


@secrets_app.command("set")
def secrets_set(
    name: str = typer.Argument(
        ..., help="The key's environment-variable name, e.g. OPENAI_API_KEY."
    ),
) -> None:
    """Store a secret under NAME. The value is read from a hidden prompt, or
    from standard input when it is not a terminal (echo ... | az secrets set
    NAME); never from the command line, where shell history and ps would see it."""
    import getpass

    from az_keyring import store

    store.check_name(name)
    config = _config()
    store.open_backend(config)  # fail before asking when no backend can store it
    if sys.stdin is not None and sys.stdin.isatty():
        value = getpass.getpass(f"{name}: ")
    else:
        value = sys.stdin.read() if sys.stdin is not None else ""
        value = value.rstrip("\r\n")
    store.set_secret(config, name, value)
    _out(f"stored {name} in {store.describe(config).name}")


@secrets_app.command("list")
def secrets_list(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List secret names and where each comes from: the keyring, the
    environment, or both (the environment wins). Values are never shown.

    JSON shape: [{"name", "source": "keyring"|"environment"|"both"}].
    """
    import json
    import os

    from az_os.redact import is_secret_name

    from az_keyring import store

    stored = set(store.read_index(Path(_config().home)))
    env = {n for n, v in os.environ.items() if v and is_secret_name(n)}
    rows = []
    for name in sorted(stored | env):
        source = (
            "both"
            if name in stored and name in env
            else ("keyring" if name in stored else "environment")
        )
        rows.append({"name": name, "source": source})
    if as_json:
        _out(json.dumps(rows, indent=2))
        return
    if not rows:
        _out("no secrets: 'az secrets set NAME' stores one")
        return
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        _out(f"{r['name']:<{width}}  {r['source']}")


@secrets_app.command("delete")
def secrets_delete(name: str = typer.Argument(..., help="The secret's name.")) -> None:
    """Remove the secret NAME from the keyring."""
    from az_keyring import store

    store.delete_secret(_config(), name)
    _out(f"deleted {name}")


@secrets_app.command("doctor")
def secrets_doctor(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show which keyring backend is in use and whether it is secure. Exits 1
    when no backend can be used (the message says how to choose one).

    JSON shape: {"backend", "secure", "usable", "priority", "detail", "configured"}.
    """
    import json

    from az_keyring import store

    info = store.describe(_config())
    if as_json:
        _out(json.dumps(info.to_dict(), indent=2))
    else:
        _out(f"backend:    {info.name}")
        _out(f"configured: keyring.backend = {info.choice}")
        _out(f"secure:     {'yes' if info.secure else 'NO'}")
        _out(f"detail:     {info.detail}")
    if not info.usable:
        raise typer.Exit(1)
