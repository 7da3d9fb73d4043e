"""Secret redaction: every secret value az knows is masked (``****1234``) wherever az writes.

Which values are secrets:

* environment variables whose name looks like a credential
  (:func:`is_secret_name`: ``*_API_KEY``, ``*_TOKEN``, ``*_SECRET``,
  ``*_PASSWORD`` and a few more), read again on every use;
* every value the plugin host handed out through
  :meth:`~az_os.plugins.PluginHost.get_secret` in this process
  (:func:`remember`);
* every secret a store holds (``az_secret_names``), fetched once when an
  engine starts (:func:`learn_store`).

Values shorter than :data:`MIN_SECRET_LENGTH` characters are not masked: they
would mask ordinary words (``true``, ``1``). A value is shown as
``****`` plus its last four characters (``****`` alone when the value is
shorter than 12 characters, so little of it shows).

Where it is applied (one choke point each):

* the storage backend (:func:`redacting`, applied by
  :func:`az_os.drivers.get_storage`): tasks, turns, logs, state are masked
  before they are written, so ``az task show``, ``az log export`` and every
  ``--json`` read back masked text;
* tool results, before the model reads them (the engine) and before an MCP
  client does (``az mcp serve``);
* everything the ``az`` command prints on stdout and stderr
  (:func:`guard_streams`, installed by :func:`az_os.cli.main`), errors included.

Limits: a secret the program never learns of (a key only in a file the
model reads) cannot be recognised, nor one printed in another encoding
(base64, split across two writes).
"""

from __future__ import annotations

import functools
import os
import re
import sys
import threading
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

if TYPE_CHECKING:  # pragma: no cover
    from az_os.plugins import PluginHost
    from az_os.storage import Storage

T = TypeVar("T")

#: Values shorter than this (characters) are never treated as secrets.
MIN_SECRET_LENGTH = 8

_SECRET_NAME = re.compile(
    r"(^|_)(API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|SECRET_ACCESS_KEY|PRIVATE_KEY|ACCESS_KEY)$",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """Whether an environment variable's name looks like a credential:
    ending in ``_API_KEY``, ``_TOKEN``, ``_SECRET``, ``_PASSWORD`` (also
    ``_APIKEY``, ``_PASSWD``, ``_PASSPHRASE``, ``_SECRET_ACCESS_KEY``, ``_PRIVATE_KEY``,
    ``_ACCESS_KEY``), in any case."""
    return bool(_SECRET_NAME.search(name))


def mask(value: str) -> str:
    """``****`` plus the last 4 characters (``****`` alone below 12 characters)."""
    return "****" + (value[-4:] if len(value) >= 12 else "")


class Redactor:
    """The secret values known in this process and how to mask them.

    Thread-safe. :meth:`text` masks a string, :meth:`value` any JSON-like
    value or msgspec record (a copy; the input is not changed).
    """

    def __init__(self) -> None:
        self._remembered: set[str] = set()
        self._lock = threading.Lock()
        self._key: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None
        # the secret variables' values, keyed on the environment's items: a
        # lookup per check instead of a name match per variable
        self._env_items: tuple[tuple[str, str], ...] = ()
        self._env_values: frozenset[str] = frozenset()

    def remember(self, value: str | None) -> None:
        """Treat ``value`` as a secret from now on (ignored when shorter than
        :data:`MIN_SECRET_LENGTH`)."""
        if value and len(value.strip()) >= MIN_SECRET_LENGTH:
            with self._lock:
                self._remembered.add(value)
                self._remembered.add(value.strip())

    def values(self) -> frozenset[str]:
        """Every value masked right now: the remembered ones and the secret
        variables of the current environment."""
        items = tuple((k, v) for k, v in os.environ.items() if is_secret_name(k))
        with self._lock:
            if items != self._env_items:
                self._env_values = frozenset(
                    v.strip() for _, v in items if len(v.strip()) >= MIN_SECRET_LENGTH
                )
                self._env_items = items
            if not self._remembered:
                return self._env_values
            return self._env_values | self._remembered

    def _compiled(self) -> re.Pattern[str] | None:
        vals = self.values()
        if vals != self._key:
            ordered = sorted(vals, key=len, reverse=True)  # a longer secret may contain a shorter
            self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
            self._key = vals
        return self._pattern

    def text(self, text: str) -> str:
        """``text`` with every known secret masked."""
        pattern = self._compiled()
        if pattern is None or not text:
            return text
        return pattern.sub(lambda m: mask(m.group(0)), text)

    def value(self, obj: Any) -> Any:
        """A copy of ``obj`` with every string in it masked: str, dict (keys
        and values), list, tuple and msgspec records (fields replaced); other
        values are returned as they are."""
        pattern = self._compiled()
        if pattern is None:
            return obj
        return _walk(obj, self.text)


def _walk(obj: Any, fn: Any) -> Any:
    if isinstance(obj, str):
        return fn(obj)
    if isinstance(obj, dict):
        return {(_walk(k, fn) if isinstance(k, str) else k): _walk(v, fn) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_walk(v, fn) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_walk(v, fn) for v in obj)
    import msgspec

    if isinstance(obj, msgspec.Struct):
        changes = {}
        for name in obj.__struct_fields__:
            old = getattr(obj, name)
            new = _walk(old, fn)
            if new is not old and new != old:
                changes[name] = new
        return msgspec.structs.replace(obj, **changes) if changes else obj
    return obj


_redactor = Redactor()


def redactor() -> Redactor:
    """The process-wide :class:`Redactor`."""
    return _redactor


def remember(value: str | None) -> None:
    """Add a secret value to the process-wide redactor."""
    _redactor.remember(value)


def redact_text(text: str) -> str:
    """``text`` with every known secret masked (process-wide redactor)."""
    return _redactor.text(text)


def redact(obj: T) -> T:
    """A copy of ``obj`` with every known secret masked (see :meth:`Redactor.value`)."""
    out: T = _redactor.value(obj)
    return out


_learned: weakref.WeakSet[PluginHost] = weakref.WeakSet()


def learn_store(host: PluginHost) -> None:
    """Fetch every secret the installed stores hold (``az_secret_names``,
    then :meth:`~az_os.plugins.PluginHost.get_secret` for each) so they are
    masked even if a command reads them from the store itself. Once per host;
    a store that fails is skipped (its error is logged by the host)."""
    if host in _learned:
        return
    _learned.add(host)
    for name in host.secret_names():
        host.get_secret(name)  # remembers the value


# -- storage ---------------------------------------------------------------
def redacting(storage: Storage) -> Storage:
    """``storage`` wrapped so every task, turn, log row and state is masked
    before it is written (idempotent: a wrapped backend is returned as it is)."""
    if isinstance(storage, _redacting_class()):
        same: Storage = storage
        return same
    cls: Any = _redacting_class()
    wrapped: Storage = cls(storage)
    return wrapped


_cls: Any = None


def _redacting_class() -> Any:
    """The wrapper class, built on first use so importing this module does
    not import the storage contract (``az --help`` stays light)."""
    global _cls
    if _cls is not None:
        return _cls
    from az_os.storage import Storage

    class RedactingStorage(Storage):
        """Delegates to ``backend``; write methods mask their input first.
        Any other attribute is the backend's (``location``, backend extras)."""

        def __init__(self, backend: Storage) -> None:
            self.backend = backend
            self.location = backend.location

        def __getattr__(self, name: str) -> Any:
            return getattr(self.backend, name)

        def close(self) -> None:
            self.backend.close()

        def create_task(self, task: Any) -> Any:
            return self.backend.create_task(redact(task))

        def get_task(self, task_id: str) -> Any:
            return self.backend.get_task(task_id)

        def update_task(self, task: Any) -> Any:
            return self.backend.update_task(redact(task))

        def list_tasks(self, *args: Any, **kwargs: Any) -> Any:
            return self.backend.list_tasks(*args, **kwargs)

        def count_tasks(self, *args: Any, **kwargs: Any) -> Any:
            return self.backend.count_tasks(*args, **kwargs)

        def delete_task(self, task_id: str) -> bool:
            return self.backend.delete_task(task_id)

        def add_turn(self, turn: Any) -> None:
            self.backend.add_turn(redact(turn))

        def list_turns(self, task_id: str) -> Any:
            return self.backend.list_turns(task_id)

        def add_log(self, record: Any) -> None:
            self.backend.add_log(redact(record))

        def list_logs(self, *args: Any, **kwargs: Any) -> Any:
            return self.backend.list_logs(*args, **kwargs)

        def add_cost(self, record: Any) -> None:
            self.backend.add_cost(redact(record))

        def list_costs(self, *args: Any, **kwargs: Any) -> Any:
            return self.backend.list_costs(*args, **kwargs)

        def total_cost(self, *args: Any, **kwargs: Any) -> float:
            return self.backend.total_cost(*args, **kwargs)

        def record_tool_usage(
            self, task_id: str | None, tool_name: str, duration_ms: float
        ) -> None:
            self.backend.record_tool_usage(task_id, tool_name, duration_ms)

        def list_tool_usage(self, task_id: str | None = None) -> Any:
            return self.backend.list_tool_usage(task_id)

        def save_state(
            self, task_id: str, state: dict[str, Any], checkpoint_id: str | None = None
        ) -> None:
            self.backend.save_state(task_id, redact(state), checkpoint_id)

        def load_state(self, task_id: str) -> Any:
            return self.backend.load_state(task_id)

        def mark_interrupted(self) -> list[str]:
            return self.backend.mark_interrupted()

        def create_tasks_with_state(self, items: Any) -> None:
            # one pass over the whole batch: the secrets are looked up once
            self.backend.create_tasks_with_state(redact([tuple(i) for i in items]))

    # The contract's optional methods (watching, checkpoints, claims, budget
    # reservations) have defaults on Storage, which would shadow __getattr__:
    # every public method not wrapped above goes to the backend as it is.
    for name, member in vars(Storage).items():
        if callable(member) and not name.startswith("_") and name not in vars(RedactingStorage):
            setattr(RedactingStorage, name, _delegate(name))

    _cls = RedactingStorage
    return _cls


def _delegate(name: str) -> Any:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.backend, name)(*args, **kwargs)

    method.__name__ = name
    return method


def unwrap(storage: Storage) -> Storage:
    """The backend behind a :func:`redacting` wrapper (or ``storage`` itself)."""
    backend: Storage = getattr(storage, "backend", storage)
    return backend


# -- output streams ----------------------------------------------------------
class RedactingStream:
    """A text stream that masks known secrets in every ``write``; every other
    attribute (``isatty``, ``fileno``, ``encoding``, ``buffer``) is the
    wrapped stream's."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(_redactor.text(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def guard_streams() -> None:
    """Wrap ``sys.stdout`` and ``sys.stderr`` in :class:`RedactingStream` (once)."""
    if not isinstance(sys.stdout, RedactingStream) and sys.stdout is not None:
        sys.stdout = RedactingStream(sys.stdout)
    if not isinstance(sys.stderr, RedactingStream) and sys.stderr is not None:
        sys.stderr = RedactingStream(sys.stderr)
