"""Cool-downs: models a provider asked us to leave alone for a while.

When a call fails with a rate limit whose wait is known - the provider's
``Retry-After``, or the reset of a spent daily quota, which az-litellm
puts on :class:`~az_os.errors.RateLimitError` as ``retry_after`` and the
kernel's engine passes on in ``request.metadata["failed_models"]`` as
``{"model", "error", "retry_after"}`` (seconds) - the router keeps every
later call off that model until the wait is over, instead of letting each
new task spend a request (and the user's time) to meet the same 429.

State is a map ``model id -> time when it may be used again`` (seconds
since the epoch, from ``clock``, default :func:`time.time`). It lives in
the process and, when ``path`` is given, in a small JSON file
(``<az home>/router-cooldowns.json``) so that the next ``az task run``
process knows too. The file is read once, on first use; a process does
not see cool-downs another running process records after that (the cost
is one more fast-failing request). Expired entries are dropped.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger("az.router")

#: File under the az home holding cool-downs across processes.
COOLDOWN_FILE = "router-cooldowns.json"


class Cooldowns:
    """Models to avoid until a time. Thread-safe.

    ``clock`` returns seconds (wall-clock time by default; a replay passes
    its own); ``path`` is the JSON file shared across processes (None: in
    memory only).
    """

    def __init__(self, path: Path | None = None, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self._until: dict[str, float] | None = None
        self._lock = threading.Lock()

    def _loaded(self) -> dict[str, float]:
        if self._until is None:
            self._until = {}
            if self.path is not None:
                try:
                    raw = json.loads(self.path.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    raw = {}
                if isinstance(raw, dict):
                    self._until = {
                        str(k): float(v) for k, v in raw.items() if isinstance(v, int | float)
                    }
        return self._until

    def note(self, model: str, seconds: float, reason: str = "") -> None:
        """Keep ``model`` off for ``seconds`` from now (a longer cool-down
        already recorded is kept)."""
        if seconds <= 0:
            return
        with self._lock:
            until = self._loaded()
            end = self.clock() + seconds
            if until.get(model, 0.0) >= end:
                return
            until[model] = end
            log.info(
                "router: %s cooling down for %.0f s%s",
                model,
                seconds,
                f" ({reason})" if reason else "",
            )
            self._save(until)

    def note_failures(self, failed: Iterable[Mapping[str, Any]]) -> None:
        """Record every ``{"model", "retry_after"}`` entry of a task's
        ``failed_models`` (entries without ``retry_after`` are ignored)."""
        for item in failed:
            raw = item.get("retry_after") if isinstance(item, Mapping) else None
            if raw is None or not item.get("model"):
                continue
            try:
                seconds = float(raw)
            except (TypeError, ValueError):
                continue
            self.note(str(item["model"]), seconds, "rate limited")

    def active(self) -> dict[str, float]:
        """``{model id: seconds left}`` for the models cooling down now."""
        with self._lock:
            until = self._loaded()
            now = self.clock()
            expired = [m for m, t in until.items() if t <= now]
            for m in expired:
                del until[m]
            if expired:
                self._save(until)
            return {m: t - now for m, t in until.items()}

    def clear(self) -> None:
        """Forget every cool-down (and the file)."""
        with self._lock:
            self._until = {}
            self._save(self._until)

    def _save(self, until: dict[str, float]) -> None:
        if self.path is None:
            return
        from az_os.util import write_json

        try:
            write_json(self.path, until)
        except OSError as exc:
            log.debug("router: cannot write %s: %s", self.path, exc)
