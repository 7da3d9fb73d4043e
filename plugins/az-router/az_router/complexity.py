"""Complexity estimate: which class of task is this, and why.

No model call: a few precompiled regular expressions over the task text
(at most the first :data:`SCAN_CHARS` characters) plus the size of the
prompt. The decision is a short, ordered list of tests, so the features
that decided it can be shown (``az route explain``):

1. ``long``      - the prompt is at least ``long_tokens`` tokens (default
   8000, config ``router.long_tokens``), or the text asks for work across
   a whole codebase / many files (``long_markers``) and is not tiny.
2. ``code``      - at least one code marker (code fences, ``def``/``class``,
   file names with source extensions, tracebacks, words like implement,
   refactor, bug, unit test) and no more reasoning markers than code
   markers.
3. ``reasoning`` - at least one reasoning marker (prove, derive, why,
   trade-off, compare, plan, step by step, probability ...), or a long
   description (more than 120 words) with no other markers.
4. ``simple``    - everything else: short questions and one-step chores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

CLASSES: tuple[str, ...] = ("simple", "code", "reasoning", "long")

#: Characters of task text scanned for markers (keeps the estimate O(1)).
SCAN_CHARS = 4000

_CODE = re.compile(
    r"```|\bdef \w|\bclass \w+|\bfunction\b|\bimport \w|=>|\w+\(\)|"
    r"\b\w+\.(?:py|js|ts|tsx|jsx|go|rs|java|c|cpp|h|rb|php|sh|sql|toml|yaml|yml|json)\b|"
    r"\b(?:implement|refactor|debug|bug|fix(?:es|ed)?|compile[sd]?|unit tests?|pytest|"
    r"regex|stack ?trace|traceback|exception|segfault|endpoint|api|script|"
    r"lint|type hints?|dockerfile|makefile|git (?:diff|commit|rebase|merge))\b",
    re.IGNORECASE,
)
_REASONING = re.compile(
    r"\b(?:prove|proof|derive|why|explain how|explain why|reason(?:ing)?|trade-?offs?|"
    r"compare|comparison|pros and cons|analy[sz]e|evaluate|plan|strategy|design|"
    r"architecture|step by step|probability|estimate|optimi[sz]e|calculate|"
    r"what would happen|implications?|hypothes[ie]s|root cause)\b",
    re.IGNORECASE,
)
_LONG = re.compile(
    r"\b(?:entire|whole) (?:codebase|repo(?:sitory)?|project)\b|\ball (?:the )?files\b|"
    r"\bacross (?:the )?(?:codebase|repo(?:sitory)?|modules|files)\b|\bevery (?:file|module)\b|"
    r"\bmigrate\b|\bsummari[sz]e (?:this|the) (?:document|book|log|report)s?\b",
    re.IGNORECASE,
)


@dataclass(slots=True)
class Complexity:
    """The class of a task and the features that decided it.

    ``tokens`` is the estimated prompt size in tokens; ``words`` counts
    whitespace-separated words of the task text; ``*_markers`` are the
    (lower-cased, de-duplicated, at most 5) matches; ``reason`` is the test
    that decided.
    """

    cls: str
    tokens: int
    words: int
    code_markers: list[str] = field(default_factory=list)
    reasoning_markers: list[str] = field(default_factory=list)
    long_markers: list[str] = field(default_factory=list)
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "class": self.cls,
            "reason": self.reason,
            "tokens": self.tokens,
            "words": self.words,
            "code_markers": self.code_markers,
            "reasoning_markers": self.reasoning_markers,
            "long_markers": self.long_markers,
        }


def _markers(pattern: re.Pattern[str], text: str) -> list[str]:
    seen: list[str] = []
    for m in pattern.finditer(text):
        word = m.group(0).lower()
        if word not in seen:
            seen.append(word)
            if len(seen) >= 5:
                break
    return seen


def estimate(text: str, tokens: int, long_tokens: int = 8000) -> Complexity:
    """Classify ``text`` (the task) given the prompt size ``tokens``.

    Returns a :class:`Complexity`; never raises. ``long_tokens`` is the
    prompt size (tokens) from which a task is ``long`` whatever it says.
    """
    scan = text[:SCAN_CHARS]
    words = len(scan.split())
    code = _markers(_CODE, scan)
    reasoning = _markers(_REASONING, scan)
    long_m = _markers(_LONG, scan)
    c = Complexity("simple", tokens, words, code, reasoning, long_m)
    if tokens >= long_tokens:
        c.cls, c.reason = "long", f"prompt is {tokens} tokens >= {long_tokens}"
    elif long_m and words >= 6:
        c.cls, c.reason = "long", f"asks for work across many files ({', '.join(long_m)})"
    elif code and len(code) >= len(reasoning):
        c.cls, c.reason = "code", f"{len(code)} code marker(s) >= {len(reasoning)} reasoning"
    elif reasoning:
        c.cls, c.reason = "reasoning", f"{len(reasoning)} reasoning marker(s) > {len(code)} code"
    elif words > 120:
        c.cls, c.reason = "reasoning", f"{words} words and no markers: a long brief"
    else:
        c.reason = f"{words} words, no code/reasoning/long markers"
    return c
