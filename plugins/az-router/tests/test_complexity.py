"""Complexity classes and the features that decide them."""

from __future__ import annotations

import pytest
from az_router.complexity import estimate


@pytest.mark.parametrize(
    "text, cls",
    [
        ("what time is it in UTC?", "simple"),
        ("list the files in ~/Downloads", "simple"),
        ("show disk usage for the home directory", "simple"),
        ("add a function slugify(text) to src/app.py and a unit test for it", "code"),
        ("the build fails with this traceback: ModuleNotFoundError", "code"),
        ("```python\nprint('hi')\n```\nwhy does this print twice?", "code"),
        ("compare PostgreSQL and SQLite for a desktop app and recommend one", "reasoning"),
        ("explain why our p99 latency doubles when the cache is cold", "reasoning"),
        ("what are the trade-offs between a monorepo and many repositories?", "reasoning"),
        ("update every file in the repository to use the new logging module", "long"),
        ("summarize the whole codebase's architecture in a one-page document", "long"),
    ],
)
def test_classes(text, cls):
    c = estimate(text, tokens=len(text) // 4)
    assert c.cls == cls, c.to_dict()


def test_features_explain_the_decision():
    c = estimate("fix the bug in src/db.py and add a regression test", tokens=30)
    d = c.to_dict()
    assert d["class"] == "code"
    assert "db.py" in d["code_markers"] and "bug" in d["code_markers"]
    assert d["reasoning_markers"] == []
    assert "code marker" in d["reason"]
    assert d["words"] == 10 and d["tokens"] == 30


def test_a_big_prompt_is_long_whatever_it_says():
    c = estimate("what time is it?", tokens=9000)
    assert c.cls == "long" and "9000 tokens" in c.reason
    assert estimate("what time is it?", tokens=9000, long_tokens=20000).cls == "simple"


def test_a_long_brief_without_markers_is_reasoning():
    text = " ".join(["the customers told us the new onboarding flow feels slower"] * 13)
    assert estimate(text, tokens=200).cls == "reasoning"


def test_only_the_start_of_huge_text_is_scanned():
    text = "what time is it? " + "x " * 100_000 + " refactor the parser"
    assert estimate(text, tokens=100).code_markers == []
