"""Success rates per (model, complexity class) learned from the task history.

Source: the storage contract (``get_storage().list_tasks``), so any backend
works. For each finished task (``completed`` or ``failed``; at most
``router.history_limit`` of each, newest first, default 200):

* its class is :func:`az_router.complexity.estimate` of its description
  and its first turn's prompt tokens (``Turn.usage.prompt_tokens``), with
  the router's ``long_tokens``: the class the router gave the task when it
  routed the first call (a short request over a large file is ``long``
  there, so it must be learned as ``long`` too; with the text alone it
  would count against the model's ``simple`` or ``code`` rate);
* its models are the distinct ``Turn.model`` values in turn order
  (``Task.model`` when there are no turns). The last one gets the task's
  outcome; each earlier one was escalated away from, so it counts as a
  failure for that task;
* failures whose error mentions a budget are skipped (the model did not
  fail, the budget refused the call).

The rate is smoothed towards the model's prior (see
:func:`az_router.tiers.success_prior`) with a Beta prior of strength
``k`` (``router.prior_strength``, default 4 pseudo-tasks)::

    success_rate = (successes + k * prior) / (attempts + k)

so one failure moves a fresh model only a little, and 20 outcomes mostly
speak for themselves. Without storage (no backend installed, or it cannot
be opened) every rate is its prior. Results are cached for ``ttl_s``
seconds (``router.history_ttl_s``, default 60) in the process, and the
models each finished task used are cached across processes in
``<az home>/router-history.json`` (keyed by task id and ``updated_at``), so
only new or changed tasks cost a ``list_turns`` query.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from az_router.complexity import estimate
from az_router.tiers import SUCCESS_PRIORS

log = logging.getLogger("az.router")

#: File under the az home caching which models each finished task used.
CACHE_FILE = "router-history.json"


@dataclass(slots=True)
class Outcomes:
    """Counts per (model id, class): ``{(model, cls): [successes, attempts]}``."""

    counts: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    source: str = "priors"
    loaded_at: float = 0.0

    def add(self, model: str, cls: str, ok: bool) -> None:
        c = self.counts.setdefault((model, cls), [0, 0])
        c[0] += int(ok)
        c[1] += 1


class History:
    """Learned success rates with a TTL cache. Thread-safe."""

    def __init__(
        self,
        limit: int = 200,
        ttl_s: float = 60.0,
        prior_strength: float = 4.0,
        long_tokens: int = 8000,
    ) -> None:
        self.limit = limit
        self.ttl_s = ttl_s
        self.k = prior_strength
        self.long_tokens = long_tokens
        self._cache: Outcomes | None = None
        self._lock = threading.Lock()

    @classmethod
    def static(
        cls, outcomes: Outcomes | None = None, prior_strength: float = 4.0, long_tokens: int = 8000
    ) -> History:
        """A history that never reads storage: ``outcomes`` (or none yet),
        updated with :meth:`record`. For replays and embedding apps."""
        h = cls(ttl_s=float("inf"), prior_strength=prior_strength, long_tokens=long_tokens)
        h._cache = outcomes or Outcomes(source="in-memory outcomes")
        h._cache.loaded_at = time.monotonic()
        return h

    def classify(self, description: str, first_prompt_tokens: int) -> str:
        """The class of a finished task, as the router saw its first call."""
        return estimate(description, first_prompt_tokens, self.long_tokens).cls

    def record(self, model: str, cls: str, ok: bool) -> None:
        """Add one outcome to the cached counts (kept until the cache expires)."""
        self.outcomes().add(model, cls, ok)

    def invalidate(self) -> None:
        """Forget cached outcomes (next use reloads from storage)."""
        with self._lock:
            self._cache = None

    def outcomes(self) -> Outcomes:
        """Counts from storage (cached ``ttl_s`` seconds)."""
        with self._lock:
            now = time.monotonic()
            if self._cache is None or now - self._cache.loaded_at > self.ttl_s:
                self._cache = self._load()
                self._cache.loaded_at = now
            return self._cache

    def _load(self) -> Outcomes:
        try:
            from az_os.drivers import get_storage

            storage = get_storage()
        except Exception as exc:  # noqa: BLE001 - no storage means priors only
            log.debug("router history: no storage (%s); using priors", exc)
            return Outcomes(source=f"priors (no storage: {exc})")
        from az_os.types import TaskStatus

        out = Outcomes(source=f"task history in {storage.location or 'storage'}")
        known = self._read_models_cache()
        fresh: dict[str, dict[str, Any]] = {}
        try:
            for status in (TaskStatus.COMPLETED, TaskStatus.FAILED):
                ok = status is TaskStatus.COMPLETED
                for task in storage.list_tasks(status=status, limit=self.limit):
                    if not ok and task.error and "budget" in task.error.lower():
                        continue
                    stamp = task.updated_at.isoformat()
                    entry = known.get(task.id)
                    if entry is None or entry.get("u") != stamp or "p" not in entry:
                        turns = storage.list_turns(task.id)
                        models = [t.model for t in turns if t.model]
                        first = turns[0].usage.prompt_tokens if turns else 0
                        entry = {"u": stamp, "models": list(dict.fromkeys(models)), "p": first}
                    fresh[task.id] = entry
                    ordered = entry["models"] or ([task.model] if task.model else [])
                    if not ordered:
                        continue
                    cls = self.classify(task.description, int(entry.get("p") or 0))
                    for earlier in ordered[:-1]:
                        out.add(earlier, cls, False)
                    out.add(ordered[-1], cls, ok)
        except Exception as exc:  # noqa: BLE001 - a broken history must not stop routing
            log.warning("router history: cannot read task history: %s", exc)
            return Outcomes(source=f"priors (history unreadable: {exc})")
        if fresh != known:
            self._write_models_cache(fresh)
        return out

    # The models each finished task used (and its first call's prompt
    # tokens, "p"), keyed by task id and its updated_at, kept in <az home>/router-history.json so a new process
    # reads the turns of new or changed tasks only (one query per task).
    def _cache_path(self) -> Path:
        from az_os.config import az_home

        return az_home() / CACHE_FILE

    def _read_models_cache(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self._cache_path().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write_models_cache(self, data: dict[str, dict[str, Any]]) -> None:
        from az_os.util import write_json

        path = self._cache_path()
        try:
            write_json(path, data)
        except OSError as exc:
            log.debug("router history: cannot write %s: %s", path, exc)

    def success_rate(
        self, model: str, tier: str, cls: str, prior: float | None = None
    ) -> tuple[float, int]:
        """``(smoothed success rate in [0, 1], attempts seen)`` for a model
        of ``tier`` on tasks of class ``cls``, smoothed towards ``prior``
        (default: the tier's prior)."""
        if prior is None:
            prior = SUCCESS_PRIORS[tier][cls]
        s, n = self.outcomes().counts.get((model, cls), (0, 0))
        return (s + self.k * prior) / (n + self.k), n
