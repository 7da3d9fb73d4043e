"""Lessons learned across tasks, kept in the vector store's ``az-memory`` collection.

A lesson (the design brief's memory record plus provenance)::

    {"id": "mem-3f2a...", "task_id": "...", "turn": 2, "lesson": "...",
     "category": "error_fix", "success": true, "score": 7.0,
     "timestamp": 1764550000.0, "access_count": 0, "source": "transcript",
     "workspace": "/path"}

``score`` is 0-10 (how useful it has proved: it starts from what the lesson
is and rises each time it is put into a task that then completes);
``timestamp`` is seconds since the epoch (UTC); ``access_count`` counts the
tasks whose context it entered; ``source`` is ``transcript`` (derived from a
task's turns), ``model`` (written by ``memory.model``) or ``user``
(``az memory add``). The store is reached only through the kernel's
vector-store contract (:mod:`az_os.vectors`).

Lessons written when a task ends are queued (:func:`az_os.vectors.queue_upsert`,
a small JSON file) rather than embedded, so finishing a task never loads
the vector store or its model; they enter the store the next time it is
opened (a recall, any ``az memory`` command but ``list``, ``az rag``) or by
``az memory sync``, and until then ``az memory list`` shows them as pending.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:  # pragma: no cover
    from az_os.config import AzConfig
    from az_os.vectors import Collection, Hit

COLLECTION = "az-memory"
CATEGORIES = ("error_fix", "outcome", "convention", "best_practice", "note")


class Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The ``[memory]`` section."""

    #: write lessons when tasks end
    enabled: bool = True
    #: put relevant lessons into new tasks' context
    context: bool = True
    #: lessons per task context
    context_lessons: int = 3
    #: least combined relevance (0.7 x cosine + 0.3 x keyword overlap) to enter a context
    min_relevance: float = 0.4
    #: a model id that writes up to two lessons per finished task ("" = none)
    model: str = ""
    #: cosine similarity from which consolidate merges two lessons
    merge_threshold: float = 0.9
    #: cleanup removes never-used lessons older than this (days)
    max_age_days: float = 90.0
    #: cleanup removes lessons scored below this
    min_score: float = 2.0


def settings(config: AzConfig) -> Settings:
    from az_os.config import parse_section

    return parse_section(Settings, "memory", config.section("memory"), str(config.path))


@dataclass
class Lesson:
    lesson: str
    category: str = "note"
    task_id: str = ""
    turn: int = 0
    success: bool = True
    score: float = 5.0
    timestamp: float = field(default_factory=time.time)
    access_count: int = 0
    source: str = "user"
    workspace: str = ""
    id: str = field(default_factory=lambda: "mem-" + uuid.uuid4().hex[:12])
    #: relevance to the query that found it (search only)
    relevance: float | None = None
    #: queued, not yet in the vector store (``az memory list`` only)
    pending: bool = False

    def metadata(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("lesson", "id", "relevance", "pending"):
            d.pop(k)
        return d

    @classmethod
    def from_hit(cls, hit: Hit) -> Lesson:
        m = hit.metadata
        return cls(
            id=hit.id,
            lesson=hit.text,
            category=str(m.get("category", "note")),
            task_id=str(m.get("task_id", "")),
            turn=int(m.get("turn", 0)),
            success=bool(m.get("success", True)),
            score=float(m.get("score", 5.0)),
            timestamp=float(m.get("timestamp", 0.0)),
            access_count=int(m.get("access_count", 0)),
            source=str(m.get("source", "user")),
            workspace=str(m.get("workspace", "")),
        )

    def provenance(self) -> str:
        where = f"task {self.task_id[:8]}, turn {self.turn}" if self.task_id else self.source
        return f"[{where}; {self.category}; used {self.access_count}x]"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_WORD = re.compile(r"[A-Za-z0-9_]{3,}")
_STOP = frozenset(
    "the and for with that this from have what when then than into your you are was were "
    "how why which who does did not all any can use used using its it's will would should "
    "there their them they our out get got been being file files task".split()
)


def _stem(word: str) -> str:
    for suffix in ("ing", "ies", "es", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def keywords(text: str) -> set[str]:
    """Lower-case words of 3+ characters, stop words dropped, plurals and
    -ing/-ed endings stripped (``tests`` and ``testing`` match ``test``)."""
    return {_stem(w.lower()) for w in _WORD.findall(text)} - _STOP


def keyword_overlap(query: str, text: str) -> float:
    """Share of the query's keywords found in ``text`` (0-1)."""
    q = keywords(query)
    return len(q & keywords(text)) / len(q) if q else 0.0


class Memory:
    """The lessons of one az home. Raises :class:`~az_os.vectors.VectorStoreError`
    when the store fails and :class:`~az_os.errors.NotFoundError` for an unknown id."""

    def __init__(self, config: AzConfig, *, flush: bool = True) -> None:
        self.config = config
        self.settings = settings(config)
        #: insert queued lessons when the store is opened
        self.flush = flush
        self._coll: Collection | None = None

    @property
    def coll(self) -> Collection:
        if self._coll is None:
            from az_os.vectors import get_vectorstore

            store = get_vectorstore(self.config, flush=self.flush)
            self._coll = store.collection(COLLECTION)
        return self._coll

    def queue(self, lessons: Iterable[Lesson]) -> list[Lesson]:
        """Queue lessons for the store without opening it (milliseconds, no
        vector library); :meth:`sync` or the next opening inserts them."""
        from az_os.vectors import queue_upsert

        items = list(lessons)
        for x in items:
            x.lesson = " ".join(x.lesson.split())[:1000]
        queue_upsert(
            self.config,
            COLLECTION,
            [x.id for x in items],
            [x.lesson for x in items],
            [x.metadata() for x in items],
        )
        return items

    def pending(self) -> list[Lesson]:
        """Queued lessons not yet in the store, newest first, marked ``pending``."""
        from az_os.vectors import pending

        out = [Lesson.from_hit(h) for h in pending(self.config, COLLECTION)]
        for x in out:
            x.pending = True
        return sorted(out, key=lambda x: -x.timestamp)

    def has_pending(self) -> bool:
        from az_os.vectors import pending_path

        return pending_path(self.config).is_file() and bool(self.pending())

    def sync(self) -> int:
        """Insert every queued document into the store (lessons and any other
        collection's); returns how many. Raises
        :class:`~az_os.vectors.VectorStoreError` when the store refuses them
        (they stay queued)."""
        from az_os.vectors import flush_pending, get_vectorstore

        return flush_pending(self.config, get_vectorstore(self.config, flush=False))

    def listing(self) -> list[Lesson]:
        """Stored and pending lessons, newest first, without inserting the
        pending ones (and without opening the store when it holds none)."""
        from az_os.vectors import peek_count

        queued = self.pending()
        ids = {x.id for x in queued}
        stored = [] if peek_count(self.config, COLLECTION) == 0 else self.all()
        out = queued + [x for x in stored if x.id not in ids]
        return sorted(out, key=lambda x: -x.timestamp)

    def add(self, lesson: Lesson) -> Lesson:
        lesson.lesson = " ".join(lesson.lesson.split())[:1000]
        self.coll.upsert([lesson.id], [lesson.lesson], [lesson.metadata()])
        return lesson

    def save(self, lessons: Iterable[Lesson]) -> None:
        items = list(lessons)
        if items:
            self.coll.upsert(
                [x.id for x in items], [x.lesson for x in items], [x.metadata() for x in items]
            )

    def all(self) -> list[Lesson]:
        out = [Lesson.from_hit(h) for h in self.coll.get()]
        return sorted(out, key=lambda x: -x.timestamp)

    def get(self, lesson_id: str) -> Lesson:
        from az_os.errors import NotFoundError

        got = self.coll.get(ids=[lesson_id])
        if not got:
            matches = [x for x in self.all() if x.id.startswith(lesson_id)] if lesson_id else []
            if len(matches) != 1:
                raise NotFoundError(f"no lesson '{lesson_id}' (az memory list shows them)")
            return matches[0]
        return Lesson.from_hit(got[0])

    def forget(self, lesson_id: str) -> Lesson:
        lesson = self.get(lesson_id)
        self.coll.delete(ids=[lesson.id])
        return lesson

    def search(self, query: str, k: int = 5) -> list[Lesson]:
        """Semantic + keyword: relevance = 0.7 x cosine + 0.3 x keyword overlap,
        over the 4k nearest lessons and every lesson sharing a keyword."""
        if not query.strip() or self.coll.count() == 0:
            return []  # (an empty store never loads the embedding model)
        found: dict[str, Lesson] = {}
        cos: dict[str, float] = {}
        for h in self.coll.query(query, k=max(k * 4, 10)):
            found[h.id] = Lesson.from_hit(h)
            cos[h.id] = h.score
        q = keywords(query)
        if q:
            for h in self.coll.get():
                if h.id not in found and q & keywords(h.text):
                    found[h.id] = Lesson.from_hit(h)
        if len(found) > len(cos):
            missing = [i for i in found if i not in cos]
            vecs = self._store_embed([query] + [found[i].lesson for i in missing])
            for i, v in zip(missing, vecs[1:], strict=True):
                cos[i] = sum(a * b for a, b in zip(vecs[0], v, strict=True))
        for i, lesson in found.items():
            lesson.relevance = round(
                0.7 * cos.get(i, 0.0) + 0.3 * keyword_overlap(query, lesson.lesson), 4
            )
        ranked = sorted(found.values(), key=lambda x: -(x.relevance or 0.0))
        return ranked[:k]

    def _store_embed(self, texts: list[str]) -> list[list[float]]:
        from az_os.vectors import get_vectorstore

        return get_vectorstore(self.config).embed(texts)

    def consolidate(self, threshold: float | None = None) -> list[dict[str, Any]]:
        """Merge near-duplicates (cosine ≥ ``threshold``, same category): the
        best-scored lesson stays, with the others' access counts added and
        the highest score. Returns ``[{"kept": id, "merged": [ids]}]``."""
        threshold = self.settings.merge_threshold if threshold is None else threshold
        lessons = sorted(self.all(), key=lambda x: (-x.score, -x.access_count, -x.timestamp))
        gone: set[str] = set()
        merges: list[dict[str, Any]] = []
        for keep in lessons:
            if keep.id in gone:
                continue
            dupes = [
                Lesson.from_hit(h)
                for h in self.coll.query(keep.lesson, k=10, where={"category": keep.category})
                if h.id != keep.id and h.id not in gone and h.score >= threshold
            ]
            if not dupes:
                continue
            for d in dupes:
                keep.access_count += d.access_count
                keep.score = max(keep.score, d.score)
                gone.add(d.id)
            self.save([keep])
            self.coll.delete(ids=[d.id for d in dupes])
            merges.append({"kept": keep.id, "merged": [d.id for d in dupes]})
        return merges

    def cleanup(
        self,
        max_age_days: float | None = None,
        min_score: float | None = None,
        dry_run: bool = False,
    ) -> list[Lesson]:
        """Remove lessons scored below ``min_score``, and those older than
        ``max_age_days`` that no task ever used. Returns what was (or would be) removed."""
        max_age = self.settings.max_age_days if max_age_days is None else max_age_days
        low = self.settings.min_score if min_score is None else min_score
        cutoff = time.time() - max_age * 86400
        doomed = [
            x for x in self.all() if x.score < low or (x.timestamp < cutoff and x.access_count == 0)
        ]
        if doomed and not dry_run:
            self.coll.delete(ids=[x.id for x in doomed])
        return doomed
